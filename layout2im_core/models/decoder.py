"""Decoder: layout feature [B, C, 8, 8] -> image [B, 3, 64, 64] (spec §4.5)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..config import ModelConfig


class Decoder(nn.Module):
    """conv3x3 -> 3 transposed convs (x2 each) -> conv7x7 with bias. Bias-free layers are followed by
    BatchNorm2d(affine) and ReLU. The output is tanh'ed into [-1, 1], except with legacy numerics
    (official weights), where it stays in ImageNet-normalised space with no activation (spec §4.5).
    Names match the official state dict (c0, bn0, dc1..dc3, bn1..bn3, c4).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.decoder_widths
        cin = cfg.clstm_hidden[-1]
        self.c0 = nn.Conv2d(cin, w[0], 3, 1, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(w[0])
        self.dc1 = nn.ConvTranspose2d(w[0], w[1], 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[1])
        self.dc2 = nn.ConvTranspose2d(w[1], w[2], 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(w[2])
        self.dc3 = nn.ConvTranspose2d(w[2], w[3], 4, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(w[3])
        self.c4 = nn.Conv2d(w[3], 3, 7, 1, 3, bias=True)
        self.tanh = not cfg.legacy_numerics

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: [B, C, 8, 8] -> image [B, 3, 64, 64] float (tanh: [-1, 1]; legacy: ImageNet space)."""
        x = F.relu(self.bn0(self.c0(h)))
        x = F.relu(self.bn1(self.dc1(x)))
        x = F.relu(self.bn2(self.dc2(x)))
        x = F.relu(self.bn3(self.dc3(x)))
        x = self.c4(x)
        return torch.tanh(x) if self.tanh else x
