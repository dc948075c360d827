"""COCO-format readers: COCO-Stuff 2017 (spec §7.1) and custom data in COCO instances format.

:class:`CocoDataset` reads any COCO instances JSON (+ optionally a COCO-Stuff JSON) and an image
folder; :class:`CocoStuffDataset` is it with the official file layout, the built-in 184-entry
COCO-Stuff vocabulary (raw ids) and the paper's filters. Items follow the batch contract
(docs/architecture.md); COCO's [x, y, w, h] pixel boxes never leave this module.

Bad input, and what happens (counted in ``stats``, warned once per reason with ``logging``):
    missing/unreadable JSON, missing image folder, wrong schema      -> DataError naming file and field
    box partly outside its image                                      -> clipped to the image
    box empty after clipping, or non-finite / non-positive w or h     -> object dropped
    unknown category id, annotation of an unknown image              -> object dropped
    image file missing at construction                                -> image dropped
    image left with too few / too many objects by the filters         -> image dropped
    no usable image at all                                            -> DataError
    image unreadable when read (corrupt file)                         -> warning, another sample
                                                                         is returned (SkipUnreadable)
"""

from __future__ import annotations

import logging
import math
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..boxes import clip_px, normalise, xywh_to_xyxy
from ..errors import DataError, value_text
from ..input_files import InputFileError, read_json
from ..vocab import Vocabulary
from .image_io import SkipUnreadable, make_item, read_image

MAX_JSON_BYTES = 4 * 2 ** 30  # COCO-Stuff's stuff_train2017.json is about 1 GB

log = logging.getLogger(__name__)
PathLike = Union[str, Path]


@dataclass
class ReadStats:
    """What a reader kept and dropped, and why.

    Attributes:
        images_kept / objects_kept: counts in the final data set.
        images_dropped: reason -> count. Reasons: ``not_in_stuff`` (stuff_only), ``other_split``,
            ``no_objects`` (nothing left after the object filters), ``too_few_objects``,
            ``too_many_objects``, ``missing_file``, ``bad_size`` (VG: unreadable at construction).
        objects_dropped: reason -> count. Reasons: ``unknown_image``, ``unknown_category``,
            ``bad_box`` (non-finite, or w/h <= 0), ``outside_image`` (empty after clipping),
            ``excluded_category`` (e.g. 'other'), ``small`` (area fraction <= min_object_frac), and
            for dropped images ``in_dropped_image``.
        objects_clipped: boxes clipped to their image (kept if non-empty).
    """

    images_kept: int = 0
    objects_kept: int = 0
    images_dropped: Dict[str, int] = field(default_factory=Counter)
    objects_dropped: Dict[str, int] = field(default_factory=Counter)
    objects_clipped: int = 0

    def summary(self) -> str:
        """One line: kept counts, then the dropped counts per reason."""
        drop_i = ", ".join(f"{k} {v}" for k, v in sorted(self.images_dropped.items())) or "none"
        drop_o = ", ".join(f"{k} {v}" for k, v in sorted(self.objects_dropped.items())) or "none"
        return (f"kept {self.images_kept} images / {self.objects_kept} objects; dropped images: {drop_i}; "
                f"dropped objects: {drop_o}; clipped boxes: {self.objects_clipped}")


@dataclass(frozen=True)
class ImageRecord:
    """One kept image.

    Attributes:
        image_id: the file's image id.
        path: image file.
        width_px / height_px: size given by the JSON (boxes are normalised by it).
        objs: [n] int64 vocabulary ids, in file order.
        bboxes: [n, 4] float32 (x0, y0, x1, y1) in [0, 1].
        attributes: per object a dict of named appearance factors (name -> float), from the
            annotation's optional ``attributes`` object (custom data) or the procedural scenes'
            ``appearance`` (``scenes.appearance_attributes``); empty dicts when the file has none.
    """

    image_id: object
    path: Path
    width_px: int
    height_px: int
    objs: np.ndarray
    bboxes: np.ndarray
    attributes: Tuple[Dict[str, float], ...] = ()


def load_json(path: Path) -> dict:
    """Read a COCO JSON file. Raises DataError if it is missing, not a regular file, over
    ``MAX_JSON_BYTES``, unreadable, nested too deeply or not an object (NaN/Infinity are read as
    ``input_files.NonFinite`` marks, which the field checks refuse)."""
    try:
        data = read_json(path, MAX_JSON_BYTES, "annotation file", nonfinite="mark")
    except InputFileError as e:
        raise DataError(str(e)) from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: top level must be a JSON object with 'images', 'annotations', 'categories'")
    return data


