"""COCO readers: filters of spec §7.1, counts, bad input, custom data, and the real coco-stuff-mini."""

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layout2im_core.data.build import build_dataset
from layout2im_core.data.coco import CocoDataset, CocoStuffDataset
from layout2im_core.errors import DataError

MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco-stuff-mini"
THINGS = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
STUFF = [{"id": 124, "name": "grass"}, {"id": 157, "name": "sky-other"}, {"id": 183, "name": "other"}]
W, H = 100, 80


def _image(path, seed=0, size=(W, H)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)


def _ann(image_id, cat, bbox):
    return {"image_id": image_id, "category_id": cat, "bbox": list(bbox), "iscrowd": 0, "id": 0}


BIG = (0, 0, 40, 40)  # 20% of the image
SMALL = (0, 0, 10, 10)  # 1.25%


def write_stuff_root(root: Path, split="train"):
    """A COCO-Stuff folder with 5 images: 1 kept (4 objects), too few, too many, no stuff, empty."""
    (root / f"{split}2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    images = [{"id": i, "file_name": f"{i:03d}.jpg", "width": W, "height": H} for i in range(1, 6)]
    for i in range(1, 6):
        _image(root / f"{split}2017" / f"{i:03d}.jpg", i)
    inst = [_ann(1, 1, BIG), _ann(1, 3, (50, 30, 50, 50)), _ann(2, 1, BIG), _ann(2, 3, SMALL)]
    inst += [_ann(3, 1, BIG)] * 6 + [_ann(4, 1, BIG)] * 3
    stuff = [_ann(1, 124, (0, 40, 100, 40)), _ann(1, 157, (0, 0, 100, 40)), _ann(1, 183, (0, 0, 100, 80)),
             _ann(2, 124, BIG), _ann(3, 124, BIG), _ann(3, 157, BIG), _ann(3, 124, BIG), _ann(5, 183, BIG)]
    for name, anns, cats in (("instances", inst, THINGS), ("stuff", stuff, STUFF)):
        data = {"images": images, "annotations": anns, "categories": cats}
        (root / "annotations" / f"{name}_{split}2017.json").write_text(json.dumps(data))
    return root


def write_custom(root: Path, images, anns, cats, files=True):
    (root / "images").mkdir(parents=True, exist_ok=True)
    if files:
        for im in images:
            _image(root / "images" / im["file_name"], im["id"] if isinstance(im["id"], int) else 0,
                   (im["width"], im["height"]))
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def _imgs(n):
    return [{"id": i, "file_name": f"{i}.png", "width": W, "height": H} for i in range(1, n + 1)]


def test_coco_stuff_filters_and_counts(tmp_path):
    ds = CocoStuffDataset(write_stuff_root(tmp_path), "train", shuffle_objects=False)
    assert len(ds) == 1 and ds.vocabulary.names[124] == "grass" and len(ds.vocabulary) == 184
    s = ds.stats
    assert s.images_kept == 1 and s.objects_kept == 4
    assert dict(s.images_dropped) == {"too_few_objects": 1, "too_many_objects": 1, "not_in_stuff": 1,
                                      "no_objects": 1}
    assert s.objects_dropped["excluded_category"] == 2 and s.objects_dropped["small"] == 1
    item = ds[0]
    assert item["img"].shape == (3, 64, 64) and item["img"].dtype == torch.float32
    assert 0.0 <= float(item["img"].min()) and float(item["img"].max()) <= 1.0
    assert item["objs"].tolist() == [1, 3, 124, 157] and item["objs"].dtype == torch.int64
    np.testing.assert_allclose(item["bboxes"][1].numpy(), [0.5, 0.375, 1.0, 1.0])


def test_include_other_and_shuffle(tmp_path):
    ds = CocoStuffDataset(write_stuff_root(tmp_path), "train", include_other=True)
    assert 183 in ds.records[0].objs.tolist()
    torch.manual_seed(0)
    orders = [tuple(ds[0]["objs"].tolist()) for _ in range(10)]
    assert len(set(orders)) > 1 and all(sorted(o) == sorted(orders[0]) for o in orders)


def test_missing_files_raise_dataerror_naming_file(tmp_path):
    root = write_stuff_root(tmp_path)
    (root / "annotations" / "stuff_train2017.json").unlink()
    with pytest.raises(DataError, match="stuff_train2017.json"):
        CocoStuffDataset(root, "train")
    with pytest.raises(DataError, match="image folder"):
        CocoDataset(write_custom(tmp_path / "c", _imgs(1), [], THINGS), tmp_path / "nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        CocoDataset(bad, tmp_path)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["annotations"][1].pop("bbox"), "annotations[1] lacks field 'bbox'"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "annotations[0].bbox"),
    (lambda d: d["images"][0].update(width="wide"), "images[0].width"),
    (lambda d: d.pop("categories"), "'categories'"),
    (lambda d: d.update(annotations={}), "'annotations' must be a list"),
    (lambda d: d["categories"][0].pop("name"), "categories[0] lacks field 'name'"),
])
def test_wrong_schema_names_file_and_field(tmp_path, mutate, field):
    path = write_custom(tmp_path, _imgs(1), [_ann(1, 1, BIG), _ann(1, 3, BIG)], THINGS)
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as e:
        CocoDataset(path, tmp_path / "images")
    assert "annotations.json" in str(e.value) and field in str(e.value)


