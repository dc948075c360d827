"""Annotations of a photo as a layout, Qt-free: COCO instances / stuff JSON (one image of it) and
labelme JSON.

Boxes become (x0, y0, x1, y1) in [0, 1] of the photo (COCO's [x, y, w, h] pixels and labelme's points
exist only in here). Labels map to the model's vocabulary by name (:func:`match_label`); the caller
keeps unknown ones, flagged. Several files about one photo (COCO-Stuff's ``instances_*.json`` and
``stuff_*.json``) merge into one layout (:func:`merge_photos`). The photo is looked for beside the
annotation and in the usual COCO folders (:func:`image_candidates`: ``annotations/`` next to
``val2017/``, ``images/``...).

Hostile files get an AnnotationError, never another exception: a file that is not a regular file or
over ``MAX_ANNOTATION_BYTES``, JSON nested too deeply, ``"categories"`` that is not a list, ids that
are lists or objects (such entries are skipped), non-numeric boxes (skipped).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from layout2im_core.boxes import BBox, clip_unit, normalise, xywh_to_xyxy
from layout2im_core.errors import clip
from layout2im_core.input_files import InputFileError, read_json

COCO_STUFF_OTHER = "other"  # COCO-Stuff's "unlabeled region" class: not a category (left out, as in training)
MAX_ANNOTATION_BYTES = 512 * 2 ** 20
MAX_LABEL_CHARS = 256  # = layout2im_core.project.MAX_NAME_CHARS


class AnnotationError(ValueError):
    """The file is not a readable COCO or labelme annotation (the message says why)."""


@dataclass(frozen=True)
class AnnotatedPhoto:
    """A photo's annotation.

    Attributes:
        source: the annotation file.  kind: ``"coco"`` or ``"labelme"``.
        image_path: where the photo should be (may not exist).  image_data: the photo's bytes when
            the file embeds them (labelme ``imageData``), else None.
        width, height: the photo's size in pixels.  objects: (label, bbox) in file order.
    """

    source: Path
    kind: str
    image_path: Optional[Path]
    image_data: Optional[bytes]
    width: int
    height: int
    objects: Tuple[Tuple[str, BBox], ...]
    sources: Tuple[Path, ...] = ()   # every file merged into this one (merge_photos)
    dropped: int = 0                 # COCO-Stuff "other" regions left out (not a category)

    @property
    def image_name(self) -> str:
        """The photo's file name as the annotation gives it ("" when none)."""
        return self.image_path.name if self.image_path is not None else ""


def load_json(path) -> Any:
    """Read a JSON file (AnnotationError when missing, not a regular file, over
    ``MAX_ANNOTATION_BYTES``, not UTF-8 JSON or nested too deeply; NaN/Infinity become marks that the
    box checks skip)."""
    try:
        return read_json(path, MAX_ANNOTATION_BYTES, "annotation file", nonfinite="mark")
    except InputFileError as e:
        raise AnnotationError(f"cannot read the annotation: {e}") from None


def _key(v: Any) -> Any:
    """An id usable as a dict key (int or str; None for lists, objects, floats, booleans)."""
    return v if isinstance(v, (int, str)) and not isinstance(v, bool) else None


def kind_of(data: Any) -> str:
    """``"coco"``, ``"labelme"`` (AnnotationError for anything else)."""
    if isinstance(data, dict) and isinstance(data.get("images"), list) and isinstance(data.get("annotations"), list):
        return "coco"
    if isinstance(data, dict) and isinstance(data.get("shapes"), list):
        return "labelme"
    raise AnnotationError("not a COCO instances file (images, annotations, categories) nor a labelme file (shapes)")


