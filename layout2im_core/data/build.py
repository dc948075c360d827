"""One entry point for every data source: ``build_dataset(kind, path, split) -> (dataset, vocabulary)``.

    kind      path                                            split
    coco      COCO-Stuff root (train2017/, val2017/, annotations/)   train | val | train+val, each
                                                                      optionally "-holdout" (without the
                                                                      images of ``COCO_MINI_HOLDOUT``),
                                                                      or holdout (only those, from val)
    vg        Visual Genome dir: vocab.json + {split}.h5 (directly or in 178classes/), images/
                                                                      train | val | test
    custom    a COCO instances JSON (images next to it in images/ unless image_dir= is given),
              or a folder holding annotations.json and images/       all | train | val (hash split)
    scenes    a ``make_scenes`` output folder (annotations.json + images/), read with the built-in
              COCO-Stuff vocabulary so ids agree with COCO           all | train | val (hash split)

Extra keyword arguments go to the reader (e.g. ``shuffle_objects=False``, ``max_objects=8``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Tuple, Union

import torch

from ..errors import DataError
from ..vocab import Vocabulary
from .coco import CocoDataset, CocoStuffDataset
from .vg import VisualGenomeDataset

DATASET_KINDS = ("coco", "vg", "custom", "scenes")

# The 20 COCO val2017 images of ``coco-stuff-mini`` held out from training ``cocostuff-mini64`` and
# used to measure it (issue 13): among the val images that pass the paper's filters (3-8 objects over
# 2 % of the image), the 20 with the smallest crc32 of the image id.
COCO_MINI_HOLDOUT = frozenset((10583, 10764, 12280, 12667, 13201, 13348, 13597, 13774, 14473, 14888, 15278, 15497,
                               15597, 15660, 16439, 17436, 18491, 18737, 18833, 19924))
COCO_SPLITS = ("train", "val", "train+val", "train-holdout", "val-holdout", "train+val-holdout", "holdout")


class ConcatLayouts(torch.utils.data.ConcatDataset):
    """Several readers of one vocabulary as one data set (``vocabulary``, ``object_attributes``)."""

    def __init__(self, datasets):
        super().__init__(datasets)
        self.vocabulary = datasets[0].vocabulary
        if any(d.vocabulary != self.vocabulary for d in datasets):
            raise DataError("the data sets joined have different vocabularies")
        self.parts = list(datasets)

    def _locate(self, index: int):
        import bisect

        d = bisect.bisect_right(self.cumulative_sizes, index)
        return self.parts[d], index - (self.cumulative_sizes[d - 1] if d else 0)

    def object_attributes(self, index: int):
        ds, i = self._locate(index)
        return ds.object_attributes(i) if hasattr(ds, "object_attributes") else None


def _coco_stuff(path: Path, split: str, kw: dict):
    if split not in COCO_SPLITS:
        raise ValueError(f"COCO-Stuff split must be one of {list(COCO_SPLITS)}, got {split!r}")
    if split == "holdout":
        return CocoStuffDataset(path, "val", keep_image_ids=COCO_MINI_HOLDOUT, **kw)
    base, _, held = split.partition("-")
    drop = COCO_MINI_HOLDOUT if held else ()
    parts = [CocoStuffDataset(path, s, drop_image_ids=drop, **kw) for s in base.split("+")]
    return parts[0] if len(parts) == 1 else ConcatLayouts(parts)


def _coco_folder(path: Path, kw: dict) -> Tuple[Path, Path]:
    """(annotations JSON, image folder) of a custom/scenes path."""
    if path.is_dir():
        return path / "annotations.json", Path(kw.pop("image_dir", path / "images"))
    return path, Path(kw.pop("image_dir", path.parent / "images"))


def build_dataset(kind: str, path: Union[str, Path], split: str = "train", **kw):
    """Build a data set of the batch contract and return it with its vocabulary.

    Args:
        kind: one of DATASET_KINDS.
        path: see the module docstring.
        split: see the module docstring. For ``custom`` and ``scenes``, ``train``/``val`` is a
            stable hash split of the image ids (``val_fraction=0.1`` unless given), ``all`` keeps all.
        **kw: reader options.

    Returns:
        (dataset, vocabulary): a torch Dataset yielding the item dicts, and its Vocabulary.

    Raises:
        ValueError: unknown kind or split.
        DataError: the reader's errors (missing files, wrong schema, no usable image).
    """
    path = Path(path)
    if kind == "coco":
        ds = _coco_stuff(path, split, kw)
    elif kind == "vg":
        if split not in ("train", "val", "test"):
            raise ValueError(f"Visual Genome split must be train, val or test, got {split!r}")
        meta = path / "178classes" if (path / "178classes").is_dir() else path
        if not (meta / "vocab.json").is_file():
            raise DataError(f"{path}: no vocab.json here or in 178classes/")
        image_dir = kw.pop("image_dir", path / "images")
        ds = VisualGenomeDataset(meta / f"{split}.h5", meta / "vocab.json", image_dir, **kw)
    elif kind in ("custom", "scenes"):
        ann, image_dir = _coco_folder(path, kw)
        if kind == "scenes":
            kw = {"vocabulary": Vocabulary.builtin("coco"), "strict_vocabulary": True, "min_objects": 3,
                  "max_objects": 8, "min_object_frac": 0.02, **kw}
        ds = CocoDataset(ann, image_dir, split=split, **kw)
    else:
        raise ValueError(f"unknown data set kind {kind!r}; choose one of {list(DATASET_KINDS)}")
    return ds, ds.vocabulary
