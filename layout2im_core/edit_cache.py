"""The fast edit path of inference (spec §4.4): per-object features (composer + conv stack) are cached
by (category, box mask, z), and the conv-LSTM state after every object of the last layout is kept, so
when one object changes only the objects from the first changed one onward are re-fused. With the
isla decoder each object's style and placed mask (``StyleDecoder.object_parts``) are cached beside its
features, so only the occlusion and pooling of the masks are redone for the whole layout. The result
equals a full forward (``tests/test_inference.py``, ``tests/test_fast_paths.py``).
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np
import torch

from .models.generator import Generator


@dataclass
class _ObjectEntry:
    """What one object contributes, cached: its features [C4, 8, 8]; with the isla decoder also its
    style [S'] and placed mask [64, 64] (``StyleDecoder.object_parts``), else None."""

    features: torch.Tensor
    style: Optional[torch.Tensor] = None
    mask: Optional[torch.Tensor] = None


@dataclass
class _LastLayout:
    keys: List[tuple] = field(default_factory=list)
    states: list = field(default_factory=list)  # conv-LSTM state after each object
    image: Optional[np.ndarray] = None


class EditCache:
    """Object features and conv-LSTM states of the last rendered layout for one generator.

    Args:
        G: the generator (eval mode).  size: its image side (box masks are size x size).
        feature_cache_size: object features kept at least (least recently used go first).
    """

    def __init__(self, G: Generator, size: int, feature_cache_size: int = 512):
        self.G = G
        self.size = size
        self.feature_cache_size = feature_cache_size
        self.clear()

    def clear(self) -> None:
        """Forget the cached per-object entries (features; styles and masks) and conv-LSTM states."""
        self._entries: "OrderedDict[tuple, _ObjectEntry]" = OrderedDict()
        self._last = _LastLayout()

    def _object_key(self, obj_id: int, bbox: torch.Tensor, z: torch.Tensor) -> tuple:
        # The box enters the model only through its size x size mask, so the key uses the mask's edges.
        edges = torch.round(bbox * self.size).to(torch.int64).tolist()
        return (obj_id, tuple(edges), z.numpy().tobytes())

    def _entries_for(self, keys, objs, bboxes, zs, dev: torch.device,
                     autocast: Callable[[], AbstractContextManager]) -> List[_ObjectEntry]:
        """Per-object cache entries, from the cache or computed in one batch."""
        missing = [i for i, k in enumerate(keys) if k not in self._entries]
        if missing:
            idx = torch.tensor(missing)
            o, b, z = objs[idx].to(dev), bboxes[idx].to(dev), zs[idx].to(dev)
            le = self.G.layout_encoder
            style = masks = None
            with autocast():
                f = le.object_features(o, b, z)
                if self.G.cfg.decoder_kind == "isla":
                    ones = torch.ones(1, len(missing), dtype=torch.bool, device=dev)
                    style, masks = self.G.decoder.object_parts(le.embedding(o)[None], z[None], b[None], ones)
            for j, i in enumerate(missing):  # clones: an evicted entry must not keep its batch alive
                self._entries[keys[i]] = _ObjectEntry(f[j].clone(), None if style is None else style[0, j].clone(),
                                                      None if masks is None else masks[0, j].clone())
        entries = []
        for k in keys:
            self._entries.move_to_end(k)
            entries.append(self._entries[k])
        while len(self._entries) > max(self.feature_cache_size, 2 * len(keys)):
            self._entries.popitem(last=False)
        return entries

    def render(self, objs: torch.Tensor, bboxes: torch.Tensor, zs: torch.Tensor, dev: torch.device,
               autocast: Callable[[], AbstractContextManager],
               to_unit: Callable[[torch.Tensor], np.ndarray]) -> np.ndarray:
        """Render one layout through the cache (call without gradients, under the model's lock).

        Args:
            objs: [O] int64; bboxes: [O, 4] float32; zs: [O, Z] float32, all on the CPU.
            dev: the generator's device.  autocast: the model's precision context.
            to_unit: [1, 3, H, W] model space -> float32 [1, H, W, 3] in [0, 1].

        Returns:
            float32 [H, W, 3] in [0, 1] (a copy).
        """
        keys = [self._object_key(int(o), b, z) for o, b, z in zip(objs, bboxes, zs)]
        prev = self._last
        first = next((i for i, (a, b) in enumerate(zip(keys, prev.keys)) if a != b), min(len(keys), len(prev.keys)))
        if first == len(keys) == len(prev.keys) and prev.image is not None:
            return prev.image.copy()
        entries = self._entries_for(keys, objs, bboxes, zs, dev, autocast)
        # the layout on the device before any model work is queued (a blocking copy then waits for nothing)
        objs_d, bboxes_d, zs_d = objs[None].to(dev), bboxes[None].to(dev), zs[None].to(dev)
        le = self.G.layout_encoder
        state = prev.states[first - 1] if first > 0 else None
        states = []
        with autocast():
            if first < len(keys):
                seq = torch.stack([e.features for e in entries[first:]])[None]  # [1, T, C4, 8, 8]
                h, states = le.clstm(seq, torch.ones(1, seq.shape[1], dtype=torch.bool, device=dev),
                                     state=state, keep_states=True)
            else:  # objects were only removed from the end: the state after the last one is cached
                assert state is not None  # first == len(keys) > 0 here
                h = state[-1][0]
            style_layout = None
            if self.G.cfg.decoder_kind == "isla":  # the cached parts, composed: no style or mask recomputed
                style_layout = self.G.decoder.compose_layout(torch.stack([e.style for e in entries])[None],
                                                             torch.stack([e.mask for e in entries])[None])
            ones = torch.ones(1, len(keys), dtype=torch.bool, device=dev)
            img = self.G.decode(le.bottleneck(h), objs_d, bboxes_d, zs_d, ones, style_layout=style_layout)
        image = to_unit(img)[0]
        self._last = _LastLayout(keys, prev.states[:first] + states, image)
        return image.copy()
