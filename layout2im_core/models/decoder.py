"""Decoder: layout feature [B, C, 8, 8] -> image [B, 3, 64, 64] (spec §4.5)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .shapes import assert_shape


class Decoder(nn.Module):
    """conv3x3 -> 3 transposed convs (x2 each) -> conv7x7 with bias. Bias-free layers are followed by
    BatchNorm2d(affine) and ReLU. The output is tanh'ed into [-1, 1], except with legacy numerics
    (official weights), where it stays in ImageNet-normalised space with no activation (spec §4.5).
    Names match the official state dict (c0, bn0, dc1..dc3, bn1..bn3, c4).

    With ``cfg.decoder_layout`` (ours) each of the five convs also takes the layout map, average-pooled
    to its input size (8, 8, 16, 32, 64 px): E more input channels each.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.decoder_widths
        cin = cfg.clstm_hidden[-1]
        e = cfg.embedding_dim if cfg.decoder_layout else 0
        self.uses_layout = cfg.decoder_layout
        self.h_channels = cin
        self.c0 = nn.Conv2d(cin + e, w[0], 3, 1, 1, bias=False)
        self.bn0 = nn.BatchNorm2d(w[0])
        self.dc1 = nn.ConvTranspose2d(w[0] + e, w[1], 4, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[1])
        self.dc2 = nn.ConvTranspose2d(w[1] + e, w[2], 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(w[2])
        self.dc3 = nn.ConvTranspose2d(w[2] + e, w[3], 4, 2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(w[3])
        self.c4 = nn.Conv2d(w[3] + e, 3, 7, 1, 3, bias=True)
        self.tanh = not cfg.legacy_numerics

    def forward(self, h: torch.Tensor, layout_map: Optional[torch.Tensor] = None) -> torch.Tensor:
        """h: [B, C, 8, 8] -> image [B, 3, 64, 64] float (tanh: [-1, 1]; legacy: ImageNet space).

        layout_map: [B, E, 64, 64] (``LayoutEncoder.layout_map``), required with ``decoder_layout``
        and ignored without. Raises ValueError when it is required and missing.
        """
        assert_shape(h, [None, self.h_channels, 8, 8], "h")
        if not self.uses_layout:
            with_map = lambda x: x  # noqa: E731
        elif layout_map is None:
            raise ValueError("this decoder sees the layout (decoder_layout): pass layout_map")
        else:
            full = layout_map.to(h.dtype)

            def with_map(x):
                k = full.shape[-1] // x.shape[-1]
                return torch.cat([x, F.avg_pool2d(full, k) if k > 1 else full], dim=1)
        x = F.relu(self.bn0(self.c0(with_map(h))))
        x = F.relu(self.bn1(self.dc1(with_map(x))))
        x = F.relu(self.bn2(self.dc2(with_map(x))))
        x = F.relu(self.bn3(self.dc3(with_map(x))))
        x = self.c4(with_map(x))
        return torch.tanh(x) if self.tanh else x
