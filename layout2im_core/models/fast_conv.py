"""Convolutions computed another way where that is much faster on CPU than oneDNN's kernels.

A convolution with a tiny output (a few pixels per image, such as the crop encoder's last conv and
the object discriminator's last block: 4x4 -> 2x2) is one matrix product over the unfolded input.
oneDNN's backward for such shapes is slow (measured ~230 ms against ~65 ms forward + backward in
bf16 for 64 crops, 512 -> 1024 channels, 4x4 kernel, on a 2-core AVX512-BF16 EPYC, one thread); the
matmul form runs both directions as large GEMMs.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

MATMUL_MAX_OUTPUT_PIXELS = 4  # output H*W up to which the matmul form is used on CPU

Pair = Union[int, Tuple[int, int]]


def _pair(v: Pair) -> Tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, stride: Pair = 1,
           padding: Pair = 0) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)`` (groups 1, dilation 1, zero padding); on CPU,
    when the output has at most ``MATMUL_MAX_OUTPUT_PIXELS`` pixels, computed as unfold + one matmul
    (same math, sums in another order).

    Args:
        x: [N, Cin, H, W] float; weight: [Cout, Cin, kh, kw]; bias: [Cout] or None.

    Returns:
        [N, Cout, Ho, Wo] in the compute dtype (bf16 under bf16 autocast), as ``F.conv2d`` (the
        matmul form returns it channels-last in memory).
    """
    k, s, p = weight.shape[-2:], _pair(stride), _pair(padding)
    ho = (x.shape[-2] + 2 * p[0] - k[0]) // s[0] + 1
    wo = (x.shape[-1] + 2 * p[1] - k[1]) // s[1] + 1
    if x.device.type != "cpu" or ho * wo > MATMUL_MAX_OUTPUT_PIXELS:
        return F.conv2d(x, weight, bias, s, p)
    n = x.shape[0]
    cols = F.unfold(x, tuple(k), padding=p, stride=s).transpose(1, 2).reshape(n * ho * wo, -1)  # [N*Ho*Wo, Cin*kh*kw]
    out = cols @ weight.flatten(1).t() if bias is None else torch.addmm(bias, cols, weight.flatten(1).t())
    return out.view(n, ho, wo, -1).permute(0, 3, 1, 2)  # [N, Cout, Ho, Wo], channels-last in memory


def conv2d_module(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` through :func:`conv2d` for a plain Conv2d (groups 1, dilation 1, zero padding);
    any other conv runs as itself."""
    if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        return conv(x)
    return conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
