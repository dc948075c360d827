"""Batched convolutional LSTM: the object fuser of the layout encoder (spec §4.4 step 3).

The reference runs every image's objects one at a time with batch size 1. Here all images of a batch
run at once over padded object sequences: at a padded step (``obj_mask`` False) an image's h and c are
kept unchanged, which gives the same result as running each image's own sequence alone.

The cell's one convolution over concat(input, h) is split along its input channels into an input
part and a recurrent part (same weights, same math; sums in another order, so fp32 results agree to
~1e-6). The input part does not depend on the state, so the layers run one after the other (layer k
consumes layer k-1's whole hidden sequence, as the reference's layer-by-layer pass) and each layer's
input convolution runs once for all steps of all images: one large, efficient convolution instead of
one small one per object. Only the small recurrent convolution stays in the per-step loop, and it is
skipped at the first step of a sequence (zero state).

A single step in inference (the edit of the last object: the state before it is cached and stays
the same while a slider of that object is dragged) keeps the recurrent share ``W_h * h`` of the last
state it saw (``ConvLSTMCell.memo_step``), so repeated edits compute only the input share.
"""

from __future__ import annotations

import weakref
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .frozen import DerivedCache, compute_dtype, no_grad_needed
from .shapes import assert_shape

State = List[Tuple[torch.Tensor, torch.Tensor]]  # per layer (h, c), each [B, Ch, H, W] float32

# Layout of the cached inference weights per compute dtype. Measured on a 2-core AVX512-BF16 EPYC (one
# thread, 8 objects): the batched input conv takes 39 ms plain vs 52 ms channels-last in fp32, and
# 28 ms plain vs 19 ms channels-last in bf16.
INFERENCE_CHANNELS_LAST = {torch.float32: False, torch.bfloat16: True}


