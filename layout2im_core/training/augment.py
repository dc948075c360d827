"""Differentiable augmentation of discriminator inputs (DiffAugment: Zhao, Liu, Lin, Zhu, Han,
NeurIPS 2020; ``mit-han-lab/data-efficient-gans``), for small data sets.

The same policy is applied to real and generated inputs of D_img and D_obj, in the D step and in the
G step, with fresh random parameters per sample and per call; every operation is differentiable, so
G's gradient passes through it. Policies: ``color`` (brightness, saturation, contrast),
``translation`` (shift by up to 1/8 of the side, zeros in), ``cutout`` (a zeroed square of half the
side). Images are in the model's space ([-1, 1]).
"""

from __future__ import annotations

from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def _color(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    r = lambda: torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype)  # noqa: E731
    x = x + (r() - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r() * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r() + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy[None] + ty + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))  # zeros come in from the borders
    idx = (gy * (w + 2) + gx).flatten(1)  # [B, H*W]
    flat = padded.flatten(2)  # [B, C, (H+2)*(W+2)]
    return flat.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1)).view_as(x)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gy = torch.arange(h, device=x.device)[None, :, None]
    gx = torch.arange(w, device=x.device)[None, None, :]
    inside = ((gy >= oy - ch // 2) & (gy < oy - ch // 2 + ch)) & ((gx >= ox - cw // 2) & (gx < ox - cw // 2 + cw))
    return x * (~inside)[:, None].to(x.dtype)


_OPS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"color": _color, "translation": _translation,
                                                            "cutout": _cutout}


def parse_policy(policy: str) -> List[str]:
    """``"color,translation,cutout"`` -> list of names; ``""`` -> []. Raises ValueError on unknown names."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    bad = [p for p in names if p not in _OPS]
    if bad:
        raise ValueError(f"unknown DiffAugment policies {bad}; choose from {list(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply the comma-separated ``policy`` to a batch x [B, 3, H, W]; returns a tensor of the same
    shape (x itself for an empty policy)."""
    for name in parse_policy(policy):
        x = _OPS[name](x)
    return x