def _list_field(data: dict, key: str, path: Path) -> list:
    if key not in data:
        raise DataError(f"{path}: missing field '{key}'")
    if not isinstance(data[key], list):
        raise DataError(f"{path}: field '{key}' must be a list, got {type(data[key]).__name__}")
    return data[key]


def _get(entry, key: str, kind, path: Path, where: str):
    """entry[key] checked to be of type ``kind``; DataError naming file and field otherwise."""
    if not isinstance(entry, dict):
        raise DataError(f"{path}: {where} must be an object, got {type(entry).__name__}")
    if key not in entry:
        raise DataError(f"{path}: {where} lacks field '{key}'")
    val = entry[key]
    if not isinstance(val, kind) or isinstance(val, bool):
        raise DataError(f"{path}: {where}.{key} has wrong type {type(val).__name__} ({value_text(val, 40)})")
    return val


def _check_bbox_field(bbox, path: Path, where: str) -> List[float]:
    if not (isinstance(bbox, list) and len(bbox) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)):
        raise DataError(f"{path}: {where}.bbox must be a list of 4 numbers [x, y, w, h], got {value_text(bbox, 60)}")
    return [float(v) for v in bbox]


def parse_categories(data: dict, path: Path) -> Dict[int, str]:
    """{id: name} of a COCO file's ``categories``. Raises DataError on a bad schema or duplicate id."""
    out: Dict[int, str] = {}
    for i, c in enumerate(_list_field(data, "categories", path)):
        cid = _get(c, "id", int, path, f"categories[{i}]")
        name = _get(c, "name", str, path, f"categories[{i}]")
        if cid in out and out[cid] != name:
            raise DataError(f"{path}: categories[{i}].id {cid} is used for both {out[cid]!r} and {name!r}")
        out[cid] = name
    return out


MAX_ATTRIBUTES = 64  # named factors per annotation


def parse_attributes(ann: dict, category: str, path: Path, where: str) -> Dict[str, float]:
    """Named appearance factors of one annotation (used by ``layout2im directions`` for named sliders).

    Custom data may give ``"attributes": {"colour": 0.3, "shiny": true, ...}``: an object of at most
    ``MAX_ATTRIBUTES`` entries, names non-empty strings (<= 64 characters), values finite numbers or
    booleans (true = 1.0). The procedural scenes' ``"appearance"`` (hue, shade, variant, texture) is
    turned into ``colour``, ``shade``, ``shape``, ``texture`` (``scenes.appearance_attributes``).

    Raises:
        DataError: ``attributes`` or ``appearance`` of the wrong type, naming the file and field.
    """
    out: Dict[str, float] = {}
    if "appearance" in ann:
        from .scenes import appearance_attributes

        app = ann["appearance"]
        try:
            out.update(appearance_attributes(category, app))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: {where}.appearance must be an object with numbers hue, shade, variant, "
                            f"texture; got {str(app)[:80]}") from None
    attrs = ann.get("attributes")
    if attrs is None:
        return out
    if not isinstance(attrs, dict):
        raise DataError(f"{path}: {where}.attributes must be an object of name: number, got "
                        f"{type(attrs).__name__}")
    if len(attrs) > MAX_ATTRIBUTES:
        raise DataError(f"{path}: {where}.attributes has {len(attrs)} entries; at most {MAX_ATTRIBUTES}")
    for name, value in attrs.items():
        if not (isinstance(name, str) and 0 < len(name) <= 64):
            raise DataError(f"{path}: {where}.attributes: names must be strings of 1-64 characters, got "
                            f"{str(name)[:70]!r}")
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DataError(f"{path}: {where}.attributes.{name} must be a finite number or a boolean, got "
                            f"{str(value)[:40]!r}")
        out[name] = float(value)
    return out


def stable_split(image_id, val_fraction: float) -> str:
    """``"val"`` for a stable pseudo-random ``val_fraction`` of image ids (crc32 of str(id)), else
    ``"train"``. Used for data that has no split of its own (custom data, scenes)."""
    return "val" if zlib.crc32(str(image_id).encode()) % 10000 < val_fraction * 10000 else "train"


