"""Plain, Qt-free and torch-free data types shared by the core, the CLI and the app.

A layout is an ordered tuple of objects. The order is the fusion order of the conv-LSTM (the model
reads objects one after another), so it is part of the layout.

``bbox`` is (x0, y0, x1, y1) normalised to [0, 1] of the image, origin top-left, y down.
``z`` is the object's appearance code (length Z of the model), or None for "draw one at random".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Tuple

BBox = Tuple[float, float, float, float]


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a layout.

    Attributes:
        category: category name as in the model's vocabulary (e.g. ``"sky"``).
        bbox: (x0, y0, x1, y1), floats in [0, 1], x0 < x1 and y0 < y1.
        z: appearance code, a tuple of Z floats (stored as float32 by the model), or None to draw
            one from N(0, I) with the seed given to ``generate``.
    """

    category: str
    bbox: BBox
    z: Optional[Tuple[float, ...]] = None

    def with_z(self, z) -> "ObjectSpec":
        """Return a copy with ``z`` replaced (any sequence of floats, or None)."""
        return replace(self, z=None if z is None else tuple(float(v) for v in z))

    def with_bbox(self, bbox) -> "ObjectSpec":
        """Return a copy with ``bbox`` replaced."""
        x0, y0, x1, y1 = (float(v) for v in bbox)  # (boxes.as_bbox; types.py imports nothing of ours)
        return replace(self, bbox=(x0, y0, x1, y1))


@dataclass(frozen=True)
class LayoutSpec:
    """An ordered layout: ``objects[0]`` is fused first, ``objects[-1]`` last."""

    objects: Tuple[ObjectSpec, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.objects)

    @staticmethod
    def of(*objects: ObjectSpec) -> "LayoutSpec":
        """Build a layout from objects given as arguments."""
        return LayoutSpec(tuple(objects))