def natural_key(name: str) -> Tuple:
    """Sort key that orders embedded numbers by value ("img2" before "img10")."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def annotated_images(data: Any) -> List[str]:
    """File names of the photos a file annotates, sorted by name (numbers by value) (COCO: images
    that have annotations; labelme: its one ``imagePath``)."""
    if kind_of(data) == "labelme":
        path = data.get("imagePath")
        return [path.replace("\\", "/") if isinstance(path, str) else ""]
    used = {_key(a.get("image_id")) for a in data["annotations"] if isinstance(a, dict)} - {None}
    names = {_image_name(im) for im in data["images"] if isinstance(im, dict) and _key(im.get("id")) in used}
    return sorted(names, key=natural_key)


def _image_name(im: Dict) -> str:
    name = im.get("file_name")
    return name if isinstance(name, str) else str(_key(im.get("id")))


def image_candidates(source, image_name: str) -> List[Path]:
    """Where the photo ``image_name`` of the annotation file ``source`` may be, most likely first:
    beside the file; for ``annotations/instances_val2017.json`` in ``../val2017/`` and
    ``../images/val2017/``; in ``images/`` folders; then in any folder next to the file's folder."""
    source = Path(source)
    name = Path(image_name).name if image_name else ""
    if not name:
        return []
    here, up = source.parent, source.parent.parent
    split = source.stem.rsplit("_", 1)[-1] if "_" in source.stem else ""
    out = [here / image_name, here / name]
    if split:
        out += [up / split / name, up / "images" / split / name, here / split / name]
    out += [up / "images" / name, here / "images" / name]
    try:
        out += [d / name for d in sorted(up.iterdir()) if d.is_dir() and d != here]
    except OSError:
        pass
    return list(dict.fromkeys(out))


def find_image(source, image_name: str) -> Optional[Path]:
    """The first of :func:`image_candidates` that exists, or None."""
    return next((p for p in image_candidates(source, image_name) if p.is_file()), None)


def merge_photos(photos: Sequence[AnnotatedPhoto]) -> AnnotatedPhoto:
    """One photo's annotations from several files (e.g. COCO-Stuff instances + stuff) as one: stuff
    files first (backgrounds, fused first and drawn below), then the others, each in file order."""
    if not photos:
        raise AnnotationError("no annotation to merge")
    ordered = sorted(photos, key=lambda p: 0 if "stuff" in p.source.name.lower() else 1)
    first = photos[0]
    sizes = {(p.width, p.height) for p in photos}
    if len(sizes) > 1:
        raise AnnotationError("the files give different sizes for the photo: " +
                              ", ".join(f"{p.source.name} {p.width}x{p.height}" for p in photos))
    data = next((p.image_data for p in photos if p.image_data), None)
    return AnnotatedPhoto(first.source, first.kind, first.image_path, data, first.width, first.height,
                          tuple(o for p in ordered for o in p.objects),
                          tuple(s for p in photos for s in (p.sources or (p.source,))),
                          sum(p.dropped for p in photos))


def parse_annotation(data: Any, source, image_name: Optional[str] = None) -> AnnotatedPhoto:
    """The annotation of one photo (COCO: ``image_name`` or the first annotated image)."""
    source = Path(source)
    if kind_of(data) == "labelme":
        return _labelme(data, source)
    return _coco(data, source, image_name)


def read_annotation(path, image_name: Optional[str] = None) -> AnnotatedPhoto:
    """:func:`load_json` + :func:`parse_annotation`."""
    return parse_annotation(load_json(path), path, image_name)


def _label(v: Any) -> str:
    """A label as a category name: text, at most ``MAX_LABEL_CHARS`` characters (a project file
    refuses longer names)."""
    text = v if isinstance(v, str) else str(v) if isinstance(v, (int, float)) else "unlabelled"
    return " ".join(text.split())[:MAX_LABEL_CHARS] or "unlabelled"


def _size(w: Any, h: Any, where: str) -> Tuple[int, int]:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (w, h)):
        raise AnnotationError(f"{where}: the image width and height are missing or not numbers")
    try:
        w, h = int(w), int(h)
    except (TypeError, ValueError, OverflowError):
        raise AnnotationError(f"{where}: the image width and height are missing") from None
    if not (0 < w <= 1_000_000 and 0 < h <= 1_000_000):
        raise AnnotationError(f"{where}: bad image size {clip(str(w), 20)}x{clip(str(h), 20)}")
    return w, h


