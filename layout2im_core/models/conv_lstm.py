"""Batched convolutional LSTM: the object fuser of the layout encoder (spec §4.4 step 3).

The reference runs every image's objects one at a time with batch size 1. Here all images of a batch
run at once over padded object sequences: at a padded step (``obj_mask`` False) an image's h and c are
kept unchanged, which gives the same result as running each image's own sequence alone.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

State = List[Tuple[torch.Tensor, torch.Tensor]]  # per layer (h, c), each [B, Ch, H, W]


class ConvLSTMCell(nn.Module):
    """One conv over concat(input, h) -> 4*Ch gates in the order input, forget, output, candidate;
    c' = f*c + i*g, h' = o*tanh(c'). No peepholes, no normalisation. Name ``conv`` matches the
    official state dict."""

    def __init__(self, in_channels: int, hidden: int, kernel: int):
        super().__init__()
        self.hidden = hidden
        self.conv = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, 1, kernel // 2, bias=True)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: [B, Cin, H, W]; h, c: [B, Ch, H, W] -> (h', c') [B, Ch, H, W]. c is kept in float32."""
        gates = self.conv(torch.cat([x, h.to(x.dtype)], dim=1))  # [B, 4Ch, H, W]
        i, f, o, g = gates.float().chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        return h_new, c_new


class ConvLSTM(nn.Module):
    """Stacked conv-LSTM (1-3 layers), hidden sizes e.g. (128, 64, 64), kernel 5 (spec §4.4).

    Layer k consumes the hidden state of layer k-1 at the same step (equivalent to the reference's
    layer-by-layer pass over the whole sequence). Names ``cell_list.<k>.conv`` match the official code.
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
        """Advance every layer by one object.

        Args:
            x: [B, Cin, H, W] features of the current object of each image.
            state: per layer (h, c), [B, Ch, H, W].
            step_mask: [B] bool, False where the image has no object at this step (state kept).

        Returns:
            The new state (a new list; tensors of ``state`` are not modified).
        """
        new_state: State = []
        inp = x
        for cell, (h, c) in zip(self.cell_list, state):
            h_new, c_new = cell(inp, h, c)
            if step_mask is not None:
                m = step_mask[:, None, None, None]
                h_new = torch.where(m, h_new, h)
                c_new = torch.where(m, c_new, c)
            new_state.append((h_new, c_new))
            inp = h_new
        return new_state

    def forward(self, feats: torch.Tensor, obj_mask: torch.Tensor, state: Optional[State] = None,
                start: int = 0, keep_states: bool = False):
        """Run the sequence and read out the last layer's h after the last object.

        Args:
            feats: [B, O, Cin, H, W] per-object features, padded.
            obj_mask: [B, O] bool, True for real objects.
            state: initial state (zeros if None), e.g. a cached state after step ``start - 1``.
            start: first step to run (steps before it are taken as already folded into ``state``).
            keep_states: also return the state after every step run (for the fast edit path).

        Returns:
            h: [B, Ch_last, H, W] float32; with keep_states, (h, [state after step t for t >= start]).
        """
        b, o = feats.shape[:2]
        if state is None:
            state = self.initial_state(b, feats.shape[-1], feats.device)
        states = []
        for t in range(start, o):
            m = obj_mask[:, t]
            state = self.step(feats[:, t], state, None if bool(m.all()) else m)
            if keep_states:
                states.append(state)
        h = state[-1][0]
        return (h, states) if keep_states else h
