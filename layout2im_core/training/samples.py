"""Sample grids written during training: fixed layouts (the first items of the data set, objects in
canonical order) and fixed z, so grids of different steps compare directly.

One row per layout: real image with its boxes | reconstruction (crop-encoder mu of the real crops) |
two samples from fixed prior z. G runs in eval mode (BN running statistics), as at inference.
"""

from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from ..data.collate import collate_batch
from ..models.generator import Generator
from ..models.layers import eval_mode
from .loader import mix_seed

COLUMNS = ("real", "rec", "z1", "z2")


class SampleSheet:
    """Fixed inputs of the sample grid.

    Args:
        items: batch-contract items (the fixed layouts).
        z_dim: Z; seed: seeds the fixed z.
    """

    def __init__(self, items: List[Dict[str, torch.Tensor]], z_dim: int, seed: int):
        self.batch = collate_batch(items)
        g = torch.Generator().manual_seed(mix_seed(seed, 0x5A3))
        b, o = self.batch.objs.shape
        self.z = torch.randn(2, b, o, z_dim, generator=g)  # [2, B, O, Z]

    @torch.no_grad()
    def render(self, G: Generator, device: torch.device, autocast) -> np.ndarray:
        """The grid as uint8 [H, W, 3]. G is put in eval mode and back to its previous mode."""
        with eval_mode(G):
            batch = self.batch.to(device)
            m = batch.obj_mask
            with autocast():
                imgs = G.to_model_space(batch.imgs)
                objs_p, bboxes_p = batch.objs[m], batch.bboxes[m]
                crops = G.crop(imgs, bboxes_p, batch.obj_to_img)
                mu = G.crop_encoder(crops, objs_p, sample=False).mu
                cols = [batch.imgs, G.to_unit(G.generate(batch.objs, batch.bboxes, G._pad(mu, m), m))]
                for z in self.z.to(device):
                    cols.append(G.to_unit(G.generate(batch.objs, batch.bboxes, z * m[..., None], m)))
        cols = [c.float().clamp(0, 1).cpu() for c in cols]
        real = _draw_boxes(cols[0], self.batch.objs, self.batch.bboxes, self.batch.obj_mask)
        return _grid([real] + [_to_uint8(c) for c in cols[1:]])


def _to_uint8(imgs: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in [0, 1] -> uint8 [B, H, W, 3]."""
    return (imgs.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _color(obj_id: int):
    r, g, b = colorsys.hsv_to_rgb((obj_id * 0.618034) % 1.0, 0.9, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _draw_boxes(imgs: torch.Tensor, objs, bboxes, obj_mask) -> np.ndarray:
    from PIL import Image, ImageDraw

    out = []
    for i, arr in enumerate(_to_uint8(imgs)):
        im = Image.fromarray(arr)
        draw = ImageDraw.Draw(im)
        h, w = arr.shape[:2]
        for j in obj_mask[i].nonzero().flatten().tolist():
            x0, y0, x1, y1 = bboxes[i, j].tolist()
            draw.rectangle([x0 * w, y0 * h, max(x0 * w, x1 * w - 1), max(y0 * h, y1 * h - 1)],
                           outline=_color(int(objs[i, j])))
        out.append(np.asarray(im))
    return np.stack(out)


def _grid(columns: List[np.ndarray], pad: int = 2) -> np.ndarray:
    """Columns of [B, H, W, 3] images -> one uint8 [B*(H+pad)+pad, C*(W+pad)+pad, 3] grid."""
    b, h, w, _ = columns[0].shape
    grid = np.full((b * (h + pad) + pad, len(columns) * (w + pad) + pad, 3), 255, np.uint8)
    for c, col in enumerate(columns):
        for r in range(b):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y:y + h, x:x + w] = col[r]
    return grid


def save_png(grid: np.ndarray, path: Path) -> None:
    """Write a uint8 [H, W, 3] grid as a PNG (atomically, ``atomic.atomic_write``), creating the folder."""
    import io

    from PIL import Image

    from ..atomic import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    atomic_write(path, buf.getbuffer())
