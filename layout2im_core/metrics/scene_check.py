"""``check-scenes``: what a user of a model trained on the procedural scenes sees, measured on ``n``
procedural layouts it never saw, each figure beside the same figure for real renders where one exists
(issue 12, item 5). Returned as a JSON-ready dict (``metrics/report.py`` entries).

Per layout i, one object k is picked (seeded) and moved; every figure is over layouts:

- **first slider**: k's z moved along its first slider direction (the first row of
  ``model.directions(category)``: the named ``colour`` direction where the model has one, else the
  first principal one) from -2 to +2 std; the mean |change| (RGB in [0, 1]) over k's box pixels and
  channels, median over layouts (bar >= 0.06). Real reference: the object's ``colour`` factor moved
  across its range (palette 0.1 -> 0.9; whole-wheel hues cos(2 pi hue) -1 -> +1).
- **re-draw**: k's z re-drawn from the prior; mean |change| inside its box, mean over layouts (bar
  >= 0.05). Real reference: k's appearance factors re-drawn (``redraw_appearance`` of one object).
- **named colour slider**: k moved along its ``colour`` direction to -2, -1, 0, +1, +2 std; the
  object's colour is read off its box with a ``ColourMeter`` (colour ~ mean box RGB, least squares per
  category, fitted on ``COLOUR_SCENES`` real scenes); Spearman of position and measured colour, mean
  over layouts whose object has a colour direction (bar >= 0.8). Real reference: the same on real
  renders with the factor at five positions.
- **locality**: share of the re-draw's change (sum over channels of |delta|) inside k's box dilated
  by 2 px; mean (bar >= 0.9) and median; the slider move's share is reported beside it. Objects later
  in the layout may cover k; such cover is not subtracted from the box.
- **diversity**: mean pairwise L1 of the ``samples`` images of a layout drawn with different z (bar
  >= 0.08); reference: real renders with re-drawn appearance factors.
- **identity**: 32x32 crops of the generated images at the layout's boxes, classified by a small CNN
  trained from scratch on real procedural crops (18 scene classes, :func:`scene_vocabulary`); top-1
  (bar >= 90 %) beside the same classifier on real renders of the same layouts (the ceiling).
- **FID** (TF-Inception pool3, ``metrics/fid.py``): generated sample 0 vs real renders of the same
  layouts, beside real vs real (the re-drawn renders against the same real renders) at the same n;
  the figure is their ratio (bar <= 2).
- **checkerboard**: mean |response| of the 2x2 filter [[1, -1], [-1, 1]] of the generated images over
  that of the real renders (bar <= 1.5).

Seeds (all deterministic; real data does not depend on ``seed``):

- evaluated layout i: ``sample_scene(EVAL_SEED_BASE + i)``; classifier training scene j:
  ``sample_scene(CLASSIFIER_SEED_BASE + j)``; colour meter scene j: ``sample_scene(COLOUR_SEED_BASE +
  j)``; rendered with the same integer as render seed. These plain-int seeds never equal a
  ``make-scenes`` training layout (whose entropy is ``[seed, i]``), and the ranges do not meet for n
  below 10**7.
- real sample r >= 1 of layout i: ``redraw_appearance(layout, REDRAW_SEED_BASE + samples * i + r)``
  rendered with that seed too; the real re-draw of object k uses ``REDRAW_SEED_BASE + samples * n + i``.
- z of sample r of layout i: ``model.sample_z(len(layout), (seed * samples + r) * n + i)``; the moved
  object: ``default_rng([seed, i, 7]).integers(len(layout))``; its re-drawn z:
  ``default_rng([seed, i, 11]).standard_normal(Z)``; the classifier trains with ``seed``. These are
  look codes, as the app's: a model with an appearance prior maps them to z when it renders
  (``appearance_prior.py``), and its directions come in look-code space.
- real images are rendered at ``REAL_SIZE`` (128) and resized to 64x64 with PIL bilinear, as
  ``make-scenes`` data at its default size is read in training.

Cost on the 2-core CPU (one core busy with training): ~10 generator passes per layout through the fast
edit path, ~12 real renders per layout, Inception features of 3n images (~0.3 s each on one core); a
new classifier adds ``train_scenes`` renders and its training (minutes); ``classifier_path`` reuses it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import Layout2ImError
from ..types import LayoutSpec
from . import classifier as clf_mod
from .report import check_output_folder, passed, write_json
from .report import entry as _entry
from .report import format_table as _format_table
from .scene_classifier import (  # noqa: F401
    CLASSIFIER_BATCH,
    CLASSIFIER_EPOCHS,
    CLASSIFIER_LR,
    CLASSIFIER_SEED_BASE,
    CLASSIFIER_WIDTHS,
    _classifier,
    check_scene_categories,
    real_training_crops,
    scene_crops,
    scene_vocabulary,
)
from .scene_figures import (  # noqa: F401
    LOCALITY_DILATE_PX,
    ColourMeter,
    box_change,
    box_mean_rgb,
    box_region,
    change_share_inside,
    checkerboard_response,
    mean_pairwise_l1,
    spearman,
)

RESULT_FORMAT = "layout2im-check-scenes"
RESULT_VERSION = 2

EVAL_SEED_BASE = 10_000_000         # evaluated layout i: sample_scene(EVAL_SEED_BASE + i)
REDRAW_SEED_BASE = 30_000_000       # re-drawn appearance of the real references
COLOUR_SEED_BASE = 40_000_000       # colour-meter scenes
REAL_SIZE = 128                     # real scenes are rendered like make-scenes, then resized to 64
SLIDER_STD = 2.0                    # slider move, in std of the direction, each way
SWEEP = (-2.0, -1.0, 0.0, 1.0, 2.0)  # colour slider positions (std)
COLOUR_SCENES = 600

SLIDER = "first slider -2 -> +2 std: mean abs change inside the object's box (median)"
REDRAW = "one object's z re-drawn: mean abs change inside its box"
COLOUR = "named slider 'colour': Spearman of position and the object's measured colour"
LOCALITY_MEAN = "locality: share of the re-draw's change inside the box + 2 px (mean)"
LOCALITY_MEDIAN = "locality: share of the re-draw's change inside the box + 2 px (median)"
LOCALITY_SLIDER = "locality: share of the first slider's change inside the box + 2 px (mean)"
DIVERSITY = "diversity: mean pairwise L1 of generated samples (same layout, different z)"
DIVERSITY_REAL = "diversity reference: mean pairwise L1 of real renders (same layout, re-drawn appearance)"
IDENTITY = "identity: object accuracy top-1 on generated crops"
IDENTITY_REAL = "identity ceiling: object accuracy top-1 on held-out real crops"
FID_RATIO = "FID generated vs real renders, over real vs real (same layouts, same n)"
CHECKER = "checkerboard: 2x2 high-pass response, generated / real"


@dataclass(frozen=True)
class Targets:
    """Pass thresholds (issue 12, item 5)."""

    slider_change: float = 0.06
    redraw_change: float = 0.05
    colour_spearman: float = 0.8
    locality: float = 0.9
    diversity_l1: float = 0.08
    identity_pct: float = 90.0
    fid_ratio: float = 2.0
    checkerboard_ratio: float = 1.5


def render_real(layout, render_seed: int) -> np.ndarray:
    """A scene rendered like the training data: REAL_SIZE PNG pixels -> PIL bilinear 64x64.
    Returns uint8 [64, 64, 3]."""
    from PIL import Image

    from ..data.scenes import render_scene

    img = render_scene(layout, render_seed, REAL_SIZE)
    return np.asarray(img.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.uint8)


def _with_z(spec: LayoutSpec, zs: np.ndarray) -> LayoutSpec:
    return LayoutSpec(tuple(o.with_z(z) for o, z in zip(spec.objects, zs)))


def _quantise(img: np.ndarray) -> np.ndarray:
    """float [H, W, 3] in [0, 1] -> uint8, as ``Layout2ImModel.generate``."""
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def check_inputs(model, n: int, samples: int, train_scenes: int, classifier_path=None, out_json=None,
                 classifier_epochs: int = CLASSIFIER_EPOCHS) -> None:
    """Every check before any work.

    Raises:
        Layout2ImError: n < 2, samples < 2, train_scenes or classifier_epochs < 1 while a classifier
            has to be trained, a missing output folder; UnknownCategoryError: scene categories that
            the model's vocabulary lacks.
    """
    if int(n) < 2:
        raise Layout2ImError(f"n must be at least 2 layouts, got {n}")
    if int(samples) < 2:
        raise Layout2ImError(f"samples must be at least 2 per layout (diversity compares pairs), got {samples}")
    if int(n) * max(int(samples), 1) > CLASSIFIER_SEED_BASE - EVAL_SEED_BASE:
        raise Layout2ImError(f"n x samples must be at most {CLASSIFIER_SEED_BASE - EVAL_SEED_BASE}, "
                             f"got {n} x {samples}")
    needs_training = classifier_path is None or not Path(classifier_path).is_file()
    if needs_training and not 1 <= int(train_scenes) <= REDRAW_SEED_BASE - CLASSIFIER_SEED_BASE:
        raise Layout2ImError(f"train_scenes must be in 1..{REDRAW_SEED_BASE - CLASSIFIER_SEED_BASE} to train "
                             f"the object classifier, got {train_scenes}")
    if needs_training and int(classifier_epochs) < 1:
        raise Layout2ImError(f"classifier_epochs must be at least 1, got {classifier_epochs}")
    check_scene_categories(model.vocabulary, repr(str(getattr(model, "name", "the model"))))
    for p in (out_json, classifier_path):
        if p is not None:
            check_output_folder(p)


def run_scene_check(model, n: int = 500, out_json=None, *, seed: int = 0, samples: int = 4,
                    train_scenes: int = 2000, classifier_path=None, classifier_epochs: int = CLASSIFIER_EPOCHS,
                    targets: Targets = Targets(), fid: bool = True, colour_scenes: int = COLOUR_SCENES,
                    progress: Optional[Callable[[str], None]] = None) -> Dict:
    """Compute every figure of the module docstring and, with ``out_json``, write them as JSON.

    Args:
        model: a ``Layout2ImModel`` (uses ``vocabulary``, ``name``, ``sample_z(n, seed)`` -> float32
            [n, Z], ``render_float(layout)`` -> float32 [64, 64, 3] in [0, 1] and
            ``directions(category, k)``); load it in fp32.
        n: evaluated layouts (>= 2; the issue asks >= 500).
        out_json: result path, or None.
        seed: z, moved-object and classifier-training seed.
        samples: generated (and real) images per layout for diversity (>= 2).
        train_scenes: real scenes whose crops train a new classifier.
        classifier_path: load the classifier from this file if it exists (it must have the scene
            classes), else train one and save it there. None: train, do not save.
        classifier_epochs: training epochs of a new classifier.
        targets: pass thresholds.
        fid: compute the FID figure (needs the ``eval`` extra's Inception network; minutes at n=500).
        colour_scenes: real scenes that fit the ColourMeter (>= 20 per category are needed to fit one).
        progress: called with one line per step.
    Returns:
        ``{"format", "version", "model", "n", "seed", "samples", "layouts", "targets", "classifier",
        "timings", "figures": {exact name: entry}, "passed"}``.
    Raises:
        the errors of :func:`check_inputs` (before any work); ModelFileError: a classifier file that
        is not a scene classifier (before generating), or the Inception network missing (``fid``).
    """
    from ..data.scenes import sample_scene

    n, samples = int(n), int(samples)
    check_inputs(model, n, samples, train_scenes, classifier_path, out_json, classifier_epochs)
    say = progress or (lambda msg: None)
    timings: Dict[str, float] = {}
    t_start = time.time()

    t0 = time.time()
    clf, clf_info = _classifier(classifier_path, train_scenes, classifier_epochs, seed, say)
    timings["classifier_s"] = time.time() - t0
    t0 = time.time()
    meter = colour_meter(colour_scenes)
    timings["colour_meter_s"] = time.time() - t0

    layouts = [sample_scene(EVAL_SEED_BASE + i) for i in range(n)]
    moved = [int(np.random.default_rng([seed, i, 7]).integers(len(lay))) for i, lay in enumerate(layouts)]
    t0 = time.time()
    say(f"rendering {n} held-out real layouts x {samples} and the moved objects' real references")
    real = real_samples(layouts, samples)  # [n, K, 64, 64, 3] uint8
    real_ref = _real_references(layouts, moved, meter, real)
    timings["real_renders_s"] = time.time() - t0

    say(f"generating {n} layouts x {samples} z draws, a slider sweep and a re-draw each")
    t0 = time.time()
    g = _generate(model, layouts, moved, seed, samples, meter, say)
    timings["generation_s"] = time.time() - t0

    t0 = time.time()
    figures, acc_real = _figures(clf, layouts, real, real_ref, g, targets)
    if fid:
        say(f"Inception features of {3 * n} images for FID")
        figures[FID_RATIO] = _fid_entry(g.images[:, 0], real[:, 0], real[:, 1], targets)
    timings["metrics_s"] = time.time() - t0
    timings["total_s"] = time.time() - t_start

    result = {"format": RESULT_FORMAT, "version": RESULT_VERSION,
              "model": str(getattr(model, "name", type(model).__name__)),
              "n": n, "seed": int(seed), "samples": samples,
              "layouts": {"evaluated": f"sample_scene({EVAL_SEED_BASE} + i), i < {n}",
                          "classifier": f"sample_scene({CLASSIFIER_SEED_BASE} + j)",
                          "colour_meter": f"sample_scene({COLOUR_SEED_BASE} + j), j < {colour_scenes}",
                          "real_size": REAL_SIZE, "image_size": 64},
              "targets": asdict(targets),
              "classifier": {**clf_info, "real_crop_accuracy_top1_pct": 100 * acc_real.top1},
              "colour_meter_r2": {k: round(v, 3) for k, v in sorted(meter.fit_r2.items())},
              "timings": {k: round(v, 2) for k, v in timings.items()},
              "figures": figures,
              "passed": passed(figures)}
    if out_json is not None:
        write_json(result, out_json)
    return result


def real_samples(layouts: Sequence, samples: int) -> np.ndarray:
    """Real renders of evaluated layouts: sample 0 as drawn (render seed EVAL_SEED_BASE + i), samples
    r >= 1 with re-drawn appearance factors and render seed REDRAW_SEED_BASE + samples * i + r.

    Returns:
        uint8 [N, samples, 64, 64, 3].
    """
    from ..data.scenes import redraw_appearance

    real = np.empty((len(layouts), samples, 64, 64, 3), np.uint8)
    for i, lay in enumerate(layouts):
        real[i, 0] = render_real(lay, EVAL_SEED_BASE + i)
        for r in range(1, samples):
            s = REDRAW_SEED_BASE + samples * i + r
            real[i, r] = render_real(redraw_appearance(lay, s), s)
    return real


def colour_positions(category: str) -> Tuple[float, ...]:
    """Hue values whose ``colour`` factor rises monotonically across its range, for real sweeps."""
    from ..data.scenes import WHEEL_HUE

    return (0.5, 0.375, 0.25, 0.125, 0.0) if category in WHEEL_HUE else (0.1, 0.3, 0.5, 0.7, 0.9)


def colour_meter(scenes: int = COLOUR_SCENES) -> ColourMeter:
    """Fit the ColourMeter on ``scenes`` real scenes ``sample_scene(COLOUR_SEED_BASE + j)``."""
    from ..data.scenes import appearance_attributes, sample_scene

    rgb: Dict[str, List[np.ndarray]] = {}
    colour: Dict[str, List[float]] = {}
    for j in range(scenes):
        lay = sample_scene(COLOUR_SEED_BASE + j)
        img = render_real(lay, COLOUR_SEED_BASE + j)
        for o in lay.objects:
            rgb.setdefault(o.category, []).append(box_mean_rgb(img, o.bbox))
            colour.setdefault(o.category, []).append(appearance_attributes(o.category, o.appearance)["colour"])
    return ColourMeter.fit({c: np.stack(v) for c, v in rgb.items()}, {c: np.array(v) for c, v in colour.items()})


@dataclass
class _RealRef:
    redraw_change: np.ndarray   # [N]
    redraw_share: np.ndarray    # [N]
    sweep_change: np.ndarray    # [N] colour factor across its range
    colour_rho: np.ndarray      # [N]


def _real_references(layouts: Sequence, moved: Sequence[int], meter: ColourMeter, real: np.ndarray) -> _RealRef:
    """Real renders of each layout with the moved object's appearance re-drawn, and with its colour
    factor at five positions (render seed of ``real[i, 0]``)."""
    from dataclasses import replace

    from ..data.scenes import SceneLayout, SceneObject, redraw_appearance

    n = len(layouts)
    out = _RealRef(*(np.full(n, np.nan) for _ in range(4)))
    for i, (lay, k) in enumerate(zip(layouts, moved)):
        o = lay.objects[k]
        swap = lambda app: SceneLayout(lay.objects[:k] + (SceneObject(o.category, o.bbox, app),)  # noqa: E731
                                       + lay.objects[k + 1:])
        new_app = redraw_appearance(SceneLayout((o,)), REDRAW_SEED_BASE + len(real[0]) * n + i).objects[0].appearance
        after = render_real(swap(new_app), EVAL_SEED_BASE + i)
        out.redraw_change[i] = box_change(real[i, 0], after, o.bbox)
        out.redraw_share[i] = change_share_inside(real[i, 0], after, o.bbox)
        sweep = [render_real(swap(replace(o.appearance, hue=h)), EVAL_SEED_BASE + i)
                 for h in colour_positions(o.category)]
        out.sweep_change[i] = box_change(sweep[0], sweep[-1], o.bbox)
        out.colour_rho[i] = spearman(SWEEP, [meter.measure(o.category, im, o.bbox) for im in sweep])
    return out


@dataclass
class _Generated:
    images: np.ndarray          # uint8 [N, K, 64, 64, 3]
    slider_change: np.ndarray   # [N]
    slider_share: np.ndarray    # [N], NaN where nothing changed
    redraw_change: np.ndarray   # [N]
    redraw_share: np.ndarray    # [N]
    colour_rho: np.ndarray      # [N], NaN without a colour direction
    moved: List[str]            # category of the moved object per layout
    first_slider: List[str]     # name of the first slider's direction ("" = principal)
    fallback: List[str]         # moved categories without learned directions (unit z axis used)


def _generate(model, layouts: Sequence, moved: Sequence[int], seed: int, samples: int, meter: ColourMeter,
              say: Callable[[str], None]) -> _Generated:
    """K z draws per layout, the moved object's slider sweeps and re-draw (through the fast edit path)."""
    n = len(layouts)
    nan = [np.full(n, np.nan) for _ in range(5)]
    g = _Generated(np.empty((n, samples, 64, 64, 3), np.uint8), nan[0], nan[1], nan[2], nan[3], nan[4], [], [], [])
    fallback = set()
    t0 = time.time()
    for i, (lay, k) in enumerate(zip(layouts, moved)):
        spec = lay.to_layout_spec()
        obj = spec.objects[k]
        zs = [model.sample_z(len(spec), (seed * samples + r) * n + i) for r in range(samples)]  # [O, Z] each
        base = model.render_float(_with_z(spec, zs[0]))  # [64, 64, 3] float in [0, 1]
        g.images[i, 0] = _quantise(base)

        def moved_to(z_k):
            z = zs[0].copy()
            z[k] = z_k
            return model.render_float(_with_z(spec, z))

        d = model.directions(obj.category, 1)
        if d.fallback:
            fallback.add(obj.category)
        names = tuple(getattr(d, "names", ()) or ("",) * len(d.std))
        step = float(d.std[0]) * np.asarray(d.components[0], np.float32)
        lo, hi = moved_to(zs[0][k] - SLIDER_STD * step), moved_to(zs[0][k] + SLIDER_STD * step)
        g.slider_change[i] = box_change(lo, hi, obj.bbox)
        g.slider_share[i] = change_share_inside(lo, hi, obj.bbox)
        g.first_slider.append(names[0])
        if "colour" in names:
            c = names.index("colour")
            step = float(d.std[c]) * np.asarray(d.components[c], np.float32)
            sweep = [moved_to(zs[0][k] + p * step) for p in SWEEP]
            g.colour_rho[i] = spearman(SWEEP, [meter.measure(obj.category, im, obj.bbox) for im in sweep])
        z_new = np.random.default_rng([seed, i, 11]).standard_normal(len(zs[0][k])).astype(np.float32)
        redrawn = moved_to(z_new)
        g.redraw_change[i] = box_change(base, redrawn, obj.bbox)
        g.redraw_share[i] = change_share_inside(base, redrawn, obj.bbox)
        g.moved.append(obj.category)
        for r in range(1, samples):
            g.images[i, r] = _quantise(model.render_float(_with_z(spec, zs[r])))
        if (i + 1) % 50 == 0 or i + 1 == n:
            el = time.time() - t0
            say(f"  {i + 1}/{n} layouts, {el:.0f} s, ~{el / (i + 1) * (n - i - 1):.0f} s left")
    g.fallback = sorted(fallback)
    return g


def _stats(v: np.ndarray) -> Tuple[np.ndarray, Dict]:
    ok = v[~np.isnan(v)]
    return ok, {"mean": float(ok.mean()) if len(ok) else None, "median": float(np.median(ok)) if len(ok) else None}


def _by_category(values: np.ndarray, moved: Sequence[str]) -> Dict[str, Dict]:
    out = {}
    for cat in sorted(set(moved)):
        v = values[np.array([m == cat for m in moved]) & ~np.isnan(values)]
        out[cat] = {"mean": round(float(v.mean()), 4) if len(v) else None, "n": int(len(v))}
    return out


def _figures(clf, layouts: Sequence, real: np.ndarray, ref: _RealRef, g: _Generated,
             targets: Targets) -> Tuple[Dict, clf_mod.Accuracy]:
    """Every figure but FID, and the classifier's Accuracy on the real crops."""
    n, samples = real.shape[:2]
    nan = float("nan")
    figures: Dict[str, Dict] = {}
    named_first = sum(1 for s in g.first_slider if s)
    v, st = _stats(g.slider_change)
    figures[SLIDER] = _entry(st["median"], len(v), (">=", targets.slider_change), mean=st["mean"],
                             real=_stats(ref.sweep_change)[1]["median"],
                             by_category=_by_category(g.slider_change, g.moved),
                             first_slider_named=f"{named_first} of {n} objects",
                             note="real: the colour factor moved across its range")
    v, st = _stats(g.redraw_change)
    figures[REDRAW] = _entry(st["mean"], len(v), (">=", targets.redraw_change), median=st["median"],
                             real=_stats(ref.redraw_change)[1]["mean"],
                             by_category=_by_category(g.redraw_change, g.moved))
    v, st = _stats(g.colour_rho)
    figures[COLOUR] = _entry(st["mean"] if len(v) else nan, len(v), (">=", targets.colour_spearman),
                             median=st["median"], real=_stats(ref.colour_rho)[1]["mean"],
                             by_category=_by_category(g.colour_rho, g.moved),
                             note="objects without a 'colour' direction are left out; colour read by the "
                                  "ColourMeter (box mean RGB, fitted on real scenes)")
    v, st = _stats(g.redraw_share)
    extra = dict(real=_stats(ref.redraw_share)[1]["mean"], unchanged_layouts=int(n - len(v)),
                 fallback_categories=g.fallback, by_category=_by_category(g.redraw_share, g.moved))
    figures[LOCALITY_MEAN] = _entry(st["mean"], len(v), (">=", targets.locality), **extra)
    figures[LOCALITY_MEDIAN] = _entry(st["median"], len(v), (">=", targets.locality))
    v, st = _stats(g.slider_share)
    figures[LOCALITY_SLIDER] = _entry(st["mean"], len(v), median=st["median"])

    div_gen, div_real = mean_pairwise_l1(g.images), mean_pairwise_l1(real)
    pairs = n * samples * (samples - 1) // 2
    figures[DIVERSITY] = _entry(div_gen.mean(), n, (">=", targets.diversity_l1), std=float(div_gen.std()),
                                samples_per_layout=samples, pairs=pairs, real=float(div_real.mean()),
                                ratio_to_real=float(div_gen.mean() / max(div_real.mean(), 1e-12)))
    figures[DIVERSITY_REAL] = _entry(div_real.mean(), n, std=float(div_real.std()), samples_per_layout=samples,
                                     pairs=pairs)

    gen_crops, labels = scene_crops(g.images[:, 0], layouts)
    real_crops, _ = scene_crops(real[:, 0], layouts)
    acc_gen = clf_mod.accuracy(clf, gen_crops, labels)
    acc_real = clf_mod.accuracy(clf, real_crops, labels)
    crops = "layout box as is, occluded or not"
    figures[IDENTITY] = _entry(100 * acc_gen.top1, acc_gen.n, (">=", targets.identity_pct), unit="%",
                               top5=100 * acc_gen.top5, layouts=n, crops=crops, real=100 * acc_real.top1)
    figures[IDENTITY_REAL] = _entry(100 * acc_real.top1, acc_real.n, unit="%", top5=100 * acc_real.top5,
                                    layouts=n, crops=crops)
    cb_gen, cb_real = checkerboard_response(g.images[:, 0]), checkerboard_response(real[:, 0])
    figures[CHECKER] = _entry(cb_gen.mean() / max(cb_real.mean(), 1e-12), n, ("<=", targets.checkerboard_ratio),
                              generated=float(cb_gen.mean()), real=float(cb_real.mean()))
    return figures, acc_real


def _fid_entry(generated: np.ndarray, real_a: np.ndarray, real_b: np.ndarray, targets: Targets) -> Dict:
    """FID(generated, real_a) over FID(real_b, real_a): the same n, one Inception pass per set."""
    from .fid import fid_from_features, inception_features

    fa, fg, fb = (inception_features(x) for x in (real_a, generated, real_b))
    fid_gen, fid_real = fid_from_features(fa, fg), fid_from_features(fa, fb)
    return _entry(fid_gen / max(fid_real, 1e-9), len(generated), ("<=", targets.fid_ratio), fid_generated=fid_gen,
                  fid_real_vs_real=fid_real, real=1.0,
                  note="TF-Inception pool3; generated sample 0 and real re-drawn renders, each against the "
                       "real renders of the same layouts")


def format_table(result: Dict) -> str:
    """Plain-text table: figure, value, target, pass/fail, n, and the real reference."""
    head = (f"{result.get('model', '?')}: check-scenes on {result.get('n')} unseen procedural layouts, seed "
            f"{result.get('seed')}, {result.get('timings', {}).get('total_s', 0):.0f} s")
    return _format_table(head, result["figures"], ("real",))
