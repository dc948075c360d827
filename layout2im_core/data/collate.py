"""The batch contract (docs/architecture.md): padded per-image object tensors plus the packed form.

Every reader of :mod:`layout2im_core.data` yields items

    ``{"img": float32 [3, H, W] in [0, 1], "objs": int64 [n], "bboxes": float32 [n, 4] in [0, 1]}``

and :func:`collate_batch` stacks them into a :class:`Batch`, padding every image to the batch's
largest object count O. Padding slots hold id 0 (``__image__``, never a real object) and a zero box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, NamedTuple, Sequence

import torch

from ..geometry import bbox_to_mask


class PackedObjects(NamedTuple):
    """The reference's packed form (spec §3): real objects only, concatenated image by image.

    Attributes:
        objs: [N] int64 category ids.
        bboxes: [N, 4] float32 (x0, y0, x1, y1) in [0, 1].
        obj_to_img: [N] int64 image index of each object, non-decreasing (images in order 0..B-1).
    """

    objs: torch.Tensor
    bboxes: torch.Tensor
    obj_to_img: torch.Tensor


@dataclass
class Batch:
    """A padded batch of images and their layouts.

    Attributes:
        imgs: [B, 3, H, W] float32 RGB in [0, 1] (H = W = 64 for the model).
        objs: [B, O] int64 category ids, 0 in padding slots.
        bboxes: [B, O, 4] float32 (x0, y0, x1, y1) in [0, 1], 0 in padding slots.
        obj_mask: [B, O] bool, True for real objects. Real objects come first in every row.
    """

    imgs: torch.Tensor
    objs: torch.Tensor
    bboxes: torch.Tensor
    obj_mask: torch.Tensor

    def __len__(self) -> int:
        return int(self.imgs.shape[0])

    def to(self, device, non_blocking: bool = False) -> "Batch":
        """A copy with every tensor moved to ``device`` (dtypes unchanged)."""
        return Batch(*(t.to(device, non_blocking=non_blocking)
                       for t in (self.imgs, self.objs, self.bboxes, self.obj_mask)))

    @property
    def num_objects(self) -> int:
        """N, the number of real objects in the batch."""
        return int(self.obj_mask.sum())

    @property
    def obj_to_img(self) -> torch.Tensor:
        """[N] int64, image index of each real object, in packed order (row-major over [B, O])."""
        b = torch.arange(self.obj_mask.shape[0], device=self.obj_mask.device)
        return b[:, None].expand_as(self.obj_mask)[self.obj_mask]

    def packed(self) -> PackedObjects:
        """Real objects only, concatenated image by image: (objs [N], bboxes [N, 4], obj_to_img [N])."""
        return PackedObjects(self.objs[self.obj_mask], self.bboxes[self.obj_mask], self.obj_to_img)

    @property
    def masks(self) -> torch.Tensor:
        """[B, O, 1, H, H] float32 box masks in {0, 1} (``geometry.bbox_to_mask``, spec §7.1 rounding
        rule, at least one pixel per box); all zero in padding slots. H = ``imgs.shape[-1]``."""
        m = bbox_to_mask(self.bboxes, size=int(self.imgs.shape[-1]))  # [B, O, 1, H, H]
        return m * self.obj_mask[:, :, None, None, None].to(m.dtype)


def collate_batch(items: Sequence[Dict[str, torch.Tensor]]) -> Batch:
    """Stack dataset items into a :class:`Batch`, padding to the largest object count O.

    Args:
        items: dicts with ``img`` float32 [3, H, W] in [0, 1], ``objs`` int64 [n], ``bboxes``
            float32 [n, 4]; n may differ between items (and may be 0). Other keys are ignored.

    Returns:
        Batch with B = len(items) and O = max n (0 when every item is empty).

    Raises:
        ValueError: no items, images of different shapes, or ``objs``/``bboxes`` of mismatched length.
    """
    if not items:
        raise ValueError("collate_batch needs at least one item")
    shape = tuple(items[0]["img"].shape)
    for i, it in enumerate(items):
        if tuple(it["img"].shape) != shape:
            raise ValueError(f"item {i}: image shape {tuple(it['img'].shape)} differs from item 0's {shape}")
        if it["objs"].shape[0] != it["bboxes"].shape[0]:
            raise ValueError(f"item {i}: {it['objs'].shape[0]} objs but {it['bboxes'].shape[0]} bboxes")
    b, o = len(items), max(int(it["objs"].shape[0]) for it in items)
    imgs = torch.stack([it["img"].float() for it in items])  # [B, 3, H, W]
    objs = torch.zeros(b, o, dtype=torch.int64)
    bboxes = torch.zeros(b, o, 4, dtype=torch.float32)
    obj_mask = torch.zeros(b, o, dtype=torch.bool)
    for i, it in enumerate(items):
        n = int(it["objs"].shape[0])
        objs[i, :n] = it["objs"]
        bboxes[i, :n] = it["bboxes"]
        obj_mask[i, :n] = True
    return Batch(imgs, objs, bboxes, obj_mask)
