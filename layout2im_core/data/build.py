"""One entry point for every data source: ``build_dataset(kind, path, split) -> (dataset, vocabulary)``.

    kind      path                                            split
    coco      COCO-Stuff root (train2017/, val2017/, annotations/)   train | val
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

from ..errors import DataError
from ..vocab import Vocabulary
from .coco import CocoDataset, CocoStuffDataset
from .vg import VisualGenomeDataset

DATASET_KINDS = ("coco", "vg", "custom", "scenes")


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
        ds = CocoStuffDataset(path, split, **kw)
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
