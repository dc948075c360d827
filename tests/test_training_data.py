"""The trainer's resumable data order (on ``SyntheticLayouts``, the tiny data set of conftest.py)."""

import torch

from layout2im_core.training.loader import DataPosition, ResumableLoader, SeededObjectOrder, mix_seed


def test_mix_seed_is_stable_and_spreads():
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3)
    assert len({mix_seed(0, e, i) for e in range(10) for i in range(10)}) == 100
    assert 0 <= mix_seed(2 ** 70, -1) < 2 ** 63


def test_object_order_depends_only_on_seed_epoch_index(synthetic_layouts):
    ds = synthetic_layouts(n=4, max_objects=6, seed=1)
    keyed = SeededObjectOrder(ds, seed=5)
    a = keyed[(2, 3)]
    # a reader that shuffles its objects itself changes nothing (canonical order first)
    perm = torch.randperm(ds.items[3]["objs"].shape[0])
    ds.items[3] = {**ds.items[3], "objs": ds.items[3]["objs"][perm], "bboxes": ds.items[3]["bboxes"][perm]}
    b = keyed[(2, 3)]
    assert torch.equal(a["objs"], b["objs"]) and torch.equal(a["bboxes"], b["bboxes"])
    orders = {tuple(keyed[(e, 3)]["bboxes"][:, 0].tolist()) for e in range(8)}
    assert len(orders) > 1  # reshuffled per epoch


def _take(loader, n):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_loader_resumes_mid_epoch_exactly(synthetic_layouts):
    ds = synthetic_layouts(n=7)
    straight = _take(ResumableLoader(ds, batch_size=3, seed=3), 7)  # 3 batches per epoch (3, 3, 1)
    first = ResumableLoader(ds, batch_size=3, seed=3)
    head = _take(first, 4)
    assert first.position == DataPosition(1, 1)
    tail = _take(ResumableLoader(ds, batch_size=3, seed=3, position=first.position), 3)
    for x, y in zip(straight, head + tail):
        assert torch.equal(x.imgs, y.imgs) and torch.equal(x.objs, y.objs) and torch.equal(x.bboxes, y.bboxes)
    assert [len(b) for b in straight[:3]] == [3, 3, 1]


def test_loader_shards_ranks_disjointly(synthetic_layouts):
    ds = synthetic_layouts(n=8)
    imgs = [torch.cat([b.imgs for b in _take(ResumableLoader(ds, 2, seed=0, rank=r, world_size=2), 2)])
            for r in range(2)]
    flat = torch.cat(imgs).flatten(1)
    assert flat.shape[0] == 8 and torch.unique(flat, dim=0).shape[0] == 8  # one epoch, each image once
