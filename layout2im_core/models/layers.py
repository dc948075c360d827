"""Shared layers: class-conditional batch norm (spec §4.2) and the residual bottleneck block (§4.4),
and ``eval_mode``."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


@contextlib.contextmanager
def eval_mode(module: nn.Module):
    """Run ``module`` in eval mode (batch norm on its running statistics, which it then leaves alone)
    and restore its previous mode afterwards, also on error."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without affine, then a per-class scale and shift (spec §4.2).

    The scale half of the embedding is initialised N(1, 0.02), the shift half to 0.

    Args:
        num_features: C.
        num_classes: vocabulary size.
    """

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.embed = nn.Embedding(num_classes, 2 * num_features)
        with torch.no_grad():
            self.embed.weight[:, :num_features].normal_(1.0, 0.02)
            self.embed.weight[:, num_features:].zero_()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x: [N, C, H, W] float; y: [N] int64 category ids -> [N, C, H, W]."""
        out = self.bn(x)
        gamma, beta = self.embed(y).chunk(2, dim=1)  # [N, C] each
        return gamma[:, :, None, None].to(out.dtype) * out + beta[:, :, None, None].to(out.dtype)


class ResidualBlock(nn.Module):
    """x + [conv3x3 -> BN -> ReLU -> conv3x3 -> BN], no ReLU after the sum (spec §4.4 step 4).

    Submodule indices (``main.0``, ``main.1``, ``main.3``, ``main.4``) match the official state dict.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        return x + self.main(x)
