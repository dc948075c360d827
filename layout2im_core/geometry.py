"""Tensor operations on boxes: bbox -> box mask, differentiable crops. The box math on plain floats
(validation, clamping, area, xywh <-> xyxy) is in the torch-free ``boxes.py``.

``bbox`` everywhere is (x0, y0, x1, y1) normalised to [0, 1]; pixel quantities carry ``_px``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
