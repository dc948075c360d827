"""Visual Genome reader: the preprocessed HDF5 of spec §7.2 (sg2im ``preprocess_vg.py`` output).

Reads ``object_names`` (I x 30 vocabulary ids, -1 padding), ``object_boxes`` (I x 30 x 4, x, y, w, h
in pixels of the original image), ``objects_per_image``, ``relationship_subjects`` /
``relationship_objects`` (I x R, object slots), ``relationships_per_image`` and ``image_paths``
(strings, bytes with h5py >= 3), and when both are present the attributes: ``attributes_per_object``
(I x 30) and ``object_attributes`` (one row of 30 attribute indices, -1 padding, per object slot in
use, flat over the split in image order: object slot s of image i is row sum(objects_per_image[:i]) +
s), named by ``attribute_idx_to_name`` of ``vocab.json`` (names stripped, so "white " and "white"
are one attribute). Predicates are not needed. Boxes are
normalised by the size of the image file (the h5 does not store it), so the size is read at each
``__getitem__`` together with the pixels.

Bad input: missing files or fields -> DataError naming file and field; images whose file is missing
or with fewer than ``min_objects`` usable objects -> dropped and counted in ``stats``; object ids
outside the vocabulary -> dropped and counted; boxes reaching outside the image -> clipped at read
time (dropped there if empty); an unreadable image at read time -> another sample (SkipUnreadable).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import List, Union

import numpy as np
import torch

from ..boxes import xywh_px_to_bbox
from ..errors import DataError
from ..input_files import InputFileError, read_json
from ..vocab import Vocabulary, read_vocabulary
from .coco import ReadStats
from .image_io import SkipUnreadable, make_item, read_image

log = logging.getLogger(__name__)
PathLike = Union[str, Path]

REQUIRED_FIELDS = ("object_names", "object_boxes", "objects_per_image", "relationship_subjects",
                   "relationship_objects", "relationships_per_image", "image_paths")


def load_vg_vocabulary(vocab_json: PathLike) -> Vocabulary:
    """The object vocabulary of an sg2im ``vocab.json`` (``object_idx_to_name``; 179 entries for the
    paper setting). Raises DataError if the file is missing, unreadable or lacks the field."""
    return read_vocabulary(vocab_json, 256 * 2 ** 20, DataError)


class VisualGenomeDataset(SkipUnreadable):
    """Visual Genome images with 3..9 objects each (spec §7.2).

    Object selection at every read (spec §7.2): objects that take part in a relationship first,
    randomly subsampled to at most ``max_objects``; then objects without relationships, randomly
    chosen, fill up to ``max_objects``; the list is shuffled (``shuffle_objects``; otherwise it is
    sorted by object slot and the subsampling is seeded by the index, so reads repeat).

    Args:
        h5_path: preprocessed split file (``train.h5``, ``val.h5``, ``test.h5``).
        vocab_json: sg2im ``vocab.json``.
        image_dir: folder that ``image_paths`` are relative to (``<vg_dir>/images``).
        max_objects: most objects per sample (spec: 9 = the reference's max_objects 10 - 1).
        min_objects: images with fewer usable objects are dropped (spec: 3).
        shuffle_objects: random selection and order per read (training).
        image_size: side of the returned images.

    Attributes:
        vocabulary, stats (:class:`~layout2im_core.data.coco.ReadStats`), image_paths (kept images).

    Raises:
        DataError: missing/unreadable files, a missing h5 field, or no usable image.
    """

    def __init__(self, h5_path: PathLike, vocab_json: PathLike, image_dir: PathLike, max_objects: int = 9,
                 min_objects: int = 3, shuffle_objects: bool = True, image_size: int = 64):
        super().__init__()
        import h5py

        if not 1 <= min_objects <= max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
        self.h5_path, self.image_dir = Path(h5_path), Path(image_dir)
        self.max_objects, self.shuffle_objects, self.image_size = max_objects, shuffle_objects, int(image_size)
        self.vocabulary = load_vg_vocabulary(vocab_json)
        self.stats = ReadStats()
        if not self.image_dir.is_dir():
            raise DataError(f"{self.image_dir}: image folder not found")
        if not self.h5_path.is_file():
            raise DataError(f"{self.h5_path}: file not found")
        try:
            with h5py.File(self.h5_path, "r") as f:
                for key in REQUIRED_FIELDS:
                    if key not in f:
                        raise DataError(f"{self.h5_path}: missing field '{key}'")
                data = {k: f[k][()] for k in REQUIRED_FIELDS}
        except OSError as e:
            raise DataError(f"{self.h5_path}: cannot read HDF5 ({e})") from None
        self._check_shapes(data)

        names = data["object_names"].astype(np.int64)  # [I, 30]
        counts = data["objects_per_image"].astype(np.int64)  # [I]
        slots = np.arange(names.shape[1])[None, :] < counts[:, None]  # [I, 30] slots in use
        known = (names >= 1) & (names < len(self.vocabulary))
        unknown = slots & ~known
        if unknown.any():
            self.stats.objects_dropped["unknown_category"] += int(unknown.sum())
        self._valid = slots & known  # [I, 30]
        self._names = names
        self._boxes = data["object_boxes"].astype(np.float64)  # [I, 30, 4]
        self._rel_s = data["relationship_subjects"].astype(np.int64)
        self._rel_o = data["relationship_objects"].astype(np.int64)
        self._rel_n = data["relationships_per_image"].astype(np.int64)
        self._attrs, self.attribute_names = self._read_attributes(h5_path, vocab_json, counts)

        keep: List[int] = []
        for i, p in enumerate(data["image_paths"]):
            n = int(self._valid[i].sum())
            p = p.decode("utf-8") if isinstance(p, bytes) else str(p)
            if n < min_objects:
                self.stats.images_dropped["too_few_objects"] += 1
            elif not (self.image_dir / p).is_file():
                self.stats.images_dropped["missing_file"] += 1
            else:
                keep.append(i)
                continue
            self.stats.objects_dropped["in_dropped_image"] += n
        self._rows = np.array(keep, dtype=np.int64)
        self.image_paths = [self.image_dir / (p.decode("utf-8") if isinstance(p, bytes) else str(p))
                            for p in data["image_paths"][self._rows]]
        self.stats.images_kept = len(keep)
        self.stats.objects_kept = int(self._valid[self._rows].sum())
        for reason in ("unknown_category",):
            if self.stats.objects_dropped.get(reason):
                log.warning("%s: dropped %d objects (%s)", self.h5_path.name, self.stats.objects_dropped[reason],
                            reason)
        if self.stats.images_dropped.get("missing_file"):
            log.warning("%s: %d image files missing", self.image_dir, self.stats.images_dropped["missing_file"])
        if not keep:
            raise DataError(f"{self.h5_path}: no usable image ({self.stats.summary()})")
        log.info("%s: %s", self.h5_path.name, self.stats.summary())

    def _read_attributes(self, h5_path, vocab_json, counts: np.ndarray):
        """([I, 30, A] bool attribute flags per object slot, or None; attribute names (stripped, unique)).

        Raises:
            DataError: attribute fields of the wrong shape or holding indices outside the vocabulary.
        """
        import h5py

        with h5py.File(h5_path, "r") as f:
            if "object_attributes" not in f or "attributes_per_object" not in f:
                return None, ()
            flat = f["object_attributes"][()].astype(np.int64)
        try:
            vocab = read_json(vocab_json, 256 * 2 ** 20, "vocabulary file")
        except InputFileError as e:
            raise DataError(str(e)) from None
        names_raw = (vocab.get("attribute_idx_to_name") if isinstance(vocab, dict) else None) or []
        if not isinstance(names_raw, list) or not all(isinstance(n, str) for n in names_raw):
            raise DataError(f"{vocab_json}: field 'attribute_idx_to_name' must be a list of names")
        names = sorted({n.strip() for n in names_raw if n.strip()})
        col = {n: i for i, n in enumerate(names)}
        index_to_col = np.array([col.get(n.strip(), -1) for n in names_raw] + [-1], np.int64)  # -1 -> no column
        total = int(counts.sum())
        if flat.ndim != 2 or flat.shape[0] != total:
            raise DataError(f"{h5_path}: field 'object_attributes' has shape {flat.shape}, expected ({total}, K): "
                            f"one row per object slot in use")
        if flat.size and (flat.max() >= len(names_raw) or flat.min() < -1):
            raise DataError(f"{h5_path}: field 'object_attributes' holds indices outside the {len(names_raw)} "
                            f"attributes of {Path(vocab_json).name}")
        slots = self._names.shape[1]
        out = np.zeros((len(counts), slots, len(names)), bool)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for i, (start, n) in enumerate(zip(offsets, counts)):
            rows = flat[start:start + min(int(n), slots)]  # [n, K]
            cols = index_to_col[np.where(rows >= 0, rows, len(names_raw))]  # [n, K]
            r, k = np.nonzero(cols >= 0)
            out[i, r, cols[r, k]] = True
        return out, tuple(names)

    def object_attributes(self, index: int) -> List[dict]:
        """Named attributes of item ``index``'s objects as read without shuffling (``shuffle_objects``
        False: objects in slot order, the selection seeded by the index): per object, every attribute
        name of the vocabulary -> 1.0 (the object has it) or 0.0. Empty dicts when the file has no
        attributes. The image file's header is read for its size (boxes empty after clipping are
        dropped, as in ``__getitem__``)."""
        from PIL import Image

        row = int(self._rows[index])
        chosen = self.select_objects(index, random.Random(index))
        if self._attrs is None:
            flags = None
        else:
            flags = self._attrs[row]
        try:
            with Image.open(self.image_paths[index]) as im:
                w_px, h_px = im.size
        except (OSError, ValueError):
            return [{} for _ in chosen]
        out = []
        for s in chosen:
            box = xywh_px_to_bbox(self._boxes[row, s], w_px, h_px, clip=True)
            if box[2] > box[0] and box[3] > box[1]:
                out.append({} if flags is None else {n: float(flags[s, a]) for a, n in enumerate(self.attribute_names)})
        return out

    def _check_shapes(self, data) -> None:
        i = data["object_names"].shape[0] if data["object_names"].ndim == 2 else -1
        expect = {"object_names": 2, "object_boxes": 3, "objects_per_image": 1, "relationship_subjects": 2,
                  "relationship_objects": 2, "relationships_per_image": 1, "image_paths": 1}
        for key, ndim in expect.items():
            arr = data[key]
            if arr.ndim != ndim or arr.shape[0] != i:
                raise DataError(f"{self.h5_path}: field '{key}' has shape {arr.shape}, expected {ndim} dims "
                                f"with {i} images (from 'object_names')")
        if data["object_boxes"].shape[1:] != (data["object_names"].shape[1], 4):
            raise DataError(f"{self.h5_path}: field 'object_boxes' has shape {data['object_boxes'].shape}, "
                            f"expected ({i}, {data['object_names'].shape[1]}, 4)")

    def __len__(self) -> int:
        return len(self._rows)

    def _describe(self, index: int) -> str:
        return str(self.image_paths[index])

    def select_objects(self, index: int, rng: random.Random) -> List[int]:
        """Object slots of item ``index`` chosen by the spec §7.2 rule (before shuffling)."""
        row = int(self._rows[index])
        valid = set(np.flatnonzero(self._valid[row]).tolist())
        with_rels = set()
        for r in range(int(self._rel_n[row])):
            for s in (int(self._rel_s[row, r]), int(self._rel_o[row, r])):
                if s in valid:
                    with_rels.add(s)
        with_rels_l, without = sorted(with_rels), sorted(valid - with_rels)
        if len(with_rels_l) > self.max_objects:
            with_rels_l = rng.sample(with_rels_l, self.max_objects)
        fill = min(self.max_objects - len(with_rels_l), len(without))
        chosen = with_rels_l + rng.sample(without, fill)
        if self.shuffle_objects:
            rng.shuffle(chosen)
        else:
            chosen.sort()
        return chosen

    def _read(self, index: int):
        img, (w_px, h_px) = read_image(self.image_paths[index], self.image_size)
        # seeded from torch's generator, so torch.manual_seed and DataLoader worker seeds govern it
        seed = int(torch.randint(0, 2**62, ())) if self.shuffle_objects else index
        rng = random.Random(seed)
        row = int(self._rows[index])
        objs, bboxes = [], []
        for s in self.select_objects(index, rng):
            box = xywh_px_to_bbox(self._boxes[row, s], w_px, h_px, clip=True)
            if box[2] > box[0] and box[3] > box[1]:
                objs.append(int(self._names[row, s]))
                bboxes.append(box)
        return make_item(img, np.array(objs, dtype=np.int64), np.array(bboxes, dtype=np.float32).reshape(-1, 4),
                         shuffle=False)