class ConvLSTMCell(nn.Module):
    """One conv over concat(input, h) -> 4*Ch gates in the order input, forget, output, candidate;
    c' = f*c + i*g, h' = o*tanh(c'). No peepholes, no normalisation. Name ``conv`` matches the
    official state dict.

    Args:
        in_channels: Cin of the input; hidden: Ch; kernel: odd kernel side (padding kernel // 2).
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int):
        super().__init__()
        self.in_channels = in_channels
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, 1, kernel // 2, bias=True)
        self._frozen = DerivedCache()  # split weights (inference)
        self._frozen_full = DerivedCache()  # whole weights in the compute dtype (fused_step, frozen weights)
        self._memo: Optional[tuple] = None  # (weakref to h, w_h, W_h * h): memo_step's recurrent share

    def split_weights(self, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The conv's weights split by input: (w_x [4Ch, Cin, k, k], w_h [4Ch, Ch, k, k], bias [4Ch]),
        contiguous in ``dtype``. Without gradients (inference) they are made once and cached until the
        weights change, channels-last for bf16 (``INFERENCE_CHANNELS_LAST``); otherwise they are
        differentiable copies of ``conv``'s parameters (plain layout: faster for its backward)."""
        w, b = self.conv.weight, self.conv.bias
        if no_grad_needed(w, b):
            fmt = torch.channels_last if INFERENCE_CHANNELS_LAST.get(dtype, False) else torch.contiguous_format
            return self._frozen.get((w, b), lambda: self._split(w.detach(), b.detach(), dtype, fmt), dtype, fmt)
        return self._split(w, b, dtype, torch.contiguous_format)

    def _split(self, w, b, dtype, fmt):
        w_x, w_h = w.to(dtype).split([self.in_channels, self.hidden], dim=1)
        return w_x.contiguous(memory_format=fmt), w_h.contiguous(memory_format=fmt), b.to(dtype)

    def input_gates(self, x: torch.Tensor, w_x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The input's share of the gates, bias included: [N, Cin, H, W] -> float32 [N, 4Ch, H, W]."""
        return F.conv2d(x.to(w_x.dtype), w_x, bias, padding=self.conv.padding).float()

    def recur(self, gx: torch.Tensor, h: Optional[torch.Tensor], c: Optional[torch.Tensor],
              w_h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """One step from the input's gate share.

        Args:
            gx: float32 [B, 4Ch, H, W] from ``input_gates``.
            h, c: [B, Ch, H, W] float32 state, or None for the zero state (the recurrent conv is skipped).
            w_h: the recurrent weights from ``split_weights``.

        Returns:
            (h', c') float32 [B, Ch, H, W].
        """
        gates = gx if h is None else gx + F.conv2d(h.to(w_h.dtype), w_h, None, padding=self.conv.padding)
        return self.update(gates, c)

    def update(self, gates: torch.Tensor, c: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """gates [B, 4Ch, H, W] (i, f, o, g), c [B, Ch, H, W] float32 or None (zero) -> (h', c') float32."""
        ch = self.hidden
        gates = gates.float()
        i, f, o = torch.sigmoid(gates[:, :3 * ch]).chunk(3, dim=1)
        ig = i * torch.tanh(gates[:, 3 * ch:])
        c_new = ig if c is None else torch.addcmul(ig, f, c)  # f*c + i*g
        return o * torch.tanh(c_new), c_new

    def fused_step(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                   dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        """One step as the reference computes it, one conv over concat(x, h): fewer calls when a single
        step is run (an edit of the last object). x: [B, Cin, H, W]; h, c: [B, Ch, H, W] float32."""
        w, b = self.conv.weight, self.conv.bias
        if no_grad_needed(w, b):
            fmt = torch.channels_last if INFERENCE_CHANNELS_LAST.get(dtype, False) else torch.contiguous_format
            w, b = self._frozen_full.get((w, b), lambda: (w.detach().to(dtype).contiguous(memory_format=fmt),
                                                          b.detach().to(dtype)), dtype, fmt)
        else:
            w, b = w.to(dtype), b.to(dtype)
        return self.update(F.conv2d(torch.cat([x.to(dtype), h.to(dtype)], 1), w, b, padding=self.conv.padding), c)

    def memo_step(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
                  dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
        """One inference step (no gradients), the recurrent share ``W_h * h`` reused when the previous
        call had the same state tensor ``h`` (same object) and weights: then only the input share is
        computed. The same sums as the batched path's ``recur`` (input share + recurrent share).
        x: [B, Cin, H, W]; h, c: [B, Ch, H, W] float32 -> (h', c') float32."""
        w_x, w_h, bias = self.split_weights(dtype)
        memo = self._memo
        if memo is not None and memo[0]() is h and memo[1] is w_h:
            gh = memo[2]
        else:
            gh = F.conv2d(h.to(w_h.dtype), w_h, None, padding=self.conv.padding)
            self._memo = (weakref.ref(h), w_h, gh)
        return self.update(self.input_gates(x, w_x, bias) + gh, c)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: [B, Cin, H, W]; h, c: [B, Ch, H, W] -> (h', c') float32 [B, Ch, H, W]."""
        assert_shape(x, [None, self.in_channels, None, None], "x")
        assert_shape(h, [x.shape[0], self.hidden, x.shape[2], x.shape[3]], "h")
        assert_shape(c, list(h.shape), "c")
        w_x, w_h, bias = self.split_weights(compute_dtype(x.device.type, self.conv.weight.dtype))
        return self.recur(self.input_gates(x, w_x, bias), h, c, w_h)


class ConvLSTM(nn.Module):
    """Stacked conv-LSTM (1-3 layers), hidden sizes e.g. (128, 64, 64), kernel 5 (spec §4.4).

    Layer k consumes the hidden sequence of layer k-1 (the reference's layer-by-layer pass). Names
    ``cell_list.<k>.conv`` match the official code.
    """

    def __init__(self, in_channels: int, hidden: Sequence[int], kernel: int):
        super().__init__()
        ins = [in_channels] + list(hidden[:-1])
        self.cell_list = nn.ModuleList(ConvLSTMCell(i, h, kernel) for i, h in zip(ins, hidden))
        self.hidden = tuple(hidden)

    def initial_state(self, batch: int, size: int, device, dtype=torch.float32) -> State:
        """Zero (h, c) for every layer, each [batch, Ch, size, size]."""
        return [(torch.zeros(batch, h, size, size, device=device, dtype=dtype),
                 torch.zeros(batch, h, size, size, device=device, dtype=dtype)) for h in self.hidden]

    def step(self, x: torch.Tensor, state: State, step_mask: Optional[torch.Tensor] = None) -> State:
        """Advance every layer by one object (``forward`` with one step; kept for callers that step).

        Args:
            x: [B, Cin, H, W] features of the current object of each image.
            state: per layer (h, c), [B, Ch, H, W].
            step_mask: [B] bool, False where the image has no object at this step (state kept).

        Returns:
            The new state (a new list; tensors of ``state`` are not modified).
        """
        mask = torch.ones(x.shape[0], 1, dtype=torch.bool, device=x.device) if step_mask is None else step_mask[:, None]
        _, states = self.forward(x[:, None], mask, state=state, keep_states=True)
        return states[0]

    def forward(self, feats: torch.Tensor, obj_mask: torch.Tensor, state: Optional[State] = None,
                start: int = 0, keep_states: bool = False):
        """Run the sequence and read out the last layer's h after the last object.

        Args:
            feats: [B, O, Cin, H, W] per-object features, padded (any float dtype).
            obj_mask: [B, O] bool, True for real objects.
            state: initial state (zeros if None), e.g. a cached state after step ``start - 1``.
            start: first step to run (steps before it are taken as already folded into ``state``).
            keep_states: also return the state after every step run (for the fast edit path).

        Returns:
            h: [B, Ch_last, H, W] float32; with keep_states, (h, [state after step t for t >= start]).

        Raises:
            ValueError: no step to run (``start`` >= O) and no ``state`` to read out.
        """
        assert_shape(feats, [None, None, self.cell_list[0].in_channels, None, None], "feats")
        b, o = feats.shape[:2]
        assert_shape(obj_mask, [b, o], "obj_mask")
        steps = o - start
        if steps <= 0:
            if state is None:
                raise ValueError("the conv-LSTM needs at least one object or a state")
            return (state[-1][0], []) if keep_states else state[-1][0]
        size = feats.shape[-2:]
        valid = obj_mask[:, start:]  # [B, T]
        all_valid = valid.all(0).tolist()  # per step: no padding in any image
        dtype = compute_dtype(feats.device.type, self.cell_list[0].conv.weight.dtype)
        if steps == 1 and state is not None:  # nothing to batch: one conv per layer, as the reference
            inp, new_state = feats[:, start], []
            for cell, (h, c) in zip(self.cell_list, state):
                if no_grad_needed(cell.conv.weight, cell.conv.bias, inp, h, c):
                    h_new, c_new = cell.memo_step(inp, h, c, dtype)
                else:
                    h_new, c_new = cell.fused_step(inp, h, c, dtype)
                if not all_valid[0]:
                    m = valid[:, 0, None, None, None]
                    h_new, c_new = torch.where(m, h_new, h), torch.where(m, c_new, c)
                new_state.append((h_new, c_new))
                inp = h_new
            return (new_state[-1][0], [new_state]) if keep_states else new_state[-1][0]
        inp = feats[:, start:].flatten(0, 1)  # [B*T, Cin, H, W]
        per_layer: List[Tuple[List[torch.Tensor], List[torch.Tensor]]] = []
        for k, cell in enumerate(self.cell_list):
            w_x, w_h, bias = cell.split_weights(dtype)
            gx = cell.input_gates(inp, w_x, bias).view(b, steps, -1, *size).unbind(1)  # T x [B, 4Ch, H, W]
            h, c = (None, None) if state is None else state[k]
            hs, cs = [], []
            for t in range(steps):
                h_new, c_new = cell.recur(gx[t], h, c, w_h)
                if not all_valid[t]:  # keep the state of images without an object at this step
                    m = valid[:, t, None, None, None]
                    h_new = torch.where(m, h_new, h if h is not None else torch.zeros_like(h_new))
                    c_new = torch.where(m, c_new, c if c is not None else torch.zeros_like(c_new))
                h, c = h_new, c_new
                hs.append(h)
                cs.append(c)
            per_layer.append((hs, cs))
            if k + 1 < len(self.cell_list):
                inp = torch.stack(hs, 1).flatten(0, 1)  # [B*T, Ch, H, W]
        h_last = per_layer[-1][0][-1]
        if not keep_states:
            return h_last
        states = [[(hs[t], cs[t]) for hs, cs in per_layer] for t in range(steps)]
        return h_last, states
