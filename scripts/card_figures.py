"""Figures for a model card, as PNGs upscaled x2 (nearest), one row per layout:

    scenes-grid   held-out procedural layouts (check-scenes' ``sample_scene(EVAL_SEED_BASE + i)``):
                  the real render, then K samples of the model (different z)
    slider-strip  held-out procedural layouts, one object (the largest thing on the ground, else the
                  largest object) moved along its first slider from -2 to +2 std in 5 steps; the
                  object's box is outlined in the first column
    coco-grid     held-out photos of a COCO-Stuff split: real | K model samples | copy-nearest (the
                  training photo whose layout overlaps most, ``metrics/baselines.py``)

    python scripts/card_figures.py scenes-grid --model M --rows 8 --samples 4 --out grid.png
    python scripts/card_figures.py slider-strip --model M --rows 6 --out strip.png
    python scripts/card_figures.py coco-grid --model M --data ../shared/data/coco-stuff-mini \\
        --train-split train+val-holdout --split holdout --train-max-objects 16 --out grid.png
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from layout2im_core.inference import Layout2ImModel
from layout2im_core.types import LayoutSpec, ObjectSpec

GAP = 2  # pixels between columns (before upscaling)


def _row(images, gap=GAP) -> np.ndarray:
    h = images[0].shape[0]
    parts = []
    for im in images:
        parts += [im, np.full((h, gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def _save(rows, out, scale=2) -> None:
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, GAP), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    img = Image.fromarray(np.concatenate(rows, axis=0))
    img.resize((img.width * scale, img.height * scale), Image.NEAREST).save(out)
    print(f"wrote {out} ({len(rows)} rows)")


def _outline(img: np.ndarray, bbox, colour=(255, 255, 0)) -> np.ndarray:
    im = Image.fromarray(img)
    x0, y0, x1, y1 = (round(v * 64) for v in bbox)
    ImageDraw.Draw(im).rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour)
    return np.asarray(im)


def scenes_grid(model, rows: int, samples: int, seed: int):
    from layout2im_core.data.scenes import sample_scene
    from layout2im_core.metrics.scene_check import EVAL_SEED_BASE, render_real

    out = []
    for i in range(rows):
        lay = sample_scene(EVAL_SEED_BASE + i)
        spec = lay.to_layout_spec()
        fakes = [model.generate(LayoutSpec(tuple(o.with_z(z) for o, z in
                                                 zip(spec.objects, model.sample_z(len(spec), seed + 100 * i + r)))))
                 for r in range(samples)]
        out.append(_row([render_real(lay, EVAL_SEED_BASE + i)] + fakes))
    return out


def _moved_object(spec: LayoutSpec) -> int:
    things = ("tree", "house", "car", "boat", "bush", "rock", "flower", "fence")
    area = [(o.bbox[2] - o.bbox[0]) * (o.bbox[3] - o.bbox[1]) for o in spec.objects]
    cands = [i for i, o in enumerate(spec.objects) if o.category in things] or list(range(len(spec)))
    return max(cands, key=lambda i: area[i])


def slider_strip(model, rows: int, seed: int, steps=(-2.0, -1.0, 0.0, 1.0, 2.0)):
    from layout2im_core.data.scenes import sample_scene
    from layout2im_core.metrics.scene_check import EVAL_SEED_BASE

    out = []
    for i in range(rows):
        spec = sample_scene(EVAL_SEED_BASE + 1000 + i).to_layout_spec()
        k = _moved_object(spec)
        z = model.sample_z(len(spec), seed + i)
        d = model.directions(spec.objects[k].category, 1)
        imgs = []
        for s in steps:
            zz = z.copy()
            zz[k] = z[k] + s * float(d.std[0]) * d.components[0]
            imgs.append(model.generate(LayoutSpec(tuple(o.with_z(v) for o, v in zip(spec.objects, zz)))))
        imgs[0] = _outline(imgs[0], spec.objects[k].bbox)
        name = (d.names[0] if getattr(d, "names", None) and d.names[0] else "look 1")
        print(f"row {i}: {spec.objects[k].category}, slider '{name}' at {list(steps)} std")
        out.append(_row(imgs))
    return out


def coco_grid(model, data, train_split, split, rows, samples, seed, train_max_objects=None):
    from layout2im_core.data.build import build_dataset
    from layout2im_core.metrics.baselines import CopyNearest

    limits = {} if train_max_objects is None else {"min_objects": 1, "max_objects": train_max_objects}
    train, _ = build_dataset("coco", data, train_split, shuffle_objects=False, **limits)
    held, vocab = build_dataset("coco", data, split, shuffle_objects=False)
    nearest = CopyNearest.fit(train)
    out = []
    for i in range(min(rows, len(held))):
        it = held[i]
        spec = model.in_training_order(LayoutSpec(tuple(ObjectSpec(vocab.name_of(int(o)), tuple(float(v) for v in b))
                                                        for o, b in zip(it["objs"].tolist(), it["bboxes"].tolist()))))
        real = (it["img"].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        fakes = list(model.generate_batch([spec] * samples, seed=seed + 1000 * i))
        out.append(_row([real] + fakes + [nearest.render(it["objs"].tolist(), it["bboxes"])]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("figure", choices=["scenes-grid", "slider-strip", "coco-grid"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default="../shared/data/coco-stuff-mini")
    ap.add_argument("--train-split", default="train+val-holdout")
    ap.add_argument("--split", default="holdout")
    ap.add_argument("--train-max-objects", type=int, default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    model = Layout2ImModel.load(args.model, device="cpu", precision="fp32")
    if args.figure == "scenes-grid":
        rows = scenes_grid(model, args.rows, args.samples, args.seed)
    elif args.figure == "slider-strip":
        rows = slider_strip(model, args.rows, args.seed)
    else:
        rows = coco_grid(model, args.data, args.train_split, args.split, args.rows, args.samples, args.seed,
                         args.train_max_objects)
    _save(rows, args.out)


if __name__ == "__main__":
    main()
