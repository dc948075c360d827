"""Image discriminator D_img and object discriminator D_obj (spec §5): SN-GAN ResNet discriminators
with spectral norm on every conv and linear layer, ReLU activations, spatial sum pooling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..config import ModelConfig
from . import fast_conv
from .shapes import assert_shape


def _sn_conv(cin: int, cout: int, k: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, k, 1, k // 2, bias=True))


def conv3x3_avg_pool(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``avg_pool2d(conv(x), 2)`` of a 3x3, stride-1, padding-1 conv as one 4x4, stride-2 conv whose
    kernel is the 3x3 kernel averaged over the four positions of the pooling window: the same math
    (sums in another order) with 16/36 of the multiply-adds. ``conv.weight`` is read once, as
    ``conv(x)`` does (one spectral-norm power iteration in training).

    A 2x2 output (the object discriminator's last block) runs as a matmul (``fast_conv``).

    x: [B, Cin, H, W] with even H, W -> [B, Cout, H/2, W/2]."""
    w = conv.weight  # [Cout, Cin, 3, 3]
    w4 = (w.flatten(2) @ _pool_matrix(w.device)).view(w.shape[0], w.shape[1], 4, 4)  # one small GEMM
    return fast_conv.conv2d(x, w4, conv.bias, stride=2, padding=1)


_POOL_MATRICES: Dict[str, torch.Tensor] = {}  # device -> _pool_matrix


def _pool_matrix(device) -> torch.Tensor:
    """[9, 16] float32: row ky*3+kx spreads a 3x3 tap over the 4x4 kernel positions it reaches under
    2x2 average pooling, (ky+dy)*4 + (kx+dx) for dy, dx in {0, 1}, with weight 1/4."""
    key = str(device)
    if key not in _POOL_MATRICES:
        m = torch.zeros(9, 16)
        for ky in range(3):
            for kx in range(3):
                for dy in range(2):
                    for dx in range(2):
                        m[ky * 3 + kx, (ky + dy) * 4 + kx + dx] = 0.25
        _POOL_MATRICES[key] = m.to(device)
    return _POOL_MATRICES[key]


class OptimizedBlock(nn.Module):
    """First block: residual conv3x3 -> ReLU -> conv3x3 -> [avgpool]; shortcut [avgpool] -> conv1x1."""

    def __init__(self, cin: int, cout: int, downsample: bool):
        super().__init__()
        self.conv1 = _sn_conv(cin, cout, 3)
        self.conv2 = _sn_conv(cout, cout, 3)
        self.c_sc = _sn_conv(cin, cout, 1)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, Cin, H, W] -> [B, Cout, H', W'] (H' = H/2 when downsampling)."""
        h = F.relu(self.conv1(x))
        if not self.downsample:
            return self.conv2(h) + self.c_sc(x)
        return conv3x3_avg_pool(self.conv2, h) + self.c_sc(F.avg_pool2d(x, 2))


class ResBlock(nn.Module):
    """ReLU -> conv3x3(in->in) -> ReLU -> conv3x3(in->out) -> [avgpool]; learned shortcut
    conv1x1 -> [avgpool]. As in the reference (an in-place ReLU runs before the shortcut, spec §5),
    the shortcut sees ReLU(x)."""

    def __init__(self, cin: int, cout: int, downsample: bool):
        super().__init__()
        self.conv1 = _sn_conv(cin, cin, 3)
        self.conv2 = _sn_conv(cin, cout, 3)
        self.c_sc = _sn_conv(cin, cout, 1)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, Cin, H, W] -> [B, Cout, H', W']."""
        x = F.relu(x)
        h = F.relu(self.conv1(x))
        if not self.downsample:
            return self.conv2(h) + self.c_sc(x)
        # pooling commutes with the 1x1 shortcut, and folds into conv2 (conv3x3_avg_pool): same math
        return conv3x3_avg_pool(self.conv2, h) + self.c_sc(F.avg_pool2d(x, 2))


def _trunk(widths, first_downsample: bool) -> nn.Sequential:
    blocks = [OptimizedBlock(3, widths[0], first_downsample)]
    blocks += [ResBlock(widths[i], widths[i + 1], True) for i in range(len(widths) - 1)]
    return nn.Sequential(*blocks)


class ImageDiscriminator(nn.Module):
    """D_img: 3x64x64 image -> one real/fake logit (spec §5.1)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.blocks = _trunk(cfg.d_img_widths, True)
        self.l_out = spectral_norm(nn.Linear(cfg.d_img_widths[-1], 1, bias=False))

    def forward(self, imgs: torch.Tensor) -> torch.Tensor:
        """imgs: [B, 3, 64, 64] in the model's image space -> logits [B] float32."""
        assert_shape(imgs, [None, 3, 64, 64], "imgs")
        x = F.relu(self.blocks(imgs)).sum(dim=(2, 3))  # [B, C]
        return self.l_out(x).float().squeeze(1)


@dataclass
class ObjectLogits:
    """D_obj output: ``src`` [N] real/fake logits, ``cls`` [N, num_classes] class logits (float32)."""

    src: torch.Tensor
    cls: torch.Tensor


class ObjectDiscriminator(nn.Module):
    """D_obj: 3xSxS crops -> real/fake logit and auxiliary class logits (AC-GAN, spec §5.2)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.blocks = _trunk(cfg.d_obj_widths, False)
        c = cfg.d_obj_widths[-1]
        self.classifier_src = spectral_norm(nn.Linear(c, 1))
        self.classifier_cls = spectral_norm(nn.Linear(c, cfg.num_classes))

    def forward(self, crops: torch.Tensor) -> ObjectLogits:
        """crops: [N, 3, S, S] in the model's image space -> ObjectLogits."""
        assert_shape(crops, [None, 3, None, None], "crops")
        x = F.relu(self.blocks(crops)).sum(dim=(2, 3))  # [N, C]
        return ObjectLogits(src=self.classifier_src(x).float().squeeze(1), cls=self.classifier_cls(x).float())
