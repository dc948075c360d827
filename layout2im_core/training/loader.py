"""Resumable data order: per-epoch permutations and per-sample object shuffles derived from
(seed, epoch, index) only, never from the global RNG, so a run resumed mid-epoch reads exactly the
batches the uninterrupted run would have read (with any number of DataLoader workers).

    epoch e, rank r:  DistributedSampler(seed, epoch=e) order for rank r, minus the batches done
    item (e, i):      objects put in a canonical order, then permuted with a generator seeded by
                      (seed, e, i)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from ..data.collate import Batch, collate_batch

_MASK63 = (1 << 63) - 1


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (splitmix-style mixing; stable across processes and versions)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
    return h & _MASK63


class SeededObjectOrder(Dataset):
    """Wraps a dataset of batch-contract items; keys are ``(epoch, index)`` pairs.

    ``order`` (``TrainConfig.object_order``):
        ``shuffle``    objects sorted into a canonical order (by id, then bbox: undoing any shuffle of
                       the wrapped reader), then permuted by a generator seeded with
                       ``mix_seed(seed, epoch, index)`` (spec §7.1: random order).
        ``canonical``  the canonical order, unpermuted (sample grids, directions).
        ``file``       the reader's order (the procedural scenes' drawing order, back to front).
        ``area``       largest box first (ties: canonical), so smaller objects are fused and stacked later.

    With ``hflip`` the image and its boxes are mirrored left-right for half of the keys (seeded by
    ``mix_seed(seed, epoch, index, 0xF1)``). ``shuffle=False`` is the old spelling of
    ``order="canonical"``.
    """

    def __init__(self, dataset: Dataset, seed: int, shuffle: bool = True, order: Optional[str] = None,
                 hflip: bool = False):
        self.dataset, self.seed, self.hflip = dataset, seed, hflip
        self.order = order or ("shuffle" if shuffle else "canonical")
        if self.order not in ("shuffle", "canonical", "file", "area"):
            raise ValueError(f"unknown object order {self.order!r}")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Tuple[int, int]) -> Dict[str, torch.Tensor]:
        epoch, index = key
        item = dict(self.dataset[index])
        objs, bboxes = item["objs"], item["bboxes"]
        n = int(objs.shape[0])
        if n > 1 and self.order != "file":
            order = sorted(range(n), key=lambda j: (int(objs[j]), *bboxes[j].tolist()))
            if self.order == "shuffle":
                g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, index))
                perm = torch.randperm(n, generator=g).tolist()
                order = [order[j] for j in perm]
            elif self.order == "area":
                area = ((bboxes[:, 2] - bboxes[:, 0]) * (bboxes[:, 3] - bboxes[:, 1])).tolist()
                order = sorted(order, key=lambda j: -area[j])
            idx = torch.tensor(order, dtype=torch.int64)
            item["objs"], item["bboxes"] = objs[idx], bboxes[idx]
        if self.hflip and mix_seed(self.seed, epoch, index, 0xF1) & 1:
            bb = item["bboxes"]
            item["bboxes"] = torch.stack([1 - bb[:, 2], bb[:, 1], 1 - bb[:, 0], bb[:, 3]], dim=1)
            item["img"] = item["img"].flip(-1)
        return item


class _KeySampler(Sampler):
    """Yields ``(epoch, index)`` for a fixed index list."""

    def __init__(self, epoch: int, indices: Sequence[int]):
        self.epoch, self.indices = epoch, list(indices)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        return iter((self.epoch, i) for i in self.indices)

    def __len__(self) -> int:
        return len(self.indices)


@dataclass
class DataPosition:
    """Where the data stream stands: ``batch`` batches of ``epoch`` are done."""

    epoch: int = 0
    batch: int = 0


class ResumableLoader:
    """Endless batch stream over epochs, resumable at any (epoch, batch).

    Each epoch uses ``DistributedSampler(shuffle=True, seed=seed)`` with ``set_epoch(epoch)`` (for a
    single process: one replica), keeps the last smaller batch (as the reference), and builds a fresh
    DataLoader (the reference re-creates its iterator every epoch too).

    Args:
        dataset: batch-contract items.
        batch_size: images per batch and process.
        seed: data-order seed (shared by all ranks: they see disjoint shards of one permutation).
        rank / world_size: this process's shard.
        num_workers: DataLoader workers; pin_memory: for CUDA.
        position: where to start.
        order / hflip: object order and mirroring of the items (``SeededObjectOrder``).
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 num_workers: int = 0, pin_memory: bool = False, position: DataPosition = DataPosition(),
                 order: str = "shuffle", hflip: bool = False):
        if len(dataset) == 0:
            raise ValueError("the training data set is empty")
        self.keyed = SeededObjectOrder(dataset, seed, order=order, hflip=hflip)
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                          drop_last=False)
        self.batch_size, self.seed, self.num_workers, self.pin_memory = batch_size, seed, num_workers, pin_memory
        self.position = DataPosition(position.epoch, position.batch)

    def _epoch_indices(self, epoch: int) -> List[int]:
        self.sampler.set_epoch(epoch)
        return list(iter(self.sampler))

    def __iter__(self) -> Iterator[Batch]:
        while True:
            pos = self.position
            indices = self._epoch_indices(pos.epoch)[pos.batch * self.batch_size:]
            loader = DataLoader(self.keyed, batch_size=self.batch_size, sampler=_KeySampler(pos.epoch, indices),
                                num_workers=self.num_workers, collate_fn=collate_batch, pin_memory=self.pin_memory,
                                generator=torch.Generator().manual_seed(mix_seed(self.seed, pos.epoch)),
                                worker_init_fn=_ignore_stop_signals if self.num_workers else None)
            for batch in loader:
                self.position = DataPosition(pos.epoch, self.position.batch + 1)
                yield batch
            self.position = DataPosition(pos.epoch + 1, 0)


def _ignore_stop_signals(_worker_id: int) -> None:
    """DataLoader workers leave Ctrl+C / SIGTERM to the main process, which writes a checkpoint and then
    shuts them down (a terminal's Ctrl+C, or ``pkill``, reaches the workers too; a worker killed by it
    would make the main process fail before it could save)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def fixed_items(dataset: Dataset, n: int, order: str = "shuffle") -> List[Dict[str, torch.Tensor]]:
    """The first ``n`` items (sample grids), objects in the canonical order, or for a run whose
    ``object_order`` is ``file`` or ``area``, in that order."""
    keyed = SeededObjectOrder(dataset, seed=0, order=order if order in ("file", "area") else "canonical")
    return [keyed[(0, i)] for i in range(min(n, len(dataset)))]