def test_strict_vocabulary_mismatch(tmp_path):
    root = write_stuff_root(tmp_path)
    p = root / "annotations" / "stuff_train2017.json"
    d = json.loads(p.read_text())
    d["categories"][0]["name"] = "lawn"
    p.write_text(json.dumps(d))
    with pytest.raises(DataError, match="stuff_train2017.json: field 'categories'.*lawn"):
        CocoStuffDataset(root, "train")


def test_bad_boxes_unknown_ids_and_empty_images(tmp_path, caplog):
    anns = [_ann(1, 1, (-20, -10, 60, 50)),  # clipped to (0, 0, 40, 40)
            _ann(1, 3, (200, 10, 20, 20)),  # outside the image
            _ann(1, 99, BIG),  # unknown category
            _ann(1, 1, (0, 0, -5, 10)),  # negative width
            _ann(9, 1, BIG),  # unknown image
            _ann(2, 1, SMALL)]  # image 2 left empty by the size filter
    path = write_custom(tmp_path, _imgs(3), anns, THINGS)
    (tmp_path / "images" / "3.png").unlink()
    with caplog.at_level(logging.WARNING):
        ds = CocoDataset(path, tmp_path / "images", min_objects=0)
    s = ds.stats
    assert s.objects_clipped == 1 and s.objects_dropped["outside_image"] == 1
    assert s.objects_dropped["unknown_category"] == 1 and s.objects_dropped["bad_box"] == 1
    assert s.objects_dropped["unknown_image"] == 1 and s.objects_dropped["small"] == 1
    assert s.images_dropped["missing_file"] == 1
    assert "unknown_category" in caplog.text and "clipped 1" in caplog.text
    np.testing.assert_allclose(ds.records[0].bboxes[0], [0, 0, 0.4, 0.5])
    ds1 = CocoDataset(path, tmp_path / "images")  # min_objects=1 drops the empty image
    assert len(ds1) == 1 and ds1.stats.images_dropped["no_objects"] == 2


def test_zero_usable_images_raise(tmp_path):
    path = write_custom(tmp_path, _imgs(2), [_ann(1, 1, SMALL)], THINGS)
    with pytest.raises(DataError, match="no usable image"):
        CocoDataset(path, tmp_path / "images")


