"""Layout encoder: objects (category, bbox, z) -> layout feature [B, C, 8, 8] (spec §4.4).

Three stages, exposed separately so the inference API can cache them (fast edit path):
``object_features`` (composer + per-object conv stack; per object independent in eval mode),
``fuser`` (the batched conv-LSTM) and ``bottleneck`` (residual blocks).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from ..config import ModelConfig
from ..geometry import bbox_to_mask
from .conv_lstm import ConvLSTM
from .frozen import DerivedCache, compute_dtype, is_channels_last, no_grad_needed
from .layers import ConditionalBatchNorm2d, ResidualBlock
from .shapes import assert_shape


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
        names = ["c3", "c4"] + [f"residual.{i}" for i in range(cfg.residual_blocks)]
        self._frozen = {name: DerivedCache() for name in names}  # inference weights (not in the state dict)

    def object_features(self, objs: torch.Tensor, bboxes: torch.Tensor, z_obj: torch.Tensor) -> torch.Tensor:
        """Composer + per-object conv stack for packed objects.

        The composer paints v = concat(obj_emb, z_obj) (E + Z) into the object's 64x64 box mask and
        c1 is a bias-free 1x1 conv, so c1(v * mask) = (W v) * mask. After CBN1 and ReLU each channel of
        that map holds just two values, one inside the box and one outside, so c2 of it is a sum over
        c2's k x k taps of two per-object vectors times the shifted box mask: computed that way
        (``_c2_of_two_valued``; same math, ~60x fewer FLOPs than c2, and the [N, C1, 64, 64] map is never
        built). With legacy numerics c1 has padding 1, i.e. the mask gets a 1-px zero ring. In eval
        mode without gradients each CBN is one fused scale-and-shift per object (running statistics and
        class scale folded together) and the convs use cached weights in the compute dtype.

        Args:
            objs: [N] int64 category ids.
            bboxes: [N, 4] float (x0, y0, x1, y1) in [0, 1].
            z_obj: [N, Z] float.

        Returns:
            [N, C4, 8, 8] features (no ReLU after the last CBN, as the reference), in the compute dtype
            (bf16 under bf16 autocast), channels-last in eval mode without gradients.
        """
        assert_shape(objs, [None], "objs")
        assert_shape(bboxes, [objs.shape[0], 4], "bboxes")
        assert_shape(z_obj, [objs.shape[0], self.cfg.z_dim], "z_obj")
        obj_emb = self.embedding(objs)  # [N, E]
        v = torch.cat([obj_emb, z_obj.to(obj_emb.dtype)], dim=1)  # [N, E+Z]
        u = F.linear(v, self.c1.weight.flatten(1))  # [N, C1]
        mask = bbox_to_mask(bboxes, self.cfg.image_size)  # [N, 1, 64, 64]
        if self.c1.padding[0]:
            mask = F.pad(mask, (1, 1, 1, 1))
        inside, outside = _cbn_relu_two_values(self.bn1, u, mask, objs)  # [N, C1] each
        fast = not self.training and no_grad_needed(self.c3.weight, self.c4.weight)  # the weights it detaches
        channels_last = fast or is_channels_last(self.c3.weight)  # the format c3 runs in
        x = self._c2_of_two_valued(inside, outside, mask, channels_last)  # [N, C2, H/2, W/2]
        if not fast:
            x = F.relu(self.bn2(x, objs))
            x = F.relu(self.bn3(self.c3(x), objs))
            return self.bn4(self.c4(x), objs)
        dtype = compute_dtype(x.device.type, self.c3.weight.dtype)
        x = _cbn_eval(self.bn2, x, objs).relu_()
        x = _cbn_eval(self.bn3, F.conv2d(x.to(dtype), self._frozen_weight("c3", dtype), None, 2, 1), objs).relu_()
        return _cbn_eval(self.bn4, F.conv2d(x, self._frozen_weight("c4", dtype), None, 2, 1), objs)

    def _frozen_weight(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """Conv ``name``'s weight in ``dtype``, channels-last, cached until the weight changes."""
        w = getattr(self, name).weight
        return self._frozen[name].get((w,), lambda: w.detach().to(dtype).contiguous(memory_format=torch.channels_last),
                                      dtype)

    def _c2_of_two_valued(self, inside: torch.Tensor, outside: torch.Tensor, mask: torch.Tensor,
                          channels_last: bool = False) -> torch.Tensor:
        """c2 of the map that is ``inside`` in the box and ``outside`` elsewhere (zero padding around).

        For every output pixel and tap (ky, kx) the tap reads ``outside + (inside - outside) * m`` where
        m is the mask under the tap (0 in the padding, where also ``outside`` is not read), so
        c2 = sum_taps (W_tap outside) * valid_tap + (W_tap (inside - outside)) * mask_tap.

        Args:
            inside, outside: [N, C1] per-object channel values; mask: [N, 1, H, W] float box masks.
            channels_last: return a channels-last tensor (no copy: the matmul writes that layout).

        Returns:
            [N, C2, Ho, Wo], equal to ``self.c2(inside * mask + outside * (1 - mask))`` up to float sums.
        """
        conv = self.c2
        k, s, p = conv.kernel_size, conv.stride, conv.padding
        n, size = mask.shape[0], mask.shape[-2:]
        ho = (size[0] + 2 * p[0] - k[0]) // s[0] + 1
        wo = (size[1] + 2 * p[1] - k[1]) // s[1] + 1
        dtype = compute_dtype(mask.device.type, inside.dtype)
        w = conv.weight.flatten(2).to(dtype)  # [C2, C1, K]
        valid = _valid_taps(tuple(size), k, s, p, mask.device).to(dtype)  # [L, K]
        padded = F.pad(mask[:, 0], (p[1], p[1], p[0], p[0]))  # [N, H + 2p, W + 2p]
        taps = padded.unfold(1, k[0], s[0]).unfold(2, k[1], s[1]).reshape(n, ho * wo, -1).to(dtype)  # [N, L, K]
        w_out = torch.einsum("ock,nc->nko", w, outside.to(dtype))  # [N, K, C2]
        w_in = torch.einsum("ock,nc->nko", w, (inside - outside).to(dtype))  # [N, K, C2]
        if channels_last:
            out = torch.baddbmm(valid @ w_out, taps, w_in)  # [N, L, C2]
            return out.view(n, ho, wo, -1).permute(0, 3, 1, 2)
        out = torch.baddbmm(w_out.transpose(1, 2) @ valid.t(), w_in.transpose(1, 2), taps.transpose(1, 2))  # [N, C2, L]
        return out.view(n, -1, ho, wo)

    def layout_map(self, objs: torch.Tensor, bboxes: torch.Tensor, obj_mask: torch.Tensor) -> torch.Tensor:
        """The layout as an image for the decoder (``decoder_layout``, ours): each pixel holds the
        category embedding ``obj_emb`` of the topmost object whose box covers it (the last in fusion
        order, as later objects are drawn over earlier ones), zeros where no box is.

        Args:
            objs: [B, O] int64; bboxes: [B, O, 4] float in [0, 1]; obj_mask: [B, O] bool.

        Returns:
            [B, E, 64, 64] in the embedding's dtype.
        """
        assert_shape(objs, [None, None], "objs")
        assert_shape(bboxes, [*objs.shape, 4], "bboxes")
        assert_shape(obj_mask, list(objs.shape), "obj_mask")
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
            [B, Ch_last, 8, 8] layout feature (after the residual bottleneck); channels-last in memory
            for the isla decoder in inference (``bottleneck``), else plain contiguous.
        """
        assert_shape(objs, [None, None], "objs")
        b, o = objs.shape
        assert_shape(bboxes, [b, o, 4], "bboxes")
        assert_shape(z_obj, [b, o, self.cfg.z_dim], "z_obj")
        assert_shape(obj_mask, [b, o], "obj_mask")
        feats = self.object_features(objs[obj_mask], bboxes[obj_mask], z_obj[obj_mask])  # [N, C4, 8, 8]
        h = self.clstm(self.scatter(feats, obj_mask), obj_mask)  # [B, Ch, 8, 8]
        return self.bottleneck(h)

    def bottleneck(self, h: torch.Tensor) -> torch.Tensor:
        """The residual blocks on the conv-LSTM read-out.

        Args:
            h: [B, Ch, 8, 8] float32 (the conv-LSTM's h).

        Returns:
            [B, Ch, 8, 8] in the compute dtype. In eval mode without gradients each conv+BN pair runs as
            one conv with the batch norm folded into its weights and bias (cached until they change);
            with the isla decoder, which runs channels-last in inference, the blocks run channels-last
            too, weights included (12 3x3 32-channel convs at 8 px: 0.68 -> 0.38 ms on a 2-core AVX2
            CPU, docs/benchmarks.md 2026-12-07), and hand the decoder a channels-last map.
        """
        assert_shape(h, [None, self.cfg.clstm_hidden[-1], None, None], "h")
        dtype = compute_dtype(h.device.type, self.c1.weight.dtype)
        if self.training or not no_grad_needed(*(block.main[0].weight for block in self.residual)):
            return self.residual(h.to(dtype))
        x = h.to(dtype)
        channels_last = self.cfg.decoder_kind == "isla"
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for i, block in enumerate(self.residual):
            w1, b1, w2, b2 = self._frozen[f"residual.{i}"].get(
                _block_sources(block), lambda: _fold_block(block, dtype, channels_last), dtype, channels_last)
            x = x + F.conv2d(F.conv2d(x, w1, b1, 1, 1).relu_(), w2, b2, 1, 1)
        return x


@functools.lru_cache(maxsize=16)
def _valid_taps(size, kernel, stride, padding, device) -> torch.Tensor:
    """[L, K] float32: 1 where tap k of output pixel l reads the image, 0 where it reads padding."""
    ones = torch.ones((1, 1) + size, device=device)
    return F.unfold(ones, kernel, padding=padding, stride=stride)[0].t().contiguous()


def _bn_statistics(bn: nn.BatchNorm2d, training: bool, u: torch.Tensor, mask: torch.Tensor):
    """(mean, var) [C] that ``bn`` normalises ``u[:, :, None, None] * mask`` with, as float32.

    In training (batch statistics) they are computed from the two values per object without building
    the map, and ``bn``'s running statistics are updated exactly as ``F.batch_norm`` does (momentum or,
    with momentum None, the cumulative average; unbiased variance)."""
    if not (training or bn.running_mean is None):
        return bn.running_mean.float(), bn.running_var.float()
    u = u.float()
    pixels = mask.shape[-1] * mask.shape[-2]
    area = mask.flatten(1).sum(1, keepdim=True).float()  # [N, 1] pixels inside each box
    count = u.shape[0] * pixels
    mean = (u * area).sum(0) / count  # [C]
    var = ((u - mean).square() * area + mean.square() * (pixels - area)).sum(0) / count  # biased
    if training and bn.track_running_stats and bn.running_mean is not None:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
            bn.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
            bn.running_var.mul_(1 - factor).add_(var.detach() * (count / max(count - 1, 1)), alpha=factor)
    return mean, var


def _cbn_relu_two_values(cbn: ConditionalBatchNorm2d, u: torch.Tensor, mask: torch.Tensor, objs: torch.Tensor):
    """ReLU(CBN(u * mask)) of a map that is ``u`` inside the box and 0 outside, as its two values.

    Args:
        cbn: the conditional batch norm (batch statistics in train mode, running ones in eval mode).
        u: [N, C] per-object values inside the box; mask: [N, 1, H, W] float; objs: [N] category ids.

    Returns:
        (inside, outside): [N, C] each, in u's dtype.
    """
    mean, var = _bn_statistics(cbn.bn, cbn.training, u, mask)
    rstd = torch.rsqrt(var + cbn.bn.eps)  # [C]
    gamma, beta = cbn.embed(objs).float().chunk(2, dim=1)  # [N, C] each
    inside = F.relu(gamma * ((u.float() - mean) * rstd) + beta)
    outside = F.relu(gamma * (-mean * rstd) + beta)
    return inside.to(u.dtype), outside.to(u.dtype)


def _cbn_eval(cbn: ConditionalBatchNorm2d, x: torch.Tensor, objs: torch.Tensor) -> torch.Tensor:
    """CBN on running statistics as one scale-and-shift per object and channel: x [N, C, H, W],
    objs [N] -> [N, C, H, W] in x's dtype and memory format."""
    rstd = torch.rsqrt(cbn.bn.running_var + cbn.bn.eps)  # [C]
    gamma, beta = cbn.embed(objs).chunk(2, dim=1)  # [N, C]
    scale = gamma * rstd
    shift = beta - scale * cbn.bn.running_mean
    return torch.addcmul(shift[:, :, None, None].to(x.dtype), x, scale[:, :, None, None].to(x.dtype))


def _block_sources(block: ResidualBlock):
    conv1, bn1, _, conv2, bn2 = block.main
    return (conv1.weight, bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var,
            conv2.weight, bn2.weight, bn2.bias, bn2.running_mean, bn2.running_var)


def _fold_block(block: ResidualBlock, dtype: torch.dtype, channels_last: bool = False):
    """(w1, b1, w2, b2): the block's two conv+BN pairs with BN (running statistics) folded in; the
    weights in channels-last memory format when ``channels_last``."""
    out = []
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for conv, bn in ((block.main[0], block.main[1]), (block.main[3], block.main[4])):
        w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        out += [w.detach().to(dtype).contiguous(memory_format=fmt), b.detach().to(dtype)]
    return tuple(out)
