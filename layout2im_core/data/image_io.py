"""Image files -> model tensors, and the item that every reader returns (docs/architecture.md).

Shared by the COCO and Visual Genome readers: the spec §3 image transform (whole image, PIL bilinear
resize to 64x64, no crop, no flip, scaled to [0, 1]; the model does its own normalisation) and the
"a corrupt image must not end an epoch" rule (:class:`SkipUnreadable`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Set, Tuple

import numpy as np
import torch
from PIL import Image

from ..errors import DataError

log = logging.getLogger(__name__)

# What Pillow raises for missing, truncated or undecodable files.
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def read_image(path: Path, size: int = 64) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Read an image file as the model's input (spec §3).

    Args:
        path: any format Pillow reads; converted to RGB (grey, palette and RGBA images too).
        size: output side in pixels.

    Returns:
        (img, (width_px, height_px)): img float32 [3, size, size] RGB in [0, 1] (whole image, PIL
        bilinear resize, aspect ratio not kept); the original size in pixels.

    Raises:
        OSError / ValueError / SyntaxError (see ``UNREADABLE``): missing, truncated or corrupt file.
    """
    with Image.open(path) as im:
        orig = im.size
        rgb = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(rgb, dtype=np.float32) / 255.0  # [H, W, 3]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()), orig


def make_item(img: torch.Tensor, objs: np.ndarray, bboxes: np.ndarray, shuffle: bool) -> Dict[str, torch.Tensor]:
    """The dataset item of the batch contract.

    Args:
        img: float32 [3, H, W] in [0, 1].
        objs: [n] integer category ids.
        bboxes: [n, 4] (x0, y0, x1, y1) in [0, 1].
        shuffle: permute the objects at random (``torch.randperm``, so DataLoader workers differ).

    Returns:
        ``{"img": float32 [3, H, W], "objs": int64 [n], "bboxes": float32 [n, 4]}``.
    """
    objs_t = torch.as_tensor(np.asarray(objs, dtype=np.int64))
    bboxes_t = torch.as_tensor(np.asarray(bboxes, dtype=np.float32).reshape(-1, 4))
    if shuffle and objs_t.shape[0] > 1:
        perm = torch.randperm(objs_t.shape[0])
        objs_t, bboxes_t = objs_t[perm], bboxes_t[perm]
    return {"img": img, "objs": objs_t, "bboxes": bboxes_t}


class SkipUnreadable(torch.utils.data.Dataset):
    """Base of the readers: ``__getitem__`` never fails on one bad image file.

    Subclasses implement ``_read(index)`` and ``_describe(index)``. When ``_read`` raises one of
    ``UNREADABLE`` (a file deleted or corrupted after the reader was built, or a corrupt file that
    the construction-time checks cannot see), the index is remembered as bad, a warning with the
    running count is logged, and the next readable index (index + 1, index + 2, ... wrapping around)
    is returned instead, so an epoch continues with a valid sample. ``unreadable_count`` counts the
    bad indices found in this process (each DataLoader worker keeps its own count).

    Raises (from ``__getitem__``):
        IndexError: index out of range.
        DataError: no readable image is left at all.
    """

    def __init__(self):
        self._unreadable: Set[int] = set()

    @property
    def unreadable_count(self) -> int:
        return len(self._unreadable)

    def _read(self, index: int) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def _describe(self, index: int) -> str:
        return f"item {index}"

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        index %= n
        for step in range(n):
            j = (index + step) % n
            if j in self._unreadable:
                continue
            try:
                return self._read(j)
            except UNREADABLE as e:
                self._unreadable.add(j)
                log.warning("unreadable image %s skipped, returning another sample (%d unreadable so far): %s",
                            self._describe(j), len(self._unreadable), e)
        raise DataError(f"none of the {n} images could be read (last tried: {self._describe(index)})")