def test_corrupt_image_returns_another_sample(tmp_path, caplog):
    path = write_custom(tmp_path, _imgs(3), [_ann(i, 1, BIG) for i in (1, 2, 3)], THINGS)
    (tmp_path / "images" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ds = CocoDataset(path, tmp_path / "images")
    with caplog.at_level(logging.WARNING):
        items = [ds[i] for i in range(len(ds))]
    assert all(it["img"].shape == (3, 64, 64) for it in items)
    assert ds.unreadable_count == 1 and "2.png" in caplog.text
    for name in ("1.png", "3.png"):
        (tmp_path / "images" / name).write_bytes(b"broken")
    with pytest.raises(DataError, match="none of the 3 images"):
        ds[0]


def test_custom_vocabulary_from_file_and_by_name(tmp_path):
    cats = [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}]  # 0-based ids are renumbered
    path = write_custom(tmp_path, _imgs(2), [_ann(1, 0, BIG), _ann(2, 1, BIG)], cats)
    ds = CocoDataset(path, tmp_path / "images", shuffle_objects=False)
    assert ds.vocabulary.categories == ["cat", "dog"] and ds.vocabulary.id_of("cat") == 1
    assert [ds[i]["objs"].tolist() for i in range(2)] == [[1], [2]]
    from layout2im_core.vocab import Vocabulary
    coco = Vocabulary.builtin("coco")
    ds2 = CocoDataset(path, tmp_path / "images", vocabulary=coco, shuffle_objects=False)
    assert ds2.records[0].objs.tolist() == [coco.id_of("cat")] and len(ds2) == 2


def test_hash_split_is_disjoint_and_complete(tmp_path):
    path = write_custom(tmp_path, _imgs(40), [_ann(i, 1, BIG) for i in range(1, 41)], THINGS)
    ids = {s: {r.image_id for r in CocoDataset(path, tmp_path / "images", split=s, val_fraction=0.3).records}
           for s in ("all", "train", "val")}
    assert ids["train"] | ids["val"] == ids["all"] and not ids["train"] & ids["val"] and ids["val"]


def test_build_dataset_coco_and_custom(tmp_path):
    ds, vocab = build_dataset("coco", write_stuff_root(tmp_path / "coco"), "train")
    assert len(ds) == 1 and len(vocab) == 184
    write_custom(tmp_path / "custom", _imgs(2), [_ann(1, 1, BIG), _ann(2, 3, BIG)], THINGS)
    ds, vocab = build_dataset("custom", tmp_path / "custom", "all")
    assert len(ds) == 2 and vocab.categories == ["person", "car"] and len(vocab) == 4
    with pytest.raises(ValueError, match="unknown data set kind"):
        build_dataset("imagenet", tmp_path)


def _reference_counts(root: Path, split: str):
    """The spec §7.1 filter computed directly from the raw JSON: image id -> sorted category ids."""
    inst = json.loads((root / "annotations" / f"instances_{split}2017.json").read_text())
    stuff = json.loads((root / "annotations" / f"stuff_{split}2017.json").read_text())
    size = {im["id"]: im["width"] * im["height"] for im in inst["images"]}
    with_stuff = {a["image_id"] for a in stuff["annotations"]}
    objs = {i: [] for i in size}
    for a in inst["annotations"] + stuff["annotations"]:
        w, h = a["bbox"][2:]
        if a["image_id"] in objs and w * h / size[a["image_id"]] > 0.02 and a["category_id"] != 183:
            objs[a["image_id"]].append(a["category_id"])
    return {i: sorted(o) for i, o in objs.items() if i in with_stuff and 3 <= len(o) <= 8}


@pytest.mark.skipif(not MINI.is_dir(), reason=f"real data not found at {MINI}")
def test_real_coco_stuff_mini_both_splits():
    total = 0
    for split in ("train", "val"):
        ds = CocoStuffDataset(MINI, split, shuffle_objects=False)
        ref = _reference_counts(MINI, split)
        got = {r.image_id: sorted(r.objs.tolist()) for r in ds.records}
        assert got == ref
        assert ds.stats.images_kept + sum(ds.stats.images_dropped.values()) == 100
        for i in range(len(ds)):
            item = ds[i]
            assert item["img"].shape == (3, 64, 64) and 3 <= len(item["objs"]) <= 8
            assert float(item["bboxes"].min()) >= 0 and float(item["bboxes"].max()) <= 1
            assert bool((item["bboxes"][:, 2:] > item["bboxes"][:, :2]).all())
        assert ds.unreadable_count == 0
        total += len(ds)
    assert 100 <= total <= 140, total  # README: about 120 of the 200 images pass
