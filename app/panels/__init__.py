"""Side panels: the category palette and the object list (appearance sliders come later)."""

from .object_list import ObjectList
from .palette import Palette

__all__ = ["ObjectList", "Palette"]
