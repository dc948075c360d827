"""Visual Genome h5 reader (spec §7.2) on small h5 files written here with the real vocabulary."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from layout2im_core.data.build import build_dataset
from layout2im_core.data.vg import VisualGenomeDataset
from layout2im_core.errors import DataError

VOCAB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vg-meta" / "vocab.json"
pytestmark = pytest.mark.skipif(not VOCAB.is_file(), reason=f"real VG vocabulary not found at {VOCAB}")


def test_reads_filters_and_counts(tmp_path, write_vg):
    ds = VisualGenomeDataset(write_vg(tmp_path), VOCAB, tmp_path / "images", shuffle_objects=False)
    assert len(ds.vocabulary) == 179 and len(ds) == 3
    assert ds.stats.images_dropped == {"too_few_objects": 1, "missing_file": 1}
    assert ds.stats.objects_dropped["unknown_category"] == 1
    counts = [len(ds[i]["objs"]) for i in range(3)]
    assert counts == [9, 4, 3]
    item = ds[1]
    assert item["img"].shape == (3, 64, 64) and item["img"].dtype == torch.float32
    assert item["objs"].dtype == torch.int64 and item["bboxes"].dtype == torch.float32
    np.testing.assert_allclose(item["bboxes"][0].numpy(), [0.5, 0.5, 1.0, 1.0])  # clipped
    np.testing.assert_allclose(item["bboxes"][1].numpy(), [0.25, 0.25, 0.75, 0.75])  # by the file's size
    assert bool((ds[2]["objs"] < 179).all())


def test_relationship_objects_first(tmp_path, write_vg):
    ds = VisualGenomeDataset(write_vg(tmp_path), VOCAB, tmp_path / "images")
    import random
    for seed in range(5):
        chosen = ds.select_objects(0, random.Random(seed))
        assert len(chosen) == 9 and set(chosen) <= set(range(10))  # only objects with relationships
        chosen = ds.select_objects(1, random.Random(seed))
        assert set(chosen) == {0, 1, 2, 3}
    small = VisualGenomeDataset(write_vg(tmp_path), VOCAB, tmp_path / "images", max_objects=3,
                                shuffle_objects=False)
    assert set(small.select_objects(1, random.Random(0))) >= {2, 3}


def test_missing_field_and_files(tmp_path, write_vg):
    path = write_vg(tmp_path, drop_field="relationship_objects")
    with pytest.raises(DataError, match="train.h5: missing field 'relationship_objects'"):
        VisualGenomeDataset(path, VOCAB, tmp_path / "images")
    with pytest.raises(DataError, match="nope.h5: file not found"):
        VisualGenomeDataset(tmp_path / "nope.h5", VOCAB, tmp_path / "images")
    with pytest.raises(DataError, match="vocab.json"):
        VisualGenomeDataset(path, tmp_path / "vocab.json", tmp_path / "images")


def test_build_dataset_vg_layout(tmp_path, write_vg):
    meta = tmp_path / "178classes"
    meta.mkdir()
    write_vg(meta, "test.h5")
    (meta / "images").rename(tmp_path / "images")
    (meta / "vocab.json").write_text(VOCAB.read_text())
    ds, vocab = build_dataset("vg", tmp_path, "test")
    assert len(ds) == 3 and len(vocab) == 179


def test_attributes_become_named_factors_aligned_with_the_objects(tmp_path, write_vg):
    """Object slot s of image i carries attribute indices in row sum(counts[:i]) + s of
    object_attributes; "white" (0) and "white " (21) are one attribute."""
    h5 = write_vg(tmp_path)
    counts = [12, 4, 2, 4, 4]
    rows = np.full((sum(counts), 30), -1, np.int32)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows[offsets[1] + 0, :2] = [0, 9]  # image 1, slot 0: white, wooden
    rows[offsets[1] + 3, :1] = [21]  # image 1, slot 3: "white " -> white
    with h5py.File(h5, "a") as f:
        f.create_dataset("object_attributes", data=rows)
        f.create_dataset("attributes_per_object", data=(rows >= 0).sum(1).astype(np.int32))
    ds = VisualGenomeDataset(h5, VOCAB, tmp_path / "images", shuffle_objects=False)
    assert "white" in ds.attribute_names and "white " not in ds.attribute_names
    item, attrs = ds[1], ds.object_attributes(1)  # kept images: 0, 1, 4
    assert len(attrs) == len(item["objs"]) == 4
    assert attrs[0]["white"] == 1.0 and attrs[0]["wooden"] == 1.0 and attrs[0]["red"] == 0.0
    assert attrs[3]["white"] == 1.0 and attrs[1]["white"] == 0.0 and attrs[2]["wooden"] == 0.0
    with h5py.File(h5, "a") as f:  # a broken attribute table is named
        del f["object_attributes"]
        f.create_dataset("object_attributes", data=rows[:5])
    with pytest.raises(DataError, match="object_attributes"):
        VisualGenomeDataset(h5, VOCAB, tmp_path / "images", shuffle_objects=False)
    no_attr = VisualGenomeDataset(write_vg(tmp_path / "b"), VOCAB, tmp_path / "b" / "images", shuffle_objects=False)
    assert no_attr.object_attributes(0) == [{}] * len(no_attr[0]["objs"])
