"""Tensors derived from a module's weights for inference (split, cast to the compute dtype, batch norm
folded in), computed once and reused until a source tensor changes.

Only no-grad callers use them: a training forward derives its tensors afresh so gradients reach the
parameters. A source "changes" when its storage, version counter (bumped by every in-place update:
optimiser steps, ``load_state_dict``), dtype or device does, so a cache can never serve stale
weights, as long as every update bumps the version counter. Writes through ``p.data`` and, in torch
2.13, ``torch.optim.Adam(..., fused=True)`` steps do not, and would leave a cache stale; the trainer
uses the default (non-fused) Adam and EMA ``lerp_``, which do.
The cache is a plain attribute: it is not part of the state dict.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch


def no_grad_needed(*params: torch.Tensor) -> bool:
    """True when no gradient can flow to ``params`` in the current mode (no-grad or inference mode,
    or parameters that do not require grad): derived tensors may then be cached."""
    return not torch.is_grad_enabled() or not any(p.requires_grad for p in params)


def compute_dtype(device_type: str, default: torch.dtype) -> torch.dtype:
    """The dtype convolutions run in here: the autocast dtype when autocast is on for
    ``device_type`` ("cpu", "cuda"), else ``default`` (the weights' dtype)."""
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return default


def is_channels_last(t: torch.Tensor) -> bool:
    """True for a 4-d tensor stored channels-last (and not also plain contiguous, as 1x1 maps are)."""
    return t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


class DerivedCache:
    """One cached value derived from a few source tensors.

    ``get(sources, make, *extra)`` returns ``make()``'s value, recomputed only when a source tensor
    (storage, version, dtype, device) or one of ``extra`` (plain hashable values, e.g. a dtype)
    differs from the previous call.
    """

    def __init__(self):
        self._key: Optional[tuple] = None
        self._value: Any = None

    def get(self, sources: Sequence[torch.Tensor], make: Callable[[], Any], *extra) -> Any:
        key = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in sources) + extra
        if key != self._key:
            self._value = None  # free the old value before building the new one
            self._value = make()
            self._key = key
        return self._value

    def clear(self) -> None:
        self._key, self._value = None, None

    def __deepcopy__(self, memo):  # copies of a module (EMA, exports) start with an empty cache
        return DerivedCache()