class CocoDataset(SkipUnreadable):
    """Images and box layouts from a COCO-format instances JSON and an image folder.

    Defaults are for **custom data**: the vocabulary is built from the file's own category ids
    (``Vocabulary.from_id_names``; files whose ids start at 0 are renumbered 1.. in id order), every
    category is kept, an object is kept if its box covers more than 2% of the image (smaller boxes
    are a few pixels at 64x64 and cannot be learnt) and an image is kept with 1..8 objects (8 is
    the paper's trained range). :class:`CocoStuffDataset` sets the paper's values.

    Args:
        instances_json: COCO instances file (``images``, ``annotations``, ``categories``).
        image_dir: folder holding each image's ``file_name``.
        stuff_json: optional COCO-Stuff file of the same images; its annotations are added.
        vocabulary: map categories onto this vocabulary by name (names it lacks are dropped as
            ``unknown_category``); None builds one from the file(s).
        strict_vocabulary: with ``vocabulary``, require every file category's id to carry the same
            name in it (COCO-Stuff raw ids); a mismatch raises DataError.
        min_object_frac: keep an object if box area / image area > this (spec §7.1: 0.02). The area
            is w*h of the box clipped to the image, which equals the reference's w*h for every box
            inside its image.
        min_objects / max_objects: keep an image if min_objects <= #objects <= max_objects.
        exclude_categories: category names whose objects are dropped (COCO-Stuff: ``("other",)``).
        stuff_only: keep only images with at least one annotation in ``stuff_json`` (spec §7.1).
        split / val_fraction: ``"all"``, or ``"train"`` / ``"val"`` for a stable hash split of the
            image ids (:func:`stable_split`), for data without a split of its own.
        shuffle_objects: shuffle the object order at every read (training).
        image_size: side of the returned images.
        keep_image_ids: keep only images with these ids (None: all); others are dropped as
            ``not_selected``.
        drop_image_ids: drop images with these ids (counted as ``held_out``).

    Attributes:
        vocabulary: Vocabulary of the ``objs`` ids.
        records: list of :class:`ImageRecord`, one per item.
        stats: :class:`ReadStats` of the construction.

    Raises:
        DataError: missing/unreadable files or image folder, wrong schema (message names file and
            field), category names disagreeing with a strict vocabulary, or no usable image.
    """

    def __init__(self, instances_json: PathLike, image_dir: PathLike, *, stuff_json: Optional[PathLike] = None,
                 vocabulary: Optional[Vocabulary] = None, strict_vocabulary: bool = False,
                 min_object_frac: float = 0.02, min_objects: int = 1, max_objects: int = 8,
                 exclude_categories: Iterable[str] = (), stuff_only: bool = False,
                 split: str = "all", val_fraction: float = 0.1,
                 shuffle_objects: bool = True, image_size: int = 64,
                 keep_image_ids: Optional[Iterable] = None, drop_image_ids: Iterable = ()):
        super().__init__()
        keep_ids = None if keep_image_ids is None else set(keep_image_ids)
        drop_ids = set(drop_image_ids)
        if split not in ("all", "train", "val"):
            raise ValueError(f"split must be 'all', 'train' or 'val', got {split!r}")
        if stuff_only and stuff_json is None:
            raise ValueError("stuff_only=True needs a stuff_json")
        if not 0 <= min_objects <= max_objects:
            raise ValueError(f"need 0 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
        self.image_dir = Path(image_dir)
        self.shuffle_objects = shuffle_objects
        self.image_size = int(image_size)
        self.stats = ReadStats()
        files = [Path(instances_json)] + ([Path(stuff_json)] if stuff_json is not None else [])
        datas = [load_json(p) for p in files]
        if not self.image_dir.is_dir():
            raise DataError(f"{self.image_dir}: image folder not found")

        file_cats = [parse_categories(d, p) for d, p in zip(datas, files)]
        self.vocabulary, cat_map = self._vocabulary(files, file_cats, vocabulary, strict_vocabulary)
        excluded = set(exclude_categories)
        images = self._parse_images(datas[0], files[0])

        objects: Dict[object, List[Tuple[int, Tuple[float, ...], Dict[str, float]]]] = defaultdict(list)
        with_stuff = set()
        for k, (data, path) in enumerate(zip(datas, files)):
            for i, ann in enumerate(_list_field(data, "annotations", path)):
                where = f"annotations[{i}]"
                image_id = _get(ann, "image_id", (int, str), path, where)
                cid = _get(ann, "category_id", int, path, where)
                xywh = _check_bbox_field(_get(ann, "bbox", list, path, where), path, where)
                if k == 1:
                    with_stuff.add(image_id)
                kept = self._filter_object(images.get(image_id), cid, xywh, cat_map[k], excluded, min_object_frac)
                if kept is not None:
                    attrs = parse_attributes(ann, self.vocabulary.names[kept[0]], path, where)
                    objects[image_id].append((*kept, attrs))

        self.records: List[ImageRecord] = []
        missing = []
        for image_id, (file_name, w, h) in images.items():
            objs = objects.pop(image_id, [])
            reason = None
            if image_id in drop_ids:
                reason = "held_out"
            elif keep_ids is not None and image_id not in keep_ids:
                reason = "not_selected"
            elif stuff_only and image_id not in with_stuff:
                reason = "not_in_stuff"
            elif split != "all" and stable_split(image_id, val_fraction) != split:
                reason = "other_split"
            elif not objs and min_objects > 0:
                reason = "no_objects"
            elif len(objs) < min_objects:
                reason = "too_few_objects"
            elif len(objs) > max_objects:
                reason = "too_many_objects"
            elif not (self.image_dir / file_name).is_file():
                reason = "missing_file"
                missing.append(file_name)
            if reason is not None:
                self.stats.images_dropped[reason] += 1
                if objs:
                    self.stats.objects_dropped["in_dropped_image"] += len(objs)
                continue
            self.records.append(ImageRecord(
                image_id, self.image_dir / file_name, w, h,
                np.array([o[0] for o in objs], dtype=np.int64).reshape(-1),
                np.array([o[1] for o in objs], dtype=np.float32).reshape(-1, 4), tuple(o[2] for o in objs)))
        self.stats.images_kept = len(self.records)
        self.stats.objects_kept = sum(len(r.objs) for r in self.records)
        self._report(files, missing)

    # -- construction helpers -------------------------------------------------------------------

    @staticmethod
    def _vocabulary(files: Sequence[Path], file_cats: Sequence[Dict[int, str]], vocabulary: Optional[Vocabulary],
                    strict: bool) -> Tuple[Vocabulary, List[Dict[int, int]]]:
        """The vocabulary and, per file, a map file category id -> vocabulary id."""
        if vocabulary is None:
            merged: Dict[int, str] = {}
            for path, cats in zip(files, file_cats):
                for cid, name in cats.items():
                    if merged.get(cid, name) != name:
                        raise DataError(f"{path}: categories id {cid} is {name!r} but {merged[cid]!r} elsewhere")
                    merged[cid] = name
            if not merged:
                raise DataError(f"{files[0]}: field 'categories' is empty")
            if min(merged) < 1:  # id 0 is __image__: renumber contiguously in id order
                ids = sorted(merged)
                renum = {cid: i + 1 for i, cid in enumerate(ids)}
                merged_v = {renum[c]: merged[c] for c in ids}
            else:
                renum = {cid: cid for cid in merged}
                merged_v = merged
            try:
                vocabulary = Vocabulary.from_id_names(merged_v)
            except ValueError as e:
                raise DataError(f"{files[0]}: field 'categories': {e}") from None
            return vocabulary, [{cid: renum[cid] for cid in cats} for cats in file_cats]
        maps = []
        for path, cats in zip(files, file_cats):
            m = {}
            for cid, name in cats.items():
                if strict:
                    if not 0 < cid < len(vocabulary) or vocabulary.names[cid] != name:
                        have = vocabulary.names[cid] if 0 <= cid < len(vocabulary) else "nothing"
                        raise DataError(f"{path}: field 'categories': id {cid} is {name!r} in the file but "
                                        f"{have!r} in the {len(vocabulary)}-entry vocabulary")
                    m[cid] = cid
                elif name in vocabulary:
                    m[cid] = vocabulary.id_of(name)
            maps.append(m)
        return vocabulary, maps

    @staticmethod
    def _parse_images(data: dict, path: Path) -> Dict[object, Tuple[str, int, int]]:
        out: Dict[object, Tuple[str, int, int]] = {}
        for i, im in enumerate(_list_field(data, "images", path)):
            where = f"images[{i}]"
            image_id = _get(im, "id", (int, str), path, where)
            file_name = _get(im, "file_name", str, path, where)
            w = _get(im, "width", (int, float), path, where)
            h = _get(im, "height", (int, float), path, where)
            if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
                raise DataError(f"{path}: {where}.width/height must be positive, got {w} x {h}")
            if image_id in out:
                raise DataError(f"{path}: {where}.id {value_text(image_id, 40)} appears twice")
            out[image_id] = (file_name, int(w), int(h))
        _list_field(data, "annotations", path)
        return out

    def _filter_object(self, image, cid: int, xywh: List[float], cat_map: Dict[int, int], excluded: set,
                       min_object_frac: float) -> Optional[Tuple[int, Tuple[float, ...]]]:
        """(vocabulary id, normalised clipped bbox) of a kept object, or None (counted)."""
        drop = self.stats.objects_dropped
        if image is None:
            drop["unknown_image"] += 1
            return None
        if cid not in cat_map:
            drop["unknown_category"] += 1
            return None
        _, w_px, h_px = image
        x, y, w, h = xywh
        if not all(math.isfinite(v) for v in xywh) or w <= 0 or h <= 0:
            drop["bad_box"] += 1
            return None
        box_px = clip_px(xywh_to_xyxy(xywh), w_px, h_px)
        x0, y0, x1, y1 = box_px
        if x1 <= x0 or y1 <= y0:
            drop["outside_image"] += 1
            return None
        if box_px != xywh_to_xyxy(xywh):
            self.stats.objects_clipped += 1
        vid = cat_map[cid]
        if self.vocabulary.names[vid] in excluded:
            drop["excluded_category"] += 1
            return None
        if (x1 - x0) * (y1 - y0) / (w_px * h_px) <= min_object_frac:
            drop["small"] += 1
            return None
        return vid, normalise(box_px, w_px, h_px)

    def _report(self, files: Sequence[Path], missing: List[str]) -> None:
        s = self.stats
        for reason in ("unknown_image", "unknown_category", "bad_box", "outside_image"):
            if s.objects_dropped.get(reason):
                log.warning("%s: dropped %d objects (%s)", files[0].name, s.objects_dropped[reason], reason)
        if s.objects_clipped:
            log.warning("%s: clipped %d boxes that reach outside their image", files[0].name, s.objects_clipped)
        if missing:
            log.warning("%s: %d image files missing, e.g. %s", self.image_dir, len(missing), missing[:3])
        if not self.records:
            raise DataError(f"{files[0]}: no usable image ({s.summary()})")
        log.info("%s: %s", files[0].name, s.summary())

    # -- Dataset ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def object_attributes(self, index: int) -> List[Dict[str, float]]:
        """Named appearance factors of item ``index``'s objects, in file order (the order of its
        ``objs`` when the reader does not shuffle): one dict per object, empty when unknown."""
        r = self.records[index]
        return list(r.attributes) if r.attributes else [{} for _ in range(len(r.objs))]

    def _describe(self, index: int) -> str:
        return str(self.records[index].path)

    def _read(self, index: int):
        r = self.records[index]
        img, _ = read_image(r.path, self.image_size)
        return make_item(img, r.objs, r.bboxes, self.shuffle_objects)


class CocoStuffDataset(CocoDataset):
    """COCO-Stuff 2017 in its official layout, with the paper's filters (spec §7.1).

    Reads ``root/{split}2017/`` and ``root/annotations/{instances,stuff}_{split}2017.json`` (the full
    release and ``coco-stuff-mini`` alike). Vocabulary: ``Vocabulary.builtin("coco")`` (184 entries,
    raw COCO ids); every category of both files must carry the same id and name in it.

    Args:
        root: data set folder.
        split: ``"train"`` or ``"val"``.
        min_object_frac: keep an object if box area / image area > this (0.02).
        min_objects / max_objects: keep an image with 3..8 objects after the object filters.
        include_other: keep COCO-Stuff's ``other`` (id 183) objects (paper: False).
        stuff_only: keep only images that have stuff annotations (paper: True).
        shuffle_objects / image_size / keep_image_ids / drop_image_ids: as :class:`CocoDataset`.

    Raises:
        DataError: as :class:`CocoDataset`.
    """

    def __init__(self, root: PathLike, split: str = "train", min_object_frac: float = 0.02, min_objects: int = 3,
                 max_objects: int = 8, include_other: bool = False, stuff_only: bool = True,
                 shuffle_objects: bool = True, image_size: int = 64, keep_image_ids: Optional[Iterable] = None,
                 drop_image_ids: Iterable = ()):
        if split not in ("train", "val"):
            raise ValueError(f"COCO-Stuff split must be 'train' or 'val', got {split!r}")
        root = Path(root)
        ann = root / "annotations"
        super().__init__(ann / f"instances_{split}2017.json", root / f"{split}2017",
                         stuff_json=ann / f"stuff_{split}2017.json", vocabulary=Vocabulary.builtin("coco"),
                         strict_vocabulary=True, min_object_frac=min_object_frac, min_objects=min_objects,
                         max_objects=max_objects, exclude_categories=() if include_other else ("other",),
                         stuff_only=stuff_only, shuffle_objects=shuffle_objects, image_size=image_size,
                         keep_image_ids=keep_image_ids, drop_image_ids=drop_image_ids)
