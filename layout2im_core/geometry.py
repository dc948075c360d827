"""Pure bbox operations: validation, xywh <-> xyxy, bbox -> box mask, differentiable crops.

``bbox`` everywhere is (x0, y0, x1, y1) normalised to [0, 1]; pixel quantities carry ``_px``.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F

from .errors import LayoutError, value_text


def xywh_px_to_bbox(xywh_px: Sequence[float], width_px: float, height_px: float) -> Tuple[float, ...]:
    """COCO [x, y, w, h] in pixels of a (width_px x height_px) image -> normalised (x0, y0, x1, y1)."""
    x, y, w, h = (float(v) for v in xywh_px)
    return (x / width_px, y / height_px, (x + w) / width_px, (y + h) / height_px)


def check_bbox(bbox: Sequence[float], index: int = 0, clamp: bool = True) -> Tuple[float, float, float, float]:
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
        vals = [min(1.0, max(0.0, v)) for v in vals]
    elif not all(0.0 <= v <= 1.0 for v in vals):
        raise LayoutError(f"object {index}: bbox {vals} lies outside [0, 1]")
    x0, y0, x1, y1 = vals
    if x1 < x0 or y1 < y0:
        raise LayoutError(f"object {index}: bbox {vals} is inverted (x1 < x0 or y1 < y0)")
    if x1 == x0 or y1 == y0:
        raise LayoutError(f"object {index}: bbox {vals} has zero area")
    return x0, y0, x1, y1


def bbox_to_mask(bboxes: torch.Tensor, size: int = 64) -> torch.Tensor:
    """Binary box masks on a size x size canvas (spec §7.1 COCO rule).

    Rows round(y0*size) .. max(round(y0*size)+1, round(y1*size)) - 1 are set, likewise columns, so
    every box covers at least one pixel. ``torch.round`` rounds half to even, as Python's ``round``.

    Args:
        bboxes: [..., 4] float (x0, y0, x1, y1) in [0, 1].
        size: canvas side in pixels.

    Returns:
        [..., 1, size, size] float32 with values in {0, 1}, on the device of ``bboxes``.
    """
    b = torch.round(bboxes.float() * size)
    x0, y0, x1, y1 = b.unbind(-1)
    x1 = torch.maximum(x0 + 1, x1)
    y1 = torch.maximum(y0 + 1, y1)
    ar = torch.arange(size, device=bboxes.device, dtype=torch.float32)
    cols = (ar >= x0[..., None]) & (ar < x1[..., None])  # [..., size]
    rows = (ar >= y0[..., None]) & (ar < y1[..., None])  # [..., size]
    mask = rows[..., :, None] & cols[..., None, :]  # [..., size, size]
    return mask.unsqueeze(-3).float()


def crop_bboxes(images: torch.Tensor, bboxes: torch.Tensor, obj_to_img: torch.Tensor, size: int = 32,
                align_corners: bool = False) -> torch.Tensor:
    """Differentiable bilinear crops of boxes (spec §4.1).

    For each box a size x size grid of evenly spaced points from x0 to x1 (endpoints included) and y0
    to y1 is sampled bilinearly with zero padding. ``align_corners=True`` reproduces PyTorch 1.0's
    ``grid_sample`` (the official code's numerics).

    Args:
        images: [B, C, H, W] float.
        bboxes: [N, 4] float (x0, y0, x1, y1) in [0, 1].
        obj_to_img: [N] int64, the image index of each box.
        size: S, output side.

    Returns:
        [N, C, S, S], crops in the order of ``bboxes``, dtype of ``images``.
    """
    n = bboxes.shape[0]
    steps = torch.linspace(0.0, 1.0, size, device=bboxes.device, dtype=torch.float32)
    b = bboxes.float()
    xs = b[:, 0:1] + (b[:, 2:3] - b[:, 0:1]) * steps  # [N, S]
    ys = b[:, 1:2] + (b[:, 3:4] - b[:, 1:2]) * steps  # [N, S]
    grid = torch.stack([xs[:, None, :].expand(n, size, size), ys[:, :, None].expand(n, size, size)], -1)
    grid = (grid * 2 - 1).to(images.dtype)  # [N, S, S, 2]
    return F.grid_sample(images[obj_to_img], grid, mode="bilinear", padding_mode="zeros",
                         align_corners=align_corners)