def _norm_box(x0: float, y0: float, x1: float, y1: float, w: int, h: int) -> Optional[BBox]:
    vals = (x0, y0, x1, y1)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals):
        return None
    a0, b0, a1, b1 = clip_unit(normalise(vals, w, h))
    (x0, x1), (y0, y1) = sorted((a0, a1)), sorted((b0, b1))  # labelme points come in any order
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _coco(data: Dict, source: Path, image_name: Optional[str]) -> AnnotatedPhoto:
    names = annotated_images(data)
    if not names:
        raise AnnotationError(f"{source}: the COCO file has no annotated image")
    name = image_name if image_name in names else names[0]
    image = next(im for im in data["images"] if isinstance(im, dict) and _image_name(im) == name
                 and _key(im.get("id")) is not None)
    w, h = _size(image.get("width"), image.get("height"), f"{source}: image {clip(name, 60)}")
    categories = data.get("categories", [])
    if not isinstance(categories, list):
        raise AnnotationError(f"{source}: \"categories\" must be a list of {{id, name}} objects")
    cats = {_key(c.get("id")): _label(c.get("name")) for c in categories
            if isinstance(c, dict) and _key(c.get("id")) is not None}
    image_id = _key(image.get("id"))
    objects, dropped = [], 0
    for a in data["annotations"]:
        if not isinstance(a, dict) or _key(a.get("image_id")) != image_id:
            continue
        bbox = a.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            continue
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            continue
        cid = _key(a.get("category_id"))
        if cid is None:
            continue
        label = cats.get(cid, f"category {clip(str(cid), 40)}")
        if label == COCO_STUFF_OTHER:
            dropped += 1
            continue
        box = _norm_box(*xywh_to_xyxy(bbox), w, h)
        if box is not None:
            objects.append((label, box))
    file_name = image.get("file_name")
    file_name = file_name if isinstance(file_name, str) and file_name and "\0" not in file_name else ""
    found = find_image(source, file_name) if file_name else None
    return AnnotatedPhoto(source, "coco", found or (source.parent / file_name if file_name else None), None, w, h,
                          tuple(objects), (source,), dropped)


def _labelme(data: Dict, source: Path) -> AnnotatedPhoto:
    w, h = _size(data.get("imageWidth"), data.get("imageHeight"), str(source))
    objects = []
    for s in data["shapes"]:
        if not isinstance(s, dict) or not isinstance(s.get("points"), list) or not s.get("label"):
            continue
        try:
            if any(isinstance(c, (bool, str)) for p in s["points"] for c in (p[0], p[1])):
                continue
            pts = [(float(p[0]), float(p[1])) for p in s["points"]]
        except (TypeError, ValueError, IndexError, KeyError, OverflowError):
            continue
        if s.get("shape_type") == "circle" and len(pts) == 2:
            (cx, cy), (px, py) = pts
            r = math.hypot(px - cx, py - cy)
            box = _norm_box(cx - r, cy - r, cx + r, cy + r, w, h)
        elif pts:
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            box = _norm_box(min(xs), min(ys), max(xs), max(ys), w, h)
        else:
            box = None
        if box is not None:
            objects.append((_label(s["label"]), box))
    data_bytes = None
    if isinstance(data.get("imageData"), str) and data["imageData"]:
        try:
            data_bytes = base64.b64decode(data["imageData"], validate=False)
        except (binascii.Error, ValueError):
            data_bytes = None
    path = data.get("imagePath")
    path = path.replace("\\", "/") if isinstance(path, str) and path and "\0" not in path else None
    found = find_image(source, path) if path else None
    return AnnotatedPhoto(source, "labelme", found or (source.parent / path if path else None), data_bytes, w, h,
                          tuple(objects), (source,))


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def match_label(label: str, categories: Iterable[str]) -> Optional[str]:
    """The vocabulary name for an annotation label: exact, else ignoring case, spaces, ``_`` and
    ``-``, else COCO-Stuff's "-other" form ("sky" -> "sky-other"), else a singular ("trees" -> "tree").
    None when nothing fits."""
    cats = list(categories)
    if label in cats:
        return label
    table: Dict[str, str] = {}
    for c in cats:
        table.setdefault(_norm(c), c)
    n = _norm(label)
    candidates = [n, n + " other"]
    if n.endswith("es"):
        candidates.append(n[:-2])
    if n.endswith("s"):
        candidates.append(n[:-1])
    for c in candidates:
        if c in table:
            return table[c]
    return None


def map_labels(labels: Sequence[str], categories: Iterable[str]) -> Tuple[List[str], List[str]]:
    """(category per label, sorted unknown labels): known labels become vocabulary names, unknown
    ones stay as they are (the app keeps and flags them)."""
    cats = list(categories)
    out, unknown = [], set()
    for label in labels:
        m = match_label(label, cats)
        out.append(m if m is not None else label)
        if m is None:
            unknown.add(label)
    return out, sorted(unknown)
