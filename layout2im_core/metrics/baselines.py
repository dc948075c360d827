"""Honest baselines for ``layout2im eval`` (issue 13): what a model must beat to be worth using.

``colour-boxes``  each box painted flat with its category's mean colour over the training photos (the
                  mean RGB of the category's box pixels at 64x64), boxes painted in layout order over
                  the training photos' mean colour.
``copy-nearest``  the training photo whose layout overlaps the asked layout most: the highest summed
                  per-category IoU, where each category's region is the union of its boxes' 64x64
                  masks (``geometry.bbox_to_mask``) and a category in only one of the layouts adds 0.
                  Ties go to the earliest training photo.

Both see exactly what the model saw in training (the training split) and answer a layout with a
uint8 [64, 64, 3] image, so the eval scores them with the same features and the same n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence

import numpy as np
import torch

from ..errors import DataError
from ..geometry import bbox_to_mask

BASELINES = ("colour-boxes", "copy-nearest")


def _layout_masks(objs: Sequence[int], bboxes: torch.Tensor, size: int = 64) -> Dict[int, torch.Tensor]:
    """category id -> bool [size, size] union of its boxes' masks."""
    masks = bbox_to_mask(torch.as_tensor(bboxes, dtype=torch.float32).reshape(-1, 4), size)[:, 0] > 0.5
    out: Dict[int, torch.Tensor] = {}
    for o, m in zip(objs, masks):
        out[int(o)] = out[int(o)] | m if int(o) in out else m
    return out


def summed_category_iou(a: Dict[int, torch.Tensor], b: Dict[int, torch.Tensor]) -> float:
    """Sum over the categories of both layouts of the IoU of their regions (0 for one-sided ones)."""
    total = 0.0
    for c in set(a) & set(b):
        inter = float((a[c] & b[c]).sum())
        union = float((a[c] | b[c]).sum())
        total += inter / union if union else 0.0
    return total


@dataclass
class ColourBoxes:
    """The ``colour-boxes`` baseline. colours: category id -> float [3] in [0, 1]; background: [3]."""

    colours: Dict[int, np.ndarray]
    background: np.ndarray

    @staticmethod
    def fit(dataset) -> "ColourBoxes":
        """Mean colour of every category's box pixels over a data set's items (images in [0, 1]).

        Raises:
            DataError: an empty data set.
        """
        if len(dataset) == 0:
            raise DataError("colour-boxes needs at least one training image")
        sums: Dict[int, np.ndarray] = {}
        counts: Dict[int, float] = {}
        total, pixels = np.zeros(3), 0
        for i in range(len(dataset)):
            it = dataset[i]
            img = it["img"].double()  # [3, H, W]
            total += img.sum((1, 2)).numpy()
            pixels += img.shape[1] * img.shape[2]
            masks = bbox_to_mask(it["bboxes"].float(), img.shape[-1])[:, 0].double()  # [n, H, W]
            for o, m in zip(it["objs"].tolist(), masks):
                sums[o] = sums.get(o, np.zeros(3)) + (img * m).sum((1, 2)).numpy()
                counts[o] = counts.get(o, 0.0) + float(m.sum())
        colours = {o: sums[o] / counts[o] for o in sums if counts[o] > 0}
        return ColourBoxes(colours, total / pixels)

    def render(self, objs: Sequence[int], bboxes, size: int = 64) -> np.ndarray:
        """uint8 [size, size, 3]: the background, then each box in layout order in its category's colour
        (a category never seen in training keeps the background colour)."""
        img = np.broadcast_to(self.background, (size, size, 3)).copy()
        masks = bbox_to_mask(torch.as_tensor(bboxes, dtype=torch.float32).reshape(-1, 4), size)[:, 0].numpy() > 0.5
        for o, m in zip(objs, masks):
            if int(o) in self.colours:
                img[m] = self.colours[int(o)]
        return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


@dataclass
class CopyNearest:
    """The ``copy-nearest`` baseline: the training images (uint8 [N, 64, 64, 3]) and their layouts."""

    images: np.ndarray
    layouts: List[Dict[int, torch.Tensor]]

    @staticmethod
    def fit(dataset) -> "CopyNearest":
        """Keep every training item's image and category regions. Raises DataError when empty."""
        if len(dataset) == 0:
            raise DataError("copy-nearest needs at least one training image")
        images, layouts = [], []
        for i in range(len(dataset)):
            it = dataset[i]
            images.append((it["img"].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
            layouts.append(_layout_masks(it["objs"].tolist(), it["bboxes"]))
        return CopyNearest(np.stack(images), layouts)

    def nearest(self, objs: Sequence[int], bboxes) -> int:
        """Index of the training image whose layout has the highest summed per-category IoU."""
        query = _layout_masks(objs, bboxes)
        scores = [summed_category_iou(query, lay) for lay in self.layouts]
        return int(np.argmax(scores))  # argmax: the first of equal scores

    def render(self, objs: Sequence[int], bboxes) -> np.ndarray:
        """uint8 [64, 64, 3]: the nearest training image."""
        return self.images[self.nearest(objs, bboxes)]


def baseline_images(dataset_train, items: Sequence[Dict]) -> Dict[str, np.ndarray]:
    """Every baseline's answer to each evaluated item's layout: name -> uint8 [n, 64, 64, 3]."""
    colour, copy = ColourBoxes.fit(dataset_train), CopyNearest.fit(dataset_train)
    out: Dict[str, List[np.ndarray]] = {"colour-boxes": [], "copy-nearest": []}
    for it in items:
        objs, bboxes = it["objs"].tolist(), it["bboxes"]
        out["colour-boxes"].append(colour.render(objs, bboxes))
        out["copy-nearest"].append(copy.render(objs, bboxes))
    return {k: np.stack(v) for k, v in out.items()}
