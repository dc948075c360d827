"""Crop encoder ("object estimator"): a 3xSxS object crop -> (z, mu, logvar) (spec §4.3)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .fast_conv import conv2d_module
from .layers import ConditionalBatchNorm2d
from .shapes import assert_shape


@dataclass
class CropCode:
    """Output of the crop encoder. All [N, Z] float: z = mu + exp(0.5 logvar) * eps."""

    z: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor


class CropEncoder(nn.Module):
    """Five bias-free convs, each followed by CBN(category) and ReLU, global average pool, then two
    linear heads for mu and logvar (spec §4.3). Parameter names match the official state dict
    (``c1..c4``, ``conv5``, ``bn1..bn5``, ``fc_mu``, ``fc_logvar``).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.crop_encoder_widths
        self.c1 = nn.Conv2d(3, w[0], 7, 1, 3, bias=False)
        self.bn1 = ConditionalBatchNorm2d(w[0], cfg.num_classes)
        self.c2 = nn.Conv2d(w[0], w[1], 4, 2, 1, bias=False)
        self.bn2 = ConditionalBatchNorm2d(w[1], cfg.num_classes)
        self.c3 = nn.Conv2d(w[1], w[2], 4, 2, 1, bias=False)
        self.bn3 = ConditionalBatchNorm2d(w[2], cfg.num_classes)
        self.c4 = nn.Conv2d(w[2], w[3], 4, 2, 1, bias=False)
        self.bn4 = ConditionalBatchNorm2d(w[3], cfg.num_classes)
        self.conv5 = nn.Conv2d(w[3], w[4], 4, 2, 1, bias=False)
        self.bn5 = ConditionalBatchNorm2d(w[4], cfg.num_classes)
        self.fc_mu = nn.Linear(w[4], cfg.z_dim)
        self.fc_logvar = nn.Linear(w[4], cfg.z_dim)
        self.crop_size = cfg.crop_size

    def forward(self, crops: torch.Tensor, objs: torch.Tensor, sample: bool = True) -> CropCode:
        """Encode object crops.

        Args:
            crops: [N, 3, S, S] float, in the model's image space.
            objs: [N] int64 category ids.
            sample: draw z = mu + std * eps (eps ~ N(0, I), fresh per call); if False, z = mu.

        Returns:
            CropCode with z, mu, logvar, each [N, Z] float32.
        """
        assert_shape(crops, [None, 3, None, None], "crops")
        assert_shape(objs, [crops.shape[0]], "objs")
        x = crops
        for conv, bn in ((self.c1, self.bn1), (self.c2, self.bn2), (self.c3, self.bn3),
                         (self.c4, self.bn4), (self.conv5, self.bn5)):
            x = F.relu(bn(conv2d_module(conv, x), objs))  # conv5's 2x2 output: a matmul on CPU
        x = x.float().mean(dim=(2, 3))  # [N, C5]
        mu = self.fc_mu(x).float()
        logvar = self.fc_logvar(x).float()
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        return CropCode(z=z, mu=mu, logvar=logvar)
