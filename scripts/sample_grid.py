"""Render a model card's sample grid: for the first N layouts of a data split, the real image then
K samples of the model (different z), one row per layout, upscaled x2 (nearest).

    python scripts/sample_grid.py --model resources/models/cocostuff-mini64.safetensors \
        --data ../shared/data/coco-stuff-mini --kind coco --split val --rows 8 --out grid.png
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from layout2im_core.data.build import build_dataset
from layout2im_core.inference import Layout2ImModel
from layout2im_core.types import LayoutSpec, ObjectSpec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--kind", default="coco")
    ap.add_argument("--split", default="val")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    model = Layout2ImModel.load(args.model, device="cpu", precision="fp32")
    ds, vocab = build_dataset(args.kind, args.data, args.split, shuffle_objects=False)
    rows = []
    for i in range(min(args.rows, len(ds))):
        item = ds[i]
        objs = tuple(ObjectSpec(vocab.name_of(int(o)), tuple(float(v) for v in b))
                     for o, b in zip(item["objs"], item["bboxes"]))
        real = (item["img"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        fakes = model.generate_batch([LayoutSpec(objs)] * args.samples, seed=args.seed + 1000 * i)
        rows.append(np.concatenate([real] + list(fakes), axis=1))
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
