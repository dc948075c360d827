"""Pure geometry of box editing: the 8 resize handles, hit tests in screen pixels, and the move and
resize rules that keep boxes inside the canvas and above a minimum size. Qt-free.

Handles are named by compass direction: ``nw n ne e se s sw w``. A handle moves the edges whose
letters it holds (``n`` -> y0, ``s`` -> y1, ``w`` -> x0, ``e`` -> x1).
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

from layout2im_core.boxes import BBox, clip_unit

HANDLES = ("nw", "n", "ne", "e", "se", "s", "sw", "w")
HANDLE_HIT_PX = 10.0   # side of the square hit zone around a handle, in screen pixels (any zoom)
HANDLE_DRAW_PX = 7.0   # side of the drawn handle square, in screen pixels
MIN_SIZE = 0.02        # smallest box side, as a fraction of the canvas side


def handle_points(bbox: Sequence[float]) -> Dict[str, Tuple[float, float]]:
    """Position of each handle (same units as ``bbox``)."""
    x0, y0, x1, y1 = bbox
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    return {"nw": (x0, y0), "n": (xm, y0), "ne": (x1, y0), "e": (x1, ym),
            "se": (x1, y1), "s": (xm, y1), "sw": (x0, y1), "w": (x0, ym)}


def hit_handle(bbox_px: Sequence[float], x_px: float, y_px: float,
               hit_px: float = HANDLE_HIT_PX) -> Optional[str]:
    """The handle under a point, both in screen pixels, or None. Corners win over edges."""
    half = hit_px / 2
    pts = handle_points(bbox_px)
    for name in ("nw", "ne", "se", "sw", "n", "e", "s", "w"):
        hx, hy = pts[name]
        if abs(x_px - hx) <= half and abs(y_px - hy) <= half:
            return name
    return None


def resize_bbox(bbox: Sequence[float], handle: str, dx: float, dy: float,
                min_size: float = MIN_SIZE) -> BBox:
    """Move the edges of ``handle`` by (dx, dy) (normalised units), clamped to [0, 1] and to at least
    ``min_size`` from the opposite edge (a box never flips or collapses)."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if "w" in handle:
        x0 = min(max(0.0, x0 + dx), x1 - min_size)
    if "e" in handle:
        x1 = max(min(1.0, x1 + dx), x0 + min_size)
    if "n" in handle:
        y0 = min(max(0.0, y0 + dy), y1 - min_size)
    if "s" in handle:
        y1 = max(min(1.0, y1 + dy), y0 + min_size)
    return (x0, y0, x1, y1)


def clamp_delta(bboxes: Iterable[Sequence[float]], dx: float, dy: float) -> Tuple[float, float]:
    """Limit a translation so that every bbox stays inside [0, 1]."""
    bboxes = list(bboxes)
    if not bboxes:
        return dx, dy
    min_x0 = min(b[0] for b in bboxes)
    min_y0 = min(b[1] for b in bboxes)
    max_x1 = max(b[2] for b in bboxes)
    max_y1 = max(b[3] for b in bboxes)
    dx = min(max(dx, -min_x0), 1.0 - max_x1)
    dy = min(max(dy, -min_y0), 1.0 - max_y1)
    return dx, dy


def move_bboxes(bboxes: Mapping[int, Sequence[float]], dx: float, dy: float) -> Dict[int, BBox]:
    """Translate several bboxes together by (dx, dy), clamped so all stay inside the canvas."""
    dx, dy = clamp_delta(bboxes.values(), dx, dy)
    return {k: (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy) for k, b in bboxes.items()}


def drawn_bbox(x_a: float, y_a: float, x_b: float, y_b: float) -> BBox:
    """The bbox spanned by two corner points (any order), clamped to [0, 1]."""
    return clip_unit((min(x_a, x_b), min(y_a, y_b), max(x_a, x_b), max(y_a, y_b)))
