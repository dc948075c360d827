"""``layout2im eval``: the paper's metrics, each named for exactly what it measures (issue 8);
``layout2im check-scenes``: what a user of a procedural-scenes model sees (issue 12)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli_args import device_name, ensure_output_file, int_range

KINDS = ("coco", "scenes", "vg", "custom")


def register(sub: argparse._SubParsersAction) -> None:
    """Add eval and check-scenes to ``sub``."""
    p = sub.add_parser("eval", help="FID/KID, ST-LPIPS diversity and object accuracy of a model on a data split")
    p.add_argument("--model", required=True, help="shipped model name or model file path")
    p.add_argument("--data", required=True, help="data folder (COCO-Stuff root, scenes folder, VG folder)")
    p.add_argument("--kind", default=None, choices=KINDS,
                   help="coco | scenes | vg | custom (default: guessed from the folder)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--eval-split", default="val")
    p.add_argument("--n", type=int_range(1, 1_000_000), default=100, help="images (layouts) evaluated")
    p.add_argument("--out", required=True, help="result JSON file")
    p.add_argument("--seed", type=int_range(0, 2 ** 31), default=0)
    p.add_argument("--device", type=device_name, default=None)
    p.add_argument("--classifier", default=None, help="classifier file: loaded if present, else trained and saved")
    p.add_argument("--classifier-epochs", type=int_range(1, 10_000), default=20)
    p.add_argument("--classifier-max-images", type=int_range(1), default=None)
    p.add_argument("--train-max-objects", type=int_range(1, 64), default=None,
                   help="object-count limit of the training split (the run's max_objects; default: the reader's)")
    p.add_argument("--train-min-objects", type=int_range(0, 64), default=None)
    p.add_argument("--no-baselines", action="store_true", help="skip the colour-boxes and copy-nearest baselines")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("check-scenes", help="what a user of a scenes model sees, on unseen procedural layouts: "
                                            "slider and re-draw effect, colour slider, locality, diversity, "
                                            "identity, FID, checkerboard (pass/fail against the issue-12 bars; "
                                            "exit status 1 when a bar is not met)")
    p.add_argument("--model", required=True, help="shipped model name or model file path")
    p.add_argument("--n", type=int_range(2), default=500, help="procedural layouts evaluated (>= 2)")
    p.add_argument("--seed", type=int_range(0, 2 ** 31), default=0, help="z, slider-object and classifier seed")
    p.add_argument("--out", default=None, help="result JSON file (optional)")
    p.add_argument("--classifier", default=None,
                   help="scene classifier file: loaded if present, else trained and saved")
    p.add_argument("--train-scenes", type=int_range(1), default=2000, help="real scenes that train a new classifier")
    p.add_argument("--classifier-epochs", type=int_range(1, 10_000), default=None, help="epochs of a new classifier")
    p.add_argument("--samples", type=int_range(2, 1000), default=4, help="z draws per layout for diversity (>= 2)")
    p.add_argument("--colour-scenes", type=int_range(20, 100_000), default=600,
                   help="real scenes that fit the colour meter")
    p.add_argument("--no-fid", action="store_true", help="skip the FID figure (minutes of Inception at n=500)")
    p.add_argument("--device", type=device_name, default=None)
    p.set_defaults(func=cmd_check_scenes)


def guess_kind(path: Path) -> str:
    """``coco`` for a COCO-Stuff root (annotations/stuff_*.json), ``vg`` for h5 files, ``scenes`` for a
    make-scenes folder (annotations.json + images/)."""
    if (path / "annotations").is_dir() and any((path / "annotations").glob("stuff_*2017.json")):
        return "coco"
    if any(path.glob("*.h5")) or (path / "178classes").is_dir():
        return "vg"
    if (path / "annotations.json").is_file():
        return "scenes"
    return "custom"


def cmd_eval(args) -> int:
    from ..data.build import build_dataset
    from ..errors import DataError
    from ..inference import Layout2ImModel
    from .evaluate import format_table, run_eval

    data = Path(args.data)
    if not data.exists():
        raise DataError(f"data folder {data} does not exist")
    ensure_output_file(args.out, "result file")
    if args.classifier is not None and not Path(args.classifier).is_file():
        ensure_output_file(args.classifier, "classifier file")
    kind = args.kind or guess_kind(data)
    limits = {k: v for k, v in (("min_objects", args.train_min_objects), ("max_objects", args.train_max_objects))
              if v is not None}
    train, _ = build_dataset(kind, data, args.train_split, shuffle_objects=False, **limits)
    held, _ = build_dataset(kind, data, args.eval_split, shuffle_objects=False)
    model = Layout2ImModel.load(args.model, device=args.device, precision="fp32")
    result = run_eval(model, train, held, args.n, args.out, seed=args.seed, device=args.device,
                      classifier_path=args.classifier, classifier_epochs=args.classifier_epochs,
                      classifier_max_images=args.classifier_max_images, baselines=not args.no_baselines,
                      progress=print)
    print(format_table(result))
    print(f"wrote {args.out}")
    return 0


def cmd_check_scenes(args) -> int:
    from ..inference import Layout2ImModel
    from .scene_check import check_inputs, format_table, run_scene_check

    if args.out is not None:
        ensure_output_file(args.out, "result file")
    if args.classifier is not None and not Path(args.classifier).is_file():
        ensure_output_file(args.classifier, "classifier file")
    model = Layout2ImModel.load(args.model, device=args.device, precision="fp32")
    kw = {} if args.classifier_epochs is None else {"classifier_epochs": args.classifier_epochs}
    check_inputs(model, args.n, args.samples, args.train_scenes, args.classifier, args.out, **kw)
    result = run_scene_check(model, args.n, args.out, seed=args.seed, samples=args.samples,
                             train_scenes=args.train_scenes, classifier_path=args.classifier, progress=print,
                             fid=not args.no_fid, colour_scenes=args.colour_scenes, **kw)
    print(format_table(result))
    if args.out is not None:
        print(f"wrote {args.out}")
    if not result["passed"]:
        failed = [name for name, e in result["figures"].items() if isinstance(e, dict) and e.get("pass") is False]
        print(f"check-scenes: {len(failed)} bar(s) not met: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0
