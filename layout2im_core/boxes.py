"""Box math on plain floats, torch-free (the app imports it): validation, clamping, area, hit tests
and the COCO [x, y, w, h] pixel <-> (x0, y0, x1, y1) conversions every reader shares.

``bbox`` everywhere is (x0, y0, x1, y1) normalised to [0, 1] of the image, origin top-left, y down;
pixel quantities carry ``_px``. The tensor operations on boxes (box masks, crops) are in
``geometry.py``.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

from .errors import LayoutError, value_text
from .types import BBox

__all__ = ["BBox", "as_bbox", "check_bbox", "clamp_bbox", "clip_unit", "clip_px", "area", "area_in_image", "contains",
           "xywh_to_xyxy", "xyxy_to_xywh", "normalise", "xywh_px_to_bbox"]


def check_bbox(bbox: Sequence[float], index: int = 0, clamp: bool = True) -> BBox:
    """Validate one bbox and return it as a 4-tuple of floats.

    Args:
        bbox: (x0, y0, x1, y1).
        index: object index, used in the error message.
        clamp: if True, coordinates merely outside [0, 1] are clamped into it; if False they raise.

    Raises:
        LayoutError: not a sequence of 4 numbers (a string such as "0011", booleans or nested lists are
            not), NaN or infinite, outside [0, 1] (clamp=False), inverted or of zero area (after
            clamping). The message quotes the value clipped.
    """
    if isinstance(bbox, (str, bytes, dict, set)) or not hasattr(bbox, "__len__"):
        raise LayoutError(f"object {index}: bbox must be 4 numbers (x0, y0, x1, y1), got {value_text(bbox, 40)}")
    if len(bbox) != 4:
        raise LayoutError(f"object {index}: bbox must be 4 numbers (x0, y0, x1, y1), got {len(bbox)}")
    try:
        if any(isinstance(v, (bool, str, bytes)) for v in bbox):
            raise TypeError
        vals = [float(v) for v in bbox]
    except (TypeError, ValueError, OverflowError):
        raise LayoutError(f"object {index}: bbox must be 4 numbers, got {value_text(bbox, 60)}") from None
    if not all(math.isfinite(v) for v in vals):
        raise LayoutError(f"object {index}: bbox has NaN or infinite coordinates: {vals}")
    if clamp:
        vals = list(clip_unit(vals))
    elif not all(0.0 <= v <= 1.0 for v in vals):
        raise LayoutError(f"object {index}: bbox {vals} lies outside [0, 1]")
    x0, y0, x1, y1 = vals
    if x1 < x0 or y1 < y0:
        raise LayoutError(f"object {index}: bbox {vals} is inverted (x1 < x0 or y1 < y0)")
    if x1 == x0 or y1 == y0:
        raise LayoutError(f"object {index}: bbox {vals} has zero area")
    return x0, y0, x1, y1


def as_bbox(values: Sequence[float]) -> BBox:
    """Four numbers as a bbox tuple of floats (no checks: see :func:`check_bbox`)."""
    x0, y0, x1, y1 = (float(v) for v in values)
    return (x0, y0, x1, y1)


def clip_unit(bbox: Sequence[float]) -> BBox:
    """Each coordinate clamped into [0, 1] (the box may become empty; NaN stays NaN, as ``np.clip``)."""
    x0, y0, x1, y1 = (v if math.isnan(v) else min(1.0, max(0.0, v)) for v in map(float, bbox))
    return (x0, y0, x1, y1)


def clip_px(xyxy_px: Sequence[float], width_px: float, height_px: float) -> Tuple[float, float, float, float]:
    """A pixel box (x0, y0, x1, y1) clamped into [0, width_px] x [0, height_px]."""
    x0, y0, x1, y1 = xyxy_px
    return (min(max(x0, 0.0), width_px), min(max(y0, 0.0), height_px),
            min(max(x1, 0.0), width_px), min(max(y1, 0.0), height_px))


def clamp_bbox(bbox: Sequence[float], min_size: float) -> BBox:
    """Clamp a bbox into [0, 1] keeping at least ``min_size`` per side (shifting it inside if needed)."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    w = min(1.0, max(min_size, x1 - x0))
    h = min(1.0, max(min_size, y1 - y0))
    x0 = min(max(0.0, x0), 1.0 - w)
    y0 = min(max(0.0, y0), 1.0 - h)
    return (x0, y0, x0 + w, y0 + h)


def area(bbox: Sequence[float]) -> float:
    """Area of a bbox (0 when inverted), in the units of ``bbox`` squared."""
    return max(0.0, bbox[2] - bbox[0]) * max(0.0, bbox[3] - bbox[1])


def area_in_image(bbox) -> float:
    """Area of the part of ``bbox`` inside the image [0, 1]^2 (0 for anything unreadable or NaN)."""
    try:
        x0, y0, x1, y1 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return 0.0
    a = max(0.0, min(x1, 1.0) - max(x0, 0.0)) * max(0.0, min(y1, 1.0) - max(y0, 0.0))
    return a if math.isfinite(a) else 0.0


def contains(bbox: Sequence[float], x: float, y: float) -> bool:
    """True if (x, y) lies inside bbox (edges included)."""
    x0, y0, x1, y1 = bbox
    return x0 <= x <= x1 and y0 <= y <= y1


def xywh_to_xyxy(xywh: Sequence[float]) -> Tuple[float, float, float, float]:
    """[x, y, w, h] -> (x0, y0, x1, y1), same units."""
    x, y, w, h = xywh
    return (x, y, x + w, y + h)


def xyxy_to_xywh(xyxy: Sequence[float]) -> Tuple[float, float, float, float]:
    """(x0, y0, x1, y1) -> [x, y, w, h], same units."""
    x0, y0, x1, y1 = xyxy
    return (x0, y0, x1 - x0, y1 - y0)


def normalise(xyxy_px: Sequence[float], width_px: float, height_px: float) -> BBox:
    """A pixel box (x0, y0, x1, y1) of a (width_px x height_px) image -> bbox in its [0, 1] units."""
    x0, y0, x1, y1 = xyxy_px
    return (x0 / width_px, y0 / height_px, x1 / width_px, y1 / height_px)


def xywh_px_to_bbox(xywh_px: Sequence[float], width_px: float, height_px: float, clip: bool = False) -> BBox:
    """COCO [x, y, w, h] in pixels of a (width_px x height_px) image -> normalised (x0, y0, x1, y1);
    ``clip``: clamped into [0, 1] (the box may become empty)."""
    x, y, w, h = (float(v) for v in xywh_px)
    box = normalise(xywh_to_xyxy((x, y, w, h)), width_px, height_px)
    return clip_unit(box) if clip else box

