"""The ISLA decoder (ours, after LostGAN's ISLA-Norm): layout feature [B, C, 8, 8] -> image
[B, 3, 64, 64], with every object's style [obj_emb, z_obj] modulating the normalised features inside
its (learned, soft) mask at every resolution. ``ModelConfig.decoder_kind = "isla"``; the paper's
decoder (spec §4.5) is ``decoder.Decoder``. What differs from the paper: docs/architecture.md.

Shape legend: B images, O object slots, S = E + Z style size, C channels, H = W resolution.

Pieces:
    ``ObjectMasks``   per object a soft shape: an MLP of the style gives M x M logits, sigmoid, placed
                      into the object's box (the box's 64x64 mask, spec §7.1 rule), then composed in
                      layout order, later objects over earlier ones (``compose_masks``). The composed
                      weights are pooled to 8, 16, 32 px.
    ``IslaNorm``      BatchNorm2d without affine, then x * (1 + gamma) + beta, where gamma, beta at a
                      pixel are the mask-weighted sum of the objects' Linear(style) (LostGAN-v1
                      ``SpatialAdaptiveSynBatchNorm2d``). The projection starts near zero (bias 0,
                      weights N(0, ``ISLA_INIT_STD``^2)): at initialisation the modulation is the
                      identity to within a few per cent, and what z changes lies in its box.
    ``UpBlock``       residual block: ISLA -> ReLU -> nearest x2 -> conv3x3 -> ISLA -> ReLU -> conv3x3,
                      plus nearest x2 of a 1x1 conv (identity when widths agree). No learned transposed
                      convs (they leave a checkerboard: Odena et al., Distill 2016); in eval mode the
                      nearest x2 + conv3x3 pair runs as the equivalent stride-2 transposed conv whose
                      kernel is derived from the 3x3 one (``upsample_conv3x3``), the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..geometry import bbox_to_mask
from .frozen import DerivedCache, no_grad_needed
from .shapes import assert_shape


def compose_masks(masks: torch.Tensor) -> torch.Tensor:
    """Occlusion in layout order: object o keeps ``m_o * prod_{k > o} (1 - m_k)``.

    Later objects are drawn over earlier ones (the app's object list and the procedural scenes'
    drawing order). The weights of a pixel sum to at most 1; the rest is "no object" (no modulation).

    Args:
        masks: [B, O, H, W] float in [0, 1] (zero for padding slots).

    Returns:
        [B, O, H, W] float in [0, 1].
    """
    keep = 1 - masks
    # exclusive reverse cumulative product: prod over k > o
    after = torch.cat([keep.flip(1).cumprod(1).flip(1)[:, 1:], torch.ones_like(keep[:, :1])], dim=1)
    return masks * after


class ObjectMasks(nn.Module):
    """Learned soft object masks (LostGAN's mask regression, simplified to an MLP).

    Args:
        style_dim: S = E + Z.
        hidden: MLP width.
        mask_size: M, side of the shape grid placed into each box.
        image_size: side of the canvas (64).
    """

    def __init__(self, style_dim: int, hidden: int, mask_size: int, image_size: int):
        super().__init__()
        self.mask_size, self.image_size = mask_size, image_size
        self.fc1 = nn.Linear(style_dim, hidden)
        self.fc2 = nn.Linear(hidden, mask_size * mask_size)
        with torch.no_grad():  # start as (almost) the full box: sigmoid(3) = 0.95
            self.fc2.weight.zero_()
            self.fc2.bias.fill_(3.0)

    def shapes(self, style: torch.Tensor) -> torch.Tensor:
        """style [..., S] -> shapes [..., M, M] in (0, 1)."""
        m = self.fc2(F.relu(self.fc1(style)))
        return torch.sigmoid(m).unflatten(-1, (self.mask_size, self.mask_size))

    def forward(self, style: torch.Tensor, bboxes: torch.Tensor, obj_mask: torch.Tensor) -> torch.Tensor:
        """Per-object soft masks on the canvas.

        Args:
            style: [B, O, S]; bboxes: [B, O, 4] (x0, y0, x1, y1) in [0, 1]; obj_mask: [B, O] bool.

        Returns:
            [B, O, H, W] float in [0, 1], zero outside each box (the spec §7.1 box mask) and for padding.
        """
        assert_shape(style, [None, None, self.fc1.in_features], "style")
        b, o, _ = style.shape
        assert_shape(bboxes, [b, o, 4], "bboxes")
        size = self.image_size
        shapes = self.shapes(style).flatten(0, 1)[:, None].float()  # [B*O, 1, M, M]
        box = bbox_to_mask(bboxes, size)[:, :, 0]  # [B, O, H, W]
        # Pixel centres mapped into the rounded box (the same edges as the box mask) -> [-1, 1].
        edges = torch.round(bboxes.float() * size).flatten(0, 1)  # [B*O, 4]
        x0, y0, x1, y1 = edges.unbind(-1)
        x1, y1 = torch.maximum(x0 + 1, x1), torch.maximum(y0 + 1, y1)
        centres = torch.arange(size, device=style.device, dtype=torch.float32) + 0.5
        gx = 2 * (centres[None] - x0[:, None]) / (x1 - x0)[:, None] - 1  # [B*O, W]
        gy = 2 * (centres[None] - y0[:, None]) / (y1 - y0)[:, None] - 1  # [B*O, H]
        grid = torch.stack([gx[:, None, :].expand(-1, size, -1), gy[:, :, None].expand(-1, -1, size)], -1)
        placed = F.grid_sample(shapes, grid, mode="bilinear", padding_mode="border", align_corners=False)
        masks = placed[:, 0].view(b, o, size, size) * box * obj_mask[..., None, None]
        return masks


def pixel_major(weights: torch.Tensor) -> torch.Tensor:
    """Mask weights arranged for the folded ISLA norm of inference: [B, O, H, W] -> [B, H*W, O+1], each
    pixel's object weights followed by a constant 1 (the column that carries the batch norm's own
    scale and shift)."""
    b, o, h, w = weights.shape
    return torch.cat([weights.flatten(2).transpose(1, 2), weights.new_ones(b, h * w, 1)], dim=2)


ISLA_INIT_STD = 0.005  # initial weights of the style -> (gamma, beta) projections


class IslaNorm(nn.Module):
    """Instance-sensitive, layout-aware normalisation (LostGAN ISLA-Norm).

    ``BatchNorm2d(C, affine=False)(x) * (1 + gamma) + beta`` with gamma, beta [B, C, H, W] the sum over
    objects of ``weights[b, o] * Linear(style[b, o])``. The Linear starts with zero bias and weights of
    std ``ISLA_INIT_STD``, so the modulation starts near the identity (|gamma|, |beta| ~ 0.01).

    Args:
        channels: C.
        style_dim: S.
    """

    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.proj = nn.Linear(style_dim, 2 * channels)
        nn.init.normal_(self.proj.weight, std=ISLA_INIT_STD)
        nn.init.zeros_(self.proj.bias)
        self._folded = DerivedCache()  # inference: the batch norm folded into proj (not in the state dict)

    def forward(self, x: torch.Tensor, style: torch.Tensor, weights: torch.Tensor,
                pixel_weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: [B, C, H, W]; style: [B, O, S]; weights: [B, O, H, W] -> [B, C, H, W].

        ``pixel_weights`` ([B, H*W, O+1], ``pixel_major(weights)``) may be passed by a caller that
        shares it between norms of one resolution; only inference (eval mode, no gradients needed)
        uses it and returns its result in channels-last memory format (the decoder's inference
        layout); whenever gradients are needed (training, or eval with gradients as the locality loss
        renders) the result is in x's memory format.
        """
        if self.training or self.bn.running_var is None or not no_grad_needed(self.proj.weight):
            gb = self.proj(style).to(x.dtype)  # [B, O, 2C]
            maps = torch.einsum("bohw,boc->bchw", weights.to(x.dtype), gb)  # [B, 2C, H, W]
            gamma, beta = maps.chunk(2, dim=1)
            return self.bn(x) * (1 + gamma) + beta
        # Inference: bn(x) = a x + c (running statistics), so the output is x * (a + sum_o w_o a g_o)
        # + (c + sum_o w_o (c g_o + q_o)) with (g_o, q_o) = proj(style_o): one linear map of the style,
        # one batched matmul over the objects and a constant 1 (carrying (a, c)), one fused multiply-add.
        # The matmul's [B, H*W, 2C] product is the channels-last layout of the [B, 2C, H, W] maps.
        w, b, const = self._folded.get((self.proj.weight, self.proj.bias, self.bn.running_mean, self.bn.running_var),
                                       self._fold)
        n, c, h, wd = x.shape
        if pixel_weights is None:
            pixel_weights = pixel_major(weights)
        gb = F.linear(style.to(w.dtype), w, b)  # [B, O, 2C]
        gb = torch.cat([gb, const.expand(n, 1, 2 * c)], dim=1).to(x.dtype)  # [B, O+1, 2C]
        maps = torch.bmm(pixel_weights.to(x.dtype), gb).view(n, h, wd, 2 * c).permute(0, 3, 1, 2)
        return torch.addcmul(maps[:, c:], x.contiguous(memory_format=torch.channels_last), maps[:, :c])

    def _fold(self):
        """(weight [2C, S], bias [2C], const [2C]) of the folded map (float32, detached)."""
        with torch.no_grad():
            a = torch.rsqrt(self.bn.running_var.float() + self.bn.eps)
            c = -self.bn.running_mean.float() * a
            wg, wq = self.proj.weight.float().chunk(2, dim=0)
            bg, bq = self.proj.bias.float().chunk(2, dim=0)
            w = torch.cat([a[:, None] * wg, c[:, None] * wg + wq])
            b = torch.cat([a * bg, c * bg + bq])
            return w, b, torch.cat([a, c])


