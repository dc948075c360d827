"""Layout encoder: objects (category, bbox, z) -> layout feature [B, C, 8, 8] (spec §4.4).

Three stages, exposed separately so the inference API can cache them (fast edit path):
``object_features`` (composer + per-object conv stack; per object independent in eval mode),
``fuser`` (the batched conv-LSTM) and ``bottleneck`` (residual blocks).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..config import ModelConfig
from ..geometry import bbox_to_mask
from .conv_lstm import ConvLSTM
from .layers import ConditionalBatchNorm2d, ResidualBlock


class LayoutEncoder(nn.Module):
    """Object composer, per-object conv stack with CBN, conv-LSTM fuser, residual bottleneck.

    Names match the official state dict: ``embedding``, ``c1..c4``, ``bn1..bn4``,
    ``clstm.cell_list.<k>.conv``, ``residual.<k>.main.<i>``.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.layout_widths
        n = cfg.num_classes
        self.cfg = cfg
        self.embedding = nn.Embedding(n, cfg.embedding_dim)
        self.c1 = nn.Conv2d(cfg.embedding_dim + cfg.z_dim, w[0], 1, 1, 1 if cfg.legacy_numerics else 0, bias=False)
        self.bn1 = ConditionalBatchNorm2d(w[0], n)
        self.c2 = nn.Conv2d(w[0], w[1], 4, 2, 1, bias=False)
        self.bn2 = ConditionalBatchNorm2d(w[1], n)
        self.c3 = nn.Conv2d(w[1], w[2], 4, 2, 1, bias=False)
        self.bn3 = ConditionalBatchNorm2d(w[2], n)
        self.c4 = nn.Conv2d(w[2], w[3], 4, 2, 1, bias=False)
        self.bn4 = ConditionalBatchNorm2d(w[3], n)
        self.clstm = ConvLSTM(w[3], cfg.clstm_hidden, cfg.clstm_kernel)
        self.residual = nn.Sequential(*[ResidualBlock(cfg.clstm_hidden[-1]) for _ in range(cfg.residual_blocks)])

    def object_features(self, objs: torch.Tensor, bboxes: torch.Tensor, z_obj: torch.Tensor) -> torch.Tensor:
        """Composer + per-object conv stack for packed objects.

        The composer paints v = concat(obj_emb, z_obj) (E + Z) into the object's 64x64 box mask and
        c1 is a bias-free 1x1 conv, so c1(v * mask) = (W v) * mask: computed that way (exact same math,
        ~60x fewer FLOPs). With legacy numerics c1 has padding 1, i.e. the mask gets a 1-px zero ring.

        Args:
            objs: [N] int64 category ids.
            bboxes: [N, 4] float (x0, y0, x1, y1) in [0, 1].
            z_obj: [N, Z] float.

        Returns:
            [N, C4, 8, 8] features (no ReLU after the last CBN, as the reference).
        """
        obj_emb = self.embedding(objs)  # [N, E]
        v = torch.cat([obj_emb, z_obj.to(obj_emb.dtype)], dim=1)  # [N, E+Z]
        u = F.linear(v, self.c1.weight.flatten(1))  # [N, C1]
        mask = bbox_to_mask(bboxes, self.cfg.image_size)  # [N, 1, 64, 64]
        if self.c1.padding[0]:
            mask = F.pad(mask, (1, 1, 1, 1))
        x = u[:, :, None, None] * mask.to(u.dtype)  # [N, C1, H, W]
        x = F.relu(self.bn1(x, objs))
        x = F.relu(self.bn2(self.c2(x), objs))
        x = F.relu(self.bn3(self.c3(x), objs))
        return self.bn4(self.c4(x), objs)

    def layout_map(self, objs: torch.Tensor, bboxes: torch.Tensor, obj_mask: torch.Tensor) -> torch.Tensor:
        """The layout as an image for the decoder (``decoder_layout``, ours): each pixel holds the
        category embedding ``obj_emb`` of the topmost object whose box covers it (the last in fusion
        order, as later objects are drawn over earlier ones), zeros where no box is.

        Args:
            objs: [B, O] int64; bboxes: [B, O, 4] float in [0, 1]; obj_mask: [B, O] bool.

        Returns:
            [B, E, 64, 64] in the embedding's dtype.
        """
        masks = bbox_to_mask(bboxes, self.cfg.image_size)[:, :, 0] * obj_mask[..., None, None]  # [B, O, H, W]
        covered_later = masks.flip(1).cumsum(1).flip(1) - masks  # boxes after each object covering a pixel
        owner = masks * (covered_later == 0)
        emb = self.embedding(objs)  # [B, O, E]
        return torch.einsum("bohw,boe->behw", owner.to(emb.dtype), emb)

    @staticmethod
    def scatter(packed: torch.Tensor, obj_mask: torch.Tensor) -> torch.Tensor:
        """Packed [N, ...] -> padded [B, O, ...] (zeros where obj_mask is False)."""
        out = packed.new_zeros(obj_mask.shape + packed.shape[1:])
        out[obj_mask] = packed
        return out

    def forward(self, objs: torch.Tensor, bboxes: torch.Tensor, z_obj: torch.Tensor,
                obj_mask: torch.Tensor) -> torch.Tensor:
        """Encode padded layouts.

        Args:
            objs: [B, O] int64; bboxes: [B, O, 4] float; z_obj: [B, O, Z] float; obj_mask: [B, O] bool.

        Returns:
            [B, Ch_last, 8, 8] layout feature (after the residual bottleneck).
        """
        feats = self.object_features(objs[obj_mask], bboxes[obj_mask], z_obj[obj_mask])  # [N, C4, 8, 8]
        h = self.clstm(self.scatter(feats, obj_mask), obj_mask)  # [B, Ch, 8, 8]
        return self.residual(h.to(feats.dtype))
