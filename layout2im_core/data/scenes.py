"""Procedural outdoor scenes: a built-in, license-free data set with known layouts and appearance.

A scene is a :class:`SceneLayout`, an ordered tuple of :class:`SceneObject` (category, bbox,
:class:`Appearance`), in drawing order (back to front, so later objects partly occlude earlier
ones). :func:`sample_scene` draws a plausible layout, :func:`render_scene` paints it with Pillow and
numpy at ``supersample`` times the output size and downsamples with LANCZOS, and
:func:`redraw_appearance` keeps the boxes and draws new appearance factors (a "same layout, other
appearance" reference). :func:`make_scenes` writes a COCO-format data set that the COCO custom
reader reads (``build_dataset("scenes", out_dir)``).

Categories are COCO-Stuff names with their COCO-Stuff ids (``Vocabulary.builtin("coco")``), so a
model trained on scenes shares the COCO vocabulary. There is no sun category (COCO-Stuff has none):
the sun is a variant of the sky.

Layout rules (normalised coordinates, y down): the sky fills the image above a horizon at y in
[0.35, 0.6]; ground regions fill the rest (grass, sea over sand or grass, sand); a river winds
through grass or a road crosses it; clouds float in the sky; mountains and hills stand on the
horizon; boats sit on the sea, cars on the road, trees, bushes, flowers, rocks, houses and fences on
land, scaled by perspective (nearer = lower = larger) and drawn far to near. Every box covers more
than 2.5% of the image, each image has 3-8 objects, so scenes pass the COCO-Stuff filters (spec
§7.1). Output files: 128x128 PNG by default (training resizes to 64x64).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np
from PIL import Image

from ..atomic import atomic_write, atomic_write_with, remove_stale_temps
from ..boxes import area, clip_unit, xywh_px_to_bbox, xyxy_to_xywh
from ..errors import LayoutError
from ..types import LayoutSpec, ObjectSpec
from ..vocab import Vocabulary
from . import scenes_draw as D
from . import scenes_things as T

DRAWERS = {
    "sky-other": D.draw_sky, "clouds": D.draw_clouds, "mountain": D.draw_mountain, "hill": D.draw_hill,
    "sea": D.draw_sea, "river": D.draw_river, "sand": D.draw_sand, "grass": D.draw_grass, "road": D.draw_road,
    "tree": T.draw_tree, "bush": T.draw_bush, "flower": T.draw_flower, "rock": T.draw_rock,
    "house": T.draw_house, "car": T.draw_car, "boat": T.draw_boat, "fence": T.draw_fence,
}
SCENE_CATEGORIES: Tuple[str, ...] = tuple(DRAWERS)
N_VARIANTS = 3  # every category has shape variants 0, 1, 2 (see each drawer's docstring)
APPEARANCE_DOC = """hue in [0, 1]: position on the category's colour palette (whole hue wheel for car,
boat and flower); shade in [0, 1]: brightness (x0.72 .. x1.2); variant in {0, 1, 2}: shape variant;
texture in [0, 1]: strength of the category's texture or pattern. See each drawer's docstring."""

PathLike = Union[str, Path]
MIN_AREA = 0.025  # box area / image area of every sampled object (the filter threshold is 0.02)


@dataclass(frozen=True)
class Appearance:
    """Appearance factors of one object (APPEARANCE_DOC). Values are rounded to 3 decimals so that
    a layout written to JSON and read back renders identically."""

    hue: float
    shade: float
    variant: int
    texture: float

    def to_dict(self) -> Dict:
        return {"hue": self.hue, "shade": self.shade, "variant": self.variant, "texture": self.texture}

    @staticmethod
    def from_dict(d: Dict) -> "Appearance":
        return Appearance(float(d["hue"]), float(d["shade"]), int(d["variant"]), float(d["texture"]))


@dataclass(frozen=True)
class SceneObject:
    """category: a name of SCENE_CATEGORIES; bbox: (x0, y0, x1, y1) in [0, 1]; appearance."""

    category: str
    bbox: Tuple[float, float, float, float]
    appearance: Appearance


@dataclass(frozen=True)
class SceneLayout:
    """Objects in drawing order (back to front)."""

    objects: Tuple[SceneObject, ...]

    def __len__(self) -> int:
        return len(self.objects)

    def to_layout_spec(self) -> LayoutSpec:
        """The model's LayoutSpec of this scene (categories and boxes, z left to be drawn)."""
        return LayoutSpec(tuple(ObjectSpec(o.category, o.bbox) for o in self.objects))


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Uniformly drawn factors: hue, shade, texture ~ U(0, 1), variant ~ U{0, 1, 2}."""
    hue, shade, texture = (round(float(v), 3) for v in rng.random(3))
    return Appearance(hue, shade, int(rng.integers(N_VARIANTS)), texture)


WHEEL_HUE = ("car", "boat", "flower")  # categories whose hue spans the whole colour wheel
FACTOR_NAMES = ("colour", "shade", "shape", "texture")


def appearance_attributes(category: str, app) -> Dict[str, float]:
    """The named factors of an object's appearance (for named slider directions).

    ``colour`` is the hue (position on the category's palette), or for the categories whose hue spans
    the whole wheel (``WHEEL_HUE``) cos(2 pi hue): +1 red, -1 cyan, a linear quantity where the hue
    itself wraps around. ``shade`` and ``texture`` are the factors themselves; ``shape`` is the variant
    index (0, 1, 2: see each drawer's docstring).

    Args:
        category: the object's category name. app: an ``Appearance`` or its dict.

    Raises:
        KeyError, TypeError, ValueError: ``app`` lacks a factor or holds a non-number.
    """
    a = app if isinstance(app, Appearance) else Appearance.from_dict(app)
    hue = float(np.cos(2 * np.pi * a.hue)) if category in WHEEL_HUE else a.hue
    out = {"colour": hue, "shade": a.shade, "shape": float(a.variant), "texture": a.texture}
    if not all(np.isfinite(v) for v in out.values()):
        raise ValueError("appearance factors must be finite")
    return out


def redraw_appearance(layout: SceneLayout, seed: int) -> SceneLayout:
    """The same categories and boxes with newly drawn appearance factors (deterministic for a seed)."""
    rng = np.random.default_rng([seed, 7])
    return SceneLayout(tuple(SceneObject(o.category, o.bbox, sample_appearance(rng)) for o in layout.objects))


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _clip_box(x0, y0, x1, y1) -> Tuple[float, float, float, float]:
    c0, c1, c2, c3 = (round(v, 4) for v in clip_unit((x0, y0, x1, y1)))
    return (c0, c1, c2, c3)


def _covered(a, b) -> float:
    """Intersection of two boxes over the smaller box's area."""
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, iw) * max(0.0, ih) / max(1e-9, min(area(a), area(b)))


# Base size (w, h) ranges at perspective scale 1 for the objects that stand on something.
_SIZES = {"tree": ((0.14, 0.22), (0.28, 0.42)), "bush": ((0.16, 0.26), (0.1, 0.15)),
          "flower": ((0.18, 0.3), (0.09, 0.14)), "rock": ((0.12, 0.2), (0.09, 0.15)),
          "house": ((0.2, 0.3), (0.18, 0.26)), "fence": ((0.35, 0.7), (0.07, 0.1)),
          "car": ((0.22, 0.3), (0.1, 0.13)), "boat": ((0.2, 0.3), (0.12, 0.2))}
# What stands on each ground category, with relative frequencies.
_ON: Dict[str, Dict[str, float]]
_ON = {"grass": {"tree": 3, "bush": 1.5, "flower": 1.5, "rock": 1, "house": 1.5, "fence": 1},
       "sand": {"rock": 2, "bush": 1, "fence": 1}, "sea": {"boat": 1}, "road": {"car": 1}}


def sample_scene(seed, min_objects: int = 3, max_objects: int = 8) -> SceneLayout:
    """A random plausible scene layout with appearance (rules in the module docstring).

    Args:
        seed: int, sequence of ints, or a numpy Generator (consumed).
        min_objects / max_objects: object count range, 3 <= min <= max <= 8 recommended.

    Returns:
        SceneLayout in drawing order; every bbox area > MIN_AREA of the image.
    """
    rng = _rng(seed)
    target = int(rng.integers(min_objects, max_objects + 1))
    hz = float(rng.uniform(0.35, 0.6))
    objs: List[Tuple[str, tuple]] = [("sky-other", _clip_box(0, 0, 1, hz))]
    kind = rng.choice(["meadow", "coast", "bay", "beach", "meadow"])
    split = hz + float(rng.uniform(0.3, 0.6)) * (1 - hz)
    regions = {"meadow": [("grass", hz, 1.0)], "beach": [("sand", hz, 1.0)],
               "coast": [("sea", hz, split), ("sand", split, 1.0)],
               "bay": [("sea", hz, split), ("grass", split, 1.0)]}[kind]
    objs += [(c, _clip_box(0, y0, 1, y1)) for c, y0, y1 in regions]
    supports = list(regions)
    grass = [r for r in regions if r[0] == "grass" and r[2] - r[1] > 0.3]
    if grass and target > len(objs) and rng.random() < 0.6:
        _, gy0, gy1 = grass[0]
        if rng.random() < 0.55:
            rh = float(rng.uniform(0.1, 0.16))
            ry = float(rng.uniform(gy0 + 0.1, gy1 - rh - 0.04))
            objs.append(("road", _clip_box(0, ry, 1, ry + rh)))
            road = ("road", ry + 0.5 * rh, ry + rh - 0.01)
            supports = [("grass", gy0, ry), road, road, ("grass", ry + rh + 0.05, gy1)]
            supports += [r for r in regions if r[0] != "grass"]
        elif gy0 == hz:
            rw = float(rng.uniform(0.3, 0.6))
            rx = float(rng.uniform(0, 1 - rw))
            objs.append(("river", _clip_box(rx, hz, rx + rw, 1.0)))
    things: List[Tuple[str, tuple]] = []
    n_sky = n_far = 0
    for _ in range(60):
        if len(objs) + len(things) >= target:
            break
        roll = rng.random()
        if roll < 0.15 and n_sky < 2 and hz > 0.3:
            w = float(rng.uniform(0.2, 0.45))
            h = max(float(rng.uniform(0.07, 0.14)), MIN_AREA * 1.05 / w)
            if hz - h - 0.05 < 0.02:
                continue
            x0, y0 = float(rng.uniform(0, 1 - w)), float(rng.uniform(0.02, hz - h - 0.05))
            box = _clip_box(x0, y0, x0 + w, y0 + h)
            if all(_covered(box, b) < 0.4 for c, b in objs if c == "clouds"):
                objs.append(("clouds", box))
                n_sky += 1
            continue
        if roll < 0.32 and n_far < 2:
            cat = "mountain" if rng.random() < 0.6 else "hill"
            w = float(rng.uniform(0.35, 0.9))
            h = float(rng.uniform(0.12, 0.28) if cat == "mountain" else rng.uniform(0.07, 0.14))
            x0 = float(rng.uniform(-0.15, 1.15 - w))
            box = _clip_box(x0, hz - h, x0 + w, hz)
            if area(box) > MIN_AREA:
                objs.append((cat, box))
                n_far += 1
            continue
        support, sy0, sy1 = supports[int(rng.integers(len(supports)))]
        if support not in _ON or sy1 - sy0 < 0.03:
            continue
        names, weights = zip(*_ON[support].items())
        cat = names[int(rng.choice(len(names), p=np.array(weights) / sum(weights)))]
        b = float(rng.uniform(sy0 + min(0.04, (sy1 - sy0) / 2), sy1))
        scale = 0.6 + 0.9 * (b - hz) / (1 - hz)
        (wl, wh), (hl, hh) = _SIZES[cat]
        w, h = float(rng.uniform(wl, wh)) * scale, float(rng.uniform(hl, hh)) * scale
        if w * h < MIN_AREA * 1.1:
            k = (MIN_AREA * 1.1 / (w * h)) ** 0.5
            w, h = w * k, h * k
        x0 = float(rng.uniform(-0.05, 1.05 - w))
        box = _clip_box(x0, b - h, x0 + w, b)
        if area(box) > MIN_AREA and all(_covered(box, t) < 0.45 for _, t in things):
            things.append((cat, box))
    order = {"sky-other": 0, "clouds": 1, "mountain": 2, "hill": 3}
    back = sorted(objs, key=lambda o: order.get(o[0], 4))  # stable: regions keep their top-down order
    front = sorted(things, key=lambda o: o[1][3])  # far (higher base) first
    return SceneLayout(tuple(SceneObject(c, b, sample_appearance(rng)) for c, b in back + front))


def render_scene(layout: SceneLayout, seed: int = 0, size: int = 128, supersample: int = 4) -> Image.Image:
    """Paint a scene layout.

    Objects are painted in layout order onto a neutral background at ``size * supersample`` pixels,
    then downsampled with LANCZOS. ``seed`` fixes the render details (puff and leaf positions,
    noise); object k uses its own stream (seed, k), so it looks the same if others change.

    Returns:
        RGB PIL image of size x size.

    Raises:
        LayoutError: an object's category has no drawer (not in SCENE_CATEGORIES).
    """
    r = size * supersample
    canvas = np.empty((r, r, 3), np.float32)
    canvas[:] = D.vgrad(r, r, (0.78, 0.82, 0.86), (0.5, 0.55, 0.45))
    for k, o in enumerate(layout.objects):
        if o.category not in DRAWERS:
            raise LayoutError(f"object {k}: no scene drawer for category {o.category!r}; "
                              f"scenes know {list(SCENE_CATEGORIES)}")
        x0, y0, x1, y1 = (int(round(v * r)) for v in o.bbox)
        x1, y1 = min(r, max(x1, x0 + 2)), min(r, max(y1, y0 + 2))
        x0, y0 = min(x0, x1 - 2), min(y0, y1 - 2)
        DRAWERS[o.category](canvas, (x0, y0, x1, y1), o.appearance, np.random.default_rng([seed, k]))
    img = Image.fromarray((np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    return img.resize((size, size), Image.Resampling.LANCZOS) if supersample != 1 else img


def scene_for_index(seed: int, index: int) -> Tuple[SceneLayout, int]:
    """(layout, render seed) of image ``index`` (0-based) of ``make_scenes(..., seed=seed)``, without
    reading or rendering anything: ``render_scene(layout, render_seed, size)`` gives its pixels."""
    layout_ss, render_ss = np.random.SeedSequence([int(seed), int(index)]).spawn(2)
    return sample_scene(np.random.default_rng(layout_ss)), int(render_ss.generate_state(1)[0])


def _make_one(args) -> List[Dict]:
    """Sample, render and write scene ``index``; return its COCO annotations (without ids)."""
    index, seed, size, image_dir = args
    layout, render_seed = scene_for_index(seed, index)
    img = render_scene(layout, render_seed, size)
    # Atomic (a stopped run leaves whole images or none); no fsync per image, as for any regenerable data;
    # make_scenes cleans the folder's stale temporaries once, not once per image (a scan of the folder).
    atomic_write_with(Path(image_dir) / f"{index + 1:06d}.png", lambda f: img.save(f, format="PNG", optimize=False),
                      fsync=False, clean_stale=False)
    coco = Vocabulary.builtin("coco")
    anns = []
    for k, o in enumerate(layout.objects):
        x0, y0, w, h = xyxy_to_xywh([round(v * size, 3) for v in o.bbox])
        w, h = round(w, 3), round(h, 3)
        anns.append({"image_id": index + 1, "category_id": coco.id_of(o.category), "bbox": [x0, y0, w, h],
                     "area": round(w * h, 3), "iscrowd": 0, "order": k, "appearance": o.appearance.to_dict()})
    return anns


def scene_categories() -> List[Dict]:
    """COCO ``categories`` entries of the scene categories, ids from the built-in COCO vocabulary."""
    coco = Vocabulary.builtin("coco")
    return sorted(({"id": coco.id_of(c), "name": c, "supercategory": "scene"} for c in SCENE_CATEGORIES),
                  key=lambda c: c["id"])


def make_scenes(n: int, out_dir: PathLike, seed: int = 0, size: int = 128, workers: int = 1,
                progress: bool = True) -> Path:
    """Write ``n`` scenes as a COCO-format data set.

    Layout: ``out_dir/images/000001.png`` ... (size x size RGB PNG) and ``out_dir/annotations.json``
    (COCO instances format; categories with COCO-Stuff ids; each annotation also carries
    ``appearance`` and its drawing ``order``). Image i depends only on (seed, i): the same seed
    gives byte-identical files, whatever ``workers``.

    Args:
        n: number of images (>= 1).
        out_dir: created if missing; existing files of the same names are overwritten.
        seed: integer seed.
        size: output side in pixels (rendered at 4x and downsampled).
        workers: processes (multiprocessing) used to render; 1 renders in this process.
        progress: show a tqdm progress bar.

    Returns:
        Path of annotations.json.
    """
    from tqdm import tqdm

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 16 <= size <= 4096:
        raise ValueError(f"size must be 16..4096 pixels, got {size}")
    out = Path(out_dir)
    image_dir = out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(image_dir)  # of an earlier, stopped run
    jobs = [(i, int(seed), int(size), str(image_dir)) for i in range(n)]
    bar = tqdm(total=n, desc="make-scenes", unit="img", disable=not progress)
    results: List[List[Dict]] = []
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for anns in pool.imap(_make_one, jobs, chunksize=8):
                results.append(anns)
                bar.update()
    else:
        for job in jobs:
            results.append(_make_one(job))
            bar.update()
    bar.close()
    annotations: List[Dict] = []
    for anns in results:
        for a in anns:
            annotations.append({"id": len(annotations) + 1, **a})
    data = {"info": {"description": "Layout2Im Studio procedural scenes", "seed": int(seed), "size": int(size),
                     "version": 1},
            "licenses": [],
            "images": [{"id": i + 1, "file_name": f"{i + 1:06d}.png", "width": size, "height": size}
                       for i in range(n)],
            "annotations": annotations, "categories": scene_categories()}
    path = out / "annotations.json"
    atomic_write(path, json.dumps(data, indent=None, separators=(",", ":")))
    return path


def load_scene_layouts(out_dir: PathLike) -> List[Tuple[str, SceneLayout]]:
    """(file_name, SceneLayout) of every image of a :func:`make_scenes` output, objects in drawing
    order with their appearance, e.g. to re-render a scene with :func:`redraw_appearance`."""
    data = json.loads((Path(out_dir) / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    per_image: Dict[int, List] = {im["id"]: [] for im in data["images"]}
    for a in data["annotations"]:
        per_image[a["image_id"]].append(a)
    out = []
    for im in data["images"]:
        w, h = im["width"], im["height"]
        objs = []
        for a in sorted(per_image[im["id"]], key=lambda a: a.get("order", 0)):
            objs.append(SceneObject(names[a["category_id"]], xywh_px_to_bbox(a["bbox"], w, h),
                                    Appearance.from_dict(a["appearance"])))
        out.append((im["file_name"], SceneLayout(tuple(objs))))
    return out