# Nearest x2 up-sampling then a 3x3 conv (padding 1) maps each output pixel's 3 taps per axis onto 2
# input pixels: output 2a takes x[a-1] * w0 + x[a] * (w1 + w2), output 2a+1 takes x[a] * (w0 + w1) +
# x[a+1] * w2. That is a stride-2 transposed conv with the 4-tap kernel (w2, w1 + w2, w0 + w1, w0) per
# axis and padding 1: _UP_TAPS maps the 3 taps onto the 4.
_UP_TAPS = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def upsample_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The stride-2 transposed-conv kernel [Cin, Cout, 4, 4] of nearest x2 + a 3x3 conv of
    ``weight`` [Cout, Cin, 3, 3] (``_UP_TAPS``), in the weight's dtype: computed with autocast off, so
    a kernel made (and cached) during a bf16 render is not bf16 (autocast casts it per call)."""
    taps = _UP_TAPS.to(weight.device, weight.dtype)
    with torch.autocast(weight.device.type, enabled=False):
        return torch.einsum("ka,lb,oiab->iokl", taps, taps, weight)


def upsample_conv3x3(x: torch.Tensor, conv: nn.Conv2d, kernel: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``conv(F.interpolate(x, scale_factor=2, mode="nearest"))`` for a 3x3, stride 1, padding 1 conv,
    computed at the input's resolution as one stride-2 transposed conv with the equivalent 4x4 kernel
    (``_UP_TAPS``): the same function (the constrained kernel cannot paint a checkerboard), 16/36 of
    the multiply-adds and no up-sampled copy of ``x``; equal to the two-step form to float32 rounding
    (sums in another order; ``tests/test_isla.py``). On a 2-core CPU at batch 1, fp32, in isolation:
    1.8x (128 -> 128 channels, 8 -> 16 px) to 6x (64 -> 32, 32 -> 64 px) faster than the two steps
    (docs/benchmarks.md, 2026-12-06, second machine).

    Args:
        x: [B, Cin, H, W] float; conv: ``nn.Conv2d(Cin, Cout, 3, 1, 1)``; kernel: its
            ``upsample_kernel`` when the caller keeps one (else derived here).

    Returns:
        [B, Cout, 2H, 2W].
    """
    if kernel is None:
        kernel = upsample_kernel(conv.weight)
    return F.conv_transpose2d(x, kernel, conv.bias, stride=2, padding=1)


