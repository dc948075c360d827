"""The trainer's resumable data order, and the tiny synthetic data set the training tests share
(``SyntheticLayouts``, imported by the other test_training_* files)."""

import pytest
import torch

from layout2im_core.training.loader import DataPosition, ResumableLoader, SeededObjectOrder, mix_seed
from layout2im_core.vocab import Vocabulary


class SyntheticLayouts(torch.utils.data.Dataset):
    """``n`` images of coloured boxes on grey, 2..max_objects objects from ``categories`` ids.
    Items follow the batch contract; objects in a random (stored) order."""

    def __init__(self, n: int = 8, categories: int = 4, max_objects: int = 4, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.vocabulary = Vocabulary.from_names([f"cat{i}" for i in range(1, categories + 1)])
        self.items = []
        for _ in range(n):
            k = int(torch.randint(2, max_objects + 1, (1,), generator=g))
            objs = torch.randint(1, categories + 1, (k,), generator=g)
            xy = torch.rand(k, 2, generator=g) * 0.6
            wh = 0.2 + torch.rand(k, 2, generator=g) * 0.3
            bboxes = torch.cat([xy, (xy + wh).clamp(max=1.0)], 1)
            img = torch.full((3, 64, 64), 0.5)
            for o, b in zip(objs.tolist(), bboxes.tolist()):
                x0, y0, x1, y1 = (int(round(v * 64)) for v in b)
                img[:, y0:y1, x0:x1] = torch.tensor([o % 2, (o // 2) % 2, 0.8])[:, None, None]
            self.items.append({"img": img, "objs": objs, "bboxes": bboxes.float()})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return dict(self.items[i])


def test_mix_seed_is_stable_and_spreads():
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3)
    assert len({mix_seed(0, e, i) for e in range(10) for i in range(10)}) == 100
    assert 0 <= mix_seed(2 ** 70, -1) < 2 ** 63


def test_object_order_depends_only_on_seed_epoch_index():
    ds = SyntheticLayouts(n=4, max_objects=6, seed=1)
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


def test_loader_resumes_mid_epoch_exactly():
    ds = SyntheticLayouts(n=7)
    straight = _take(ResumableLoader(ds, batch_size=3, seed=3), 7)  # 3 batches per epoch (3, 3, 1)
    first = ResumableLoader(ds, batch_size=3, seed=3)
    head = _take(first, 4)
    assert first.position == DataPosition(1, 1)
    tail = _take(ResumableLoader(ds, batch_size=3, seed=3, position=first.position), 3)
    for x, y in zip(straight, head + tail):
        assert torch.equal(x.imgs, y.imgs) and torch.equal(x.objs, y.objs) and torch.equal(x.bboxes, y.bboxes)
    assert [len(b) for b in straight[:3]] == [3, 3, 1]


def test_loader_shards_ranks_disjointly():
    ds = SyntheticLayouts(n=8)
    imgs = [torch.cat([b.imgs for b in _take(ResumableLoader(ds, 2, seed=0, rank=r, world_size=2), 2)])
            for r in range(2)]
    flat = torch.cat(imgs).flatten(1)
    assert flat.shape[0] == 8 and torch.unique(flat, dim=0).shape[0] == 8  # one epoch, each image once


@pytest.fixture
def one_thread():
    """Training tests run single-threaded: small convs on a shared 2-core machine are several times
    faster without intra-op threads contending with other processes."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
