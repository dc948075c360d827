"""Side panels: the category palette, the object list and the appearance sliders."""

from .appearance import AppearancePanel
from .object_list import ObjectList
from .palette import Palette

__all__ = ["AppearancePanel", "ObjectList", "Palette"]