def add_upsampled(r: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``r + F.interpolate(s, scale_factor=2, mode="nearest")`` without the up-sampled copy of ``s``
    (a broadcast over 2x2 blocks; the same sums).

    Args:
        r: [B, C, 2H, 2W]; s: [B, C, H, W].

    Returns:
        [B, C, 2H, 2W].
    """
    b, c, h, w = s.shape
    return (r.unflatten(3, (w, 2)).unflatten(2, (h, 2)) + s[:, :, :, None, :, None]).flatten(4, 5).flatten(2, 3)


def inference_conv(conv: nn.Conv2d, x: torch.Tensor, cache: DerivedCache) -> torch.Tensor:
    """``conv(x)`` for the channels-last inference decoder: when no gradient is needed the weight is
    taken from ``cache`` as a channels-last copy, so oneDNN does not reorder it on every call (a 3x3
    128 -> 128 conv at 8 px: 0.32 -> 0.18 ms on a 2-core AVX2 CPU, docs/benchmarks.md 2026-12-07);
    otherwise ``conv(x)`` itself. The same function to float rounding (oneDNN may sum in another
    order: ~1e-7); the module's forward hooks are not run on the cached path.

    Args:
        conv: an ``nn.Conv2d`` (any padding mode: ``_conv_forward`` applies it); x: [B, Cin, H, W];
            cache: this conv's own ``DerivedCache``.

    Returns:
        [B, Cout, H', W'] (channels-last when ``x`` is).
    """
    w = conv.weight
    if not no_grad_needed(w):
        return conv(x)
    w_cl = cache.get((w,), lambda: w.detach().contiguous(memory_format=torch.channels_last))
    return conv._conv_forward(x, w_cl, conv.bias)


class UpBlock(nn.Module):
    """Residual x2 up-sampling block with ISLA norms (LostGAN ``ResBlock``, nearest up + 3x3 convs).

    Args:
        cin, cout: channels in and out.
        style_dim: S.
    """

    def __init__(self, cin: int, cout: int, style_dim: int):
        super().__init__()
        self.norm1 = IslaNorm(cin, style_dim)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = IslaNorm(cout, style_dim)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        # inference only, not in the state dict: conv1's upsample_kernel and conv2's weight, both
        # channels-last (inference_conv; a 1x1 weight already is, so the shortcut needs no copy)
        self._up_kernel = DerivedCache()
        self._conv2_cl = DerivedCache()

    def forward(self, x: torch.Tensor, style: torch.Tensor, w_in: torch.Tensor, w_out: torch.Tensor,
                p_in: Optional[torch.Tensor] = None, p_out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: [B, Cin, H, W]; style: [B, O, S]; w_in: [B, O, H, W]; w_out: [B, O, 2H, 2W] -> [B, Cout, 2H, 2W].

        p_in, p_out: optional ``pixel_major`` forms of w_in, w_out for the inference norms (IslaNorm).
        Inference without gradients works in channels-last memory format throughout (oneDNN's convs
        then need no reorders: the decoder runs ~20 % faster than in NCHW on a 2-core AVX2 CPU,
        docs/benchmarks.md); eval mode with gradients takes the same branch in x's memory format.
        """
        if self.training:  # the two-step form, as trained
            a = F.relu(self.norm1(x, style, w_in))
            r = self.conv1(F.interpolate(a, scale_factor=2, mode="nearest"))
            r = self.conv2(F.relu(self.norm2(r, style, w_out)))
            # A 1x1 conv commutes with nearest up-sampling: apply it at the lower resolution (4x cheaper).
            return add_upsampled(r, self.shortcut(x))
        # inference: the same function, the up-sampling conv at the low resolution (upsample_conv3x3)
        a = self.norm1(x, style, w_in, p_in).relu_()  # in place: the norm's output is a fresh tensor
        w = self.conv1.weight
        kernel = None
        if no_grad_needed(w):  # channels-last, as the input: oneDNN then reorders nothing per call
            kernel = self._up_kernel.get((w,), lambda: upsample_kernel(w.detach()).contiguous(
                memory_format=torch.channels_last))
        r = upsample_conv3x3(a, self.conv1, kernel)
        r = inference_conv(self.conv2, self.norm2(r, style, w_out, p_out).relu_(), self._conv2_cl)
        return r + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


@dataclass
class StyleLayout:
    """What the ISLA decoder needs of a layout: style [B, O, S] and the composed mask weights at
    8, 16, 32, 64 px (each [B, O, R, R])."""

    style: torch.Tensor
    weights: List[torch.Tensor]


class StyleDecoder(nn.Module):
    """conv3x3 stem at 8x8 -> three ``UpBlock`` (8 -> 16 -> 32 -> 64) -> ISLA -> ReLU -> conv3x3 -> tanh.

    Widths: ``cfg.decoder_widths`` = (stem, 16 px, 32 px, 64 px). The style of an object is
    [obj_emb, z_obj] (the composer's vector, spec §4.4) through a 2-layer MLP.

    Args:
        cfg: a ModelConfig with ``decoder_kind == "isla"``.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        w = cfg.decoder_widths
        s = cfg.embedding_dim + cfg.z_dim
        self.cfg = cfg
        self.style_mlp = nn.Sequential(nn.Linear(s, cfg.isla_hidden), nn.ReLU(),
                                       nn.Linear(cfg.isla_hidden, cfg.isla_hidden))
        sd = cfg.isla_hidden
        self.masks = ObjectMasks(s, cfg.isla_hidden, cfg.mask_size, cfg.image_size)
        self.stem = nn.Conv2d(cfg.clstm_hidden[-1], w[0], 3, 1, 1)
        self.blocks = nn.ModuleList([UpBlock(w[0], w[1], sd), UpBlock(w[1], w[2], sd), UpBlock(w[2], w[3], sd)])
        self.norm_out = IslaNorm(w[3], sd)
        self.conv_out = nn.Conv2d(w[3], 3, 3, 1, 1)
        self._stem_cl = DerivedCache()  # inference: channels-last weights (inference_conv)
        self._conv_out_cl = DerivedCache()

    def object_parts(self, obj_emb: torch.Tensor, z_obj: torch.Tensor, bboxes: torch.Tensor,
                     obj_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """What each object brings to the decoder, before the objects meet: its style and its placed
        soft mask. An object's pair depends on that object alone (category, z, box), so the edit path
        (``edit_cache.py``) keeps them per object and recomputes only the changed one.

        Args:
            obj_emb: [B, O, E]; z_obj: [B, O, Z]; bboxes: [B, O, 4] in [0, 1]; obj_mask: [B, O] bool.

        Returns:
            (style [B, O, S'], masks [B, O, 64, 64] in [0, 1], zero outside each box and for padding).
        """
        v = torch.cat([obj_emb, z_obj.to(obj_emb.dtype)], dim=-1)  # [B, O, S]
        return self.style_mlp(v), self.masks(v, bboxes, obj_mask)

    def compose_layout(self, style: torch.Tensor, masks: torch.Tensor) -> StyleLayout:
        """The objects' parts (``object_parts``) composed into a layout: occlusion in layout order
        (``compose_masks``), then the weights average-pooled to 8, 16 and 32 px.

        Args:
            style: [B, O, S']; masks: [B, O, 64, 64].
        """
        w64 = compose_masks(masks)  # [B, O, 64, 64]
        b, o = w64.shape[:2]
        flat = w64.flatten(0, 1)[:, None]
        weights = [F.avg_pool2d(flat, k)[:, 0].view(b, o, 64 // k, 64 // k) for k in (8, 4, 2)] + [w64]
        return StyleLayout(style, weights)

    def style_layout(self, obj_emb: torch.Tensor, z_obj: torch.Tensor, bboxes: torch.Tensor,
                     obj_mask: torch.Tensor) -> StyleLayout:
        """Style vectors and composed mask weights of padded layouts (``object_parts`` then
        ``compose_layout``).

        Args:
            obj_emb: [B, O, E]; z_obj: [B, O, Z]; bboxes: [B, O, 4] in [0, 1]; obj_mask: [B, O] bool.
        """
        return self.compose_layout(*self.object_parts(obj_emb, z_obj, bboxes, obj_mask))

    def forward(self, h: torch.Tensor, layout: StyleLayout) -> torch.Tensor:
        """h: [B, Ch, 8, 8] layout feature -> image [B, 3, 64, 64] in [-1, 1]."""
        assert_shape(h, [None, self.stem.in_channels, 8, 8], "h")
        weights = layout.weights
        pixel: List[Optional[torch.Tensor]] = [None] * len(weights)
        inference = not self.training and no_grad_needed(self.norm_out.proj.weight)
        if inference:
            # inference: channels-last throughout (UpBlock), each resolution's pixel-major weights once
            pixel = [pixel_major(w) for w in weights]
            x = inference_conv(self.stem, h.contiguous(memory_format=torch.channels_last), self._stem_cl)
        else:
            x = self.stem(h)
        for i, block in enumerate(self.blocks):
            x = block(x, layout.style, weights[i], weights[i + 1], pixel[i], pixel[i + 1])
        x = F.relu(self.norm_out(x, layout.style, weights[3], pixel[3]))
        if not inference:
            return torch.tanh(self.conv_out(x))
        return torch.tanh(inference_conv(self.conv_out, x, self._conv_out_cl)).contiguous()  # callers get NCHW
