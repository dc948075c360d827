"""Measurements behind ``check-scenes`` (``scene_check.py``): pure numpy functions of images, boxes and
numbers. Images are [H, W, C] (or batches of them), uint8 read as value / 255 or float in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import Layout2ImError
from ..geometry import bbox_to_mask

LOCALITY_DILATE_PX = 2  # box dilation at 64x64 (the "box + 2 px")


def as_float(x: np.ndarray) -> np.ndarray:
    """uint8 -> float64 / 255; float -> float64."""
    x = np.asarray(x)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def mean_pairwise_l1(samples: np.ndarray) -> np.ndarray:
    """Mean L1 distance over all pairs of samples of each layout.

    Args:
        samples: [N, K, H, W, C], K >= 2; uint8 (read as value / 255) or float in [0, 1].
    Returns:
        float64 [N]: per layout, the mean over the K (K - 1) / 2 pairs of the mean over pixels and
        channels of |a - b|.
    """
    x = np.asarray(samples)
    if x.ndim != 5 or x.shape[1] < 2:
        raise Layout2ImError(f"samples must be [N, K >= 2, H, W, C], got shape {list(x.shape)}")
    x = as_float(x)
    k = x.shape[1]
    pairs = [np.abs(x[:, a] - x[:, b]).mean(axis=(1, 2, 3)) for a in range(k) for b in range(a + 1, k)]
    return np.mean(pairs, axis=0)


def box_region(bbox: Sequence[float], size: int = 64, dilate_px: int = LOCALITY_DILATE_PX) -> np.ndarray:
    """bool [size, size]: the box's pixels (``geometry.bbox_to_mask``) grown by ``dilate_px`` in every
    direction (a square structuring element), clipped to the image."""
    mask = bbox_to_mask(torch.tensor([float(v) for v in bbox]), size)  # [1, size, size]
    if dilate_px > 0:
        mask = F.max_pool2d(mask[None], 2 * dilate_px + 1, stride=1, padding=dilate_px)[0]
    return mask[0].numpy() > 0.5


def _pair(before: np.ndarray, after: np.ndarray):
    before, after = as_float(before), as_float(after)
    if before.shape != after.shape or before.ndim != 3 or before.shape[0] != before.shape[1]:
        raise Layout2ImError(f"need two square [H, W, C] images of one shape, got {before.shape} and {after.shape}")
    return before, after


def change_share_inside(before: np.ndarray, after: np.ndarray, bbox: Sequence[float],
                        dilate_px: int = LOCALITY_DILATE_PX) -> float:
    """Share of the pixel change that lies inside the box dilated by ``dilate_px``.

    Args:
        before, after: [H, W, C] images (H == W); bbox: (x0, y0, x1, y1) in [0, 1].
    Returns:
        sum of |after - before| (over channels, then pixels) inside the region / the sum over all
        pixels, in [0, 1]; NaN when nothing changed.
    """
    before, after = _pair(before, after)
    delta = np.abs(after - before).sum(-1)  # [H, W]
    total = float(delta.sum())
    if total <= 0.0:
        return float("nan")
    return float(delta[box_region(bbox, before.shape[0], dilate_px)].sum() / total)


def box_change(before: np.ndarray, after: np.ndarray, bbox: Sequence[float]) -> float:
    """Mean |after - before| over the box's pixels (no dilation) and channels, values in [0, 1]."""
    before, after = _pair(before, after)
    region = box_region(bbox, before.shape[0], 0)
    return float(np.abs(after - before)[region].mean())


def box_mean_rgb(image: np.ndarray, bbox: Sequence[float]) -> np.ndarray:
    """float64 [3]: mean colour of the box's pixels, in [0, 1]."""
    img = as_float(image)
    return img[box_region(bbox, img.shape[0], 0)].mean(0)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant or holds
    a NaN."""
    def ranks(v):
        v = np.asarray(v, np.float64)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for val in np.unique(v):  # average ranks of ties
            same = v == val
            r[same] = r[same].mean()
        return r

    if not (np.all(np.isfinite(np.asarray(x, np.float64))) and np.all(np.isfinite(np.asarray(y, np.float64)))):
        return float("nan")
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


CHECKERBOARD = np.array([[1.0, -1.0], [-1.0, 1.0]])


def checkerboard_response(images: np.ndarray) -> np.ndarray:
    """Per image, the mean absolute response of the 2x2 filter [[1, -1], [-1, 1]] (valid positions,
    every channel) to the image in [0, 1]: large for a pixel-level checkerboard, small for smooth
    images and for edges. images: [N, H, W, C]. Returns float64 [N]."""
    x = as_float(images)
    r = x[:, :-1, :-1] - x[:, :-1, 1:] - x[:, 1:, :-1] + x[:, 1:, 1:]
    return np.abs(r).mean(axis=(1, 2, 3))


@dataclass
class ColourMeter:
    """Measures the ``colour`` factor of a procedural-scene object from its pixels: per category a least
    squares fit colour ~ a + b . mean RGB of the object's box, on real renders. ``fit_r2`` says how well
    the box colour alone tells the factor on real renders (held-in)."""

    coef: Dict[str, np.ndarray]  # category -> [4] (a, b_r, b_g, b_b)
    fit_r2: Dict[str, float]

    @staticmethod
    def fit(rgb: Dict[str, np.ndarray], colour: Dict[str, np.ndarray], min_samples: int = 20) -> "ColourMeter":
        """rgb: category -> [n, 3] box mean colours; colour: category -> [n] factor values."""
        coef, r2 = {}, {}
        for cat, x in rgb.items():
            y = np.asarray(colour[cat], np.float64)
            if len(y) < min_samples or y.std() == 0:
                continue
            a = np.hstack([np.ones((len(y), 1)), np.asarray(x, np.float64)])
            c, *_ = np.linalg.lstsq(a, y, rcond=None)
            pred = a @ c
            coef[cat] = c
            r2[cat] = float(1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())
        return ColourMeter(coef, r2)

    def measure(self, category: str, image: np.ndarray, bbox: Sequence[float]) -> float:
        """The colour factor read off the object's box in ``image`` (NaN for an unfitted category)."""
        c = self.coef.get(category)
        if c is None:
            return float("nan")
        return float(c[0] + c[1:] @ box_mean_rgb(image, bbox))
