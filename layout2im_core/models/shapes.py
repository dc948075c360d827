"""Shape checks at the public ``forward`` of each network (after stylegan2-ada-pytorch's
``torch_utils/misc.py: assert_shape``)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch


def assert_shape(tensor: torch.Tensor, shape: Sequence[Optional[int]], name: str = "tensor") -> None:
    """Raise ValueError unless ``tensor`` has ``len(shape)`` dims and each non-None entry matches.

    Example: ``assert_shape(h, [None, 32, 8, 8], "h")``.
    """
    if tensor.ndim != len(shape):
        raise ValueError(f"{name} must have {len(shape)} dimensions {list(shape)}, got {tuple(tensor.shape)}")
    for i, (got, want) in enumerate(zip(tensor.shape, shape)):
        if want is not None and got != want:
            raise ValueError(f"{name} dimension {i} must be {want}, got {got} (shape {tuple(tensor.shape)}, "
                             f"expected {list(shape)})")
