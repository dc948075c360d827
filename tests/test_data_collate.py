"""Batch contract: collate_batch padding, packed form and box masks (docs/architecture.md)."""

import pytest
import torch

from layout2im_core.data.collate import Batch, collate_batch
from layout2im_core.geometry import bbox_to_mask


def _item(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy0 = torch.rand(n, 2, generator=g) * 0.5
    return {"img": torch.rand(3, 64, 64, generator=g),
            "objs": torch.randint(1, 184, (n,), generator=g),
            "bboxes": torch.cat([xy0, xy0 + 0.1 + torch.rand(n, 2, generator=g) * 0.4], 1)}


def test_two_items_pad_to_largest():
    a, b = _item(2, 0), _item(3, 1)
    batch = collate_batch([a, b])
    assert isinstance(batch, Batch) and len(batch) == 2
    assert batch.imgs.shape == (2, 3, 64, 64) and batch.imgs.dtype == torch.float32
    assert batch.objs.shape == (2, 3) and batch.objs.dtype == torch.int64
    assert batch.bboxes.shape == (2, 3, 4) and batch.bboxes.dtype == torch.float32
    assert batch.obj_mask.tolist() == [[True, True, False], [True, True, True]]
    assert batch.objs[0, 2] == 0 and torch.all(batch.bboxes[0, 2] == 0)
    assert torch.equal(batch.objs[1], b["objs"]) and torch.equal(batch.bboxes[0, :2], a["bboxes"])
    assert batch.num_objects == 5


def test_packed_form_and_obj_to_img():
    a, b = _item(2, 0), _item(3, 1)
    batch = collate_batch([a, b])
    objs, bboxes, obj_to_img = batch.packed()
    assert obj_to_img.tolist() == [0, 0, 1, 1, 1] and obj_to_img.dtype == torch.int64
    assert torch.equal(objs, torch.cat([a["objs"], b["objs"]]))
    assert torch.equal(bboxes, torch.cat([a["bboxes"], b["bboxes"]]))
    assert torch.equal(batch.obj_to_img, obj_to_img)


def test_masks_are_box_masks_zero_in_padding():
    a, b = _item(1, 2), _item(3, 3)
    batch = collate_batch([a, b])
    m = batch.masks
    assert m.shape == (2, 3, 1, 64, 64) and m.dtype == torch.float32
    assert torch.all(m[0, 1:] == 0)
    assert torch.equal(m[1], bbox_to_mask(b["bboxes"]))
    assert torch.equal(m[0, 0], bbox_to_mask(a["bboxes"])[0])


def test_to_device_and_empty_items():
    batch = collate_batch([_item(0, 4), _item(0, 5)])
    assert batch.objs.shape == (2, 0) and batch.packed().obj_to_img.numel() == 0
    moved = batch.to("cpu")
    assert moved.imgs.device.type == "cpu" and moved.obj_mask.dtype == torch.bool


def test_bad_items_raise():
    with pytest.raises(ValueError):
        collate_batch([])
    bad = _item(2, 6)
    bad["bboxes"] = bad["bboxes"][:1]
    with pytest.raises(ValueError, match="item 0"):
        collate_batch([bad])
    other = _item(1, 7)
    other["img"] = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="item 1"):
        collate_batch([_item(1, 8), other])
