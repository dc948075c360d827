"""``layout2im train | directions | export`` (registered by ``cli.py``).

    layout2im train --preset scenes64 --data DIR --run-dir RUN [--iterations N] [--batch-size B]
                    [--precision fp32|bf16|auto] [--device cpu] [--resume RUN] [--dry-run] [--set key=value ...]
    layout2im directions CKPT_OR_RUN [--top-k 8] [--max-images N] [--data DIR] [--out FILE]
    layout2im export RUN --out FILE [--dtype bf16|fp32] [--name NAME] [--standing-stats IMAGES]
    layout2im standing-stats MODEL --out FILE [--data DIR] [--images N] [--dtype bf16|fp32]

Multi-GPU / multi-node: ``torchrun --nproc_per_node G -m layout2im_core.cli train ...``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Dict

from ..cli_args import device_name, ensure_output_file, int_range, model_name
from .config import PRECISIONS, STANDING_STATS_IMAGES, TRAIN_PRESETS


def register(subparsers) -> None:
    """Add train, directions, export and standing-stats to ``subparsers``."""
    p = subparsers.add_parser("train", help="train a Layout2Im model (D step + G step per iteration)",
                              description="Train G, D_img and D_obj. Configuration: a named preset, then the "
                                          "flags, then --set key=value. Ctrl+C / SIGTERM write a checkpoint.")
    p.add_argument("--preset", default="scenes64", help=f"training preset: {', '.join(TRAIN_PRESETS)} "
                                                          "(default scenes64)")
    p.add_argument("--data", help="data set root (replaces the preset's data path)")
    p.add_argument("--data-kind", choices=("coco", "vg", "custom", "scenes"), help="data format")
    p.add_argument("--split", help="data split (default train)")
    p.add_argument("--run-dir", type=Path, help="run directory (logs, samples, checkpoints)")
    p.add_argument("--iterations", type=int_range(1, 10 ** 9), help="total iterations")
    p.add_argument("--batch-size", type=int_range(1, 4096), help="images per iteration and process")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="auto: bf16 where native and measured faster for this preset (cached), else fp32")
    p.add_argument("--device", type=device_name, help="auto (default), cpu, cuda, cuda:<i>")
    p.add_argument("--seed", type=int_range(0, 2 ** 63 - 1))
    p.add_argument("--num-workers", type=int_range(0, 256), help="DataLoader workers")
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue the run in RUN from its newest checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="set any config key, e.g. --set checkpoint_every=500 --set loss_weights.kl=0.02")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("directions", help="compute per-category appearance directions of a checkpoint")
    p.add_argument("checkpoint", type=Path, metavar="CKPT_OR_RUN")
    p.add_argument("--top-k", type=int_range(1, 4096), help="principal directions per category (default: the run's, 8)")
    p.add_argument("--max-images", type=int_range(0), help="images to encode (0: all; default: the run's)")
    p.add_argument("--data", help="data root, if it moved since training")
    p.add_argument("--out", type=Path, help="output file (default RUN/directions.pt)")
    p.set_defaults(func=cmd_directions)

    p = subparsers.add_parser("export", help="write the inference model file of a run")
    p.add_argument("run", type=Path, metavar="RUN_OR_CKPT")
    p.add_argument("--out", required=True, help="model file (.safetensors); the card goes to FILE.md")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--name", type=model_name, help="model name (default: the file name)")
    p.add_argument("--standing-stats", type=_standing_images, metavar="IMAGES",
                   help="batch-norm statistics of the exported EMA weights over this many training images "
                        f"(default {STANDING_STATS_IMAGES} when the run kept an EMA copy; 0: the live G's, copied)")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("standing-stats", help="re-estimate a model file's batch-norm statistics on its data",
                              description="Standing batch-norm statistics for a model file whose run is gone: "
                                          "the statistics of its own weights over training images, then its "
                                          "appearance directions again. The card keeps all but its metrics.")
    p.add_argument("model", help="shipped model name or model file path")
    p.add_argument("--out", required=True, help="new model file (.safetensors); the card goes to FILE.md")
    p.add_argument("--data", help="data root (default: the path in the model's card)")
    p.add_argument("--images", type=int_range(2), default=STANDING_STATS_IMAGES,
                   help=f"training images averaged over (default {STANDING_STATS_IMAGES}; at least 2)")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default=None,
                   help="weights of the new file (default: as the input's)")
    p.set_defaults(func=cmd_standing_stats)


def _standing_images(text: str) -> int:
    """``export --standing-stats``: 0 (keep the run's statistics) or a whole number >= 2."""
    import argparse

    v = int_range(0)(text)
    if v == 1:
        raise argparse.ArgumentTypeError("must be 0 (keep the run's statistics) or at least 2 (a batch), got 1")
    return v


def _flag_changes(args) -> Dict[str, Any]:
    """Config changes given as dedicated flags (only those actually given)."""
    changes = {"data_path": args.data, "data_kind": args.data_kind, "split": args.split,
               "iterations": args.iterations, "batch_size": args.batch_size, "precision": args.precision,
               "device": args.device, "seed": args.seed, "num_workers": args.num_workers}
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes.get("data_path"):
        changes["data_path"] = str(Path(changes["data_path"]).expanduser().resolve())
    return changes


def resolve_train_config(args):
    """(TrainConfig, run_dir, resume) from parsed ``train`` arguments.

    Raises:
        TrainConfigError: unknown preset/key, bad value, missing --run-dir.
    """
    from .config import TrainConfigError, apply_overrides, train_preset
    from .trainer import resume_config

    changes = _flag_changes(args)
    if args.resume is not None:
        if args.run_dir is not None and Path(args.run_dir).resolve() != Path(args.resume).resolve():
            raise TrainConfigError("--resume RUN continues in RUN; drop --run-dir or give the same directory")
        base = resume_config(args.resume, {})
        cfg = apply_overrides(base.replace(**changes), args.set)
        diff = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                if getattr(cfg, f.name) != getattr(base, f.name)}
        return resume_config(args.resume, diff), Path(args.resume), True
    cfg = train_preset(args.preset).replace(**changes)
    cfg = apply_overrides(cfg, args.set)
    if cfg.data_path and not Path(cfg.data_path).is_absolute():
        cfg = cfg.replace(data_path=str(Path(cfg.data_path).resolve()))
    if args.run_dir is None and not args.dry_run:
        raise TrainConfigError("--run-dir RUN is required (or --resume RUN)")
    return cfg, args.run_dir, False


def cmd_train(args) -> int:
    import sys

    from .config import format_config

    cfg, run_dir, resume = resolve_train_config(args)
    if args.dry_run:
        from .distributed import choose_train_precision, resolve_device

        print(f"# preset {args.preset if not resume else '(resumed run)'}; run dir {run_dir}")
        print(format_config(cfg))
        try:
            device = resolve_device(cfg.device)
            choice = choose_train_precision(cfg.precision, device, cfg.model_preset, measure=False)
            print(f"# on this machine: device {device}, precision {choice.precision} ({choice.reason}"
                  f"{'; timed when training starts' if choice.source == 'not measured' else ''})")
        except ValueError as e:
            print(f"# on this machine: {e}")
        return 0
    from .distributed import resolve_device
    from .trainer import train

    resolve_device(cfg.device)  # DeviceError (e.g. cuda without CUDA): one clear line before any work
    result = train(cfg, run_dir, resume=resume, argv=sys.argv, progress=not args.no_progress)
    print(f"{result.status} at step {result.step}; checkpoint {result.checkpoint}")
    return 0 if result.status == "done" else 130


def cmd_directions(args) -> int:
    from .checkpoints import resolve_checkpoint, run_dir_of
    from .export import run_directions

    path = resolve_checkpoint(args.checkpoint)
    out = args.out if args.out is not None else run_dir_of(path) / "directions.pt"
    ensure_output_file(out, "directions file")  # before any work
    out = run_directions(path, top_k=args.top_k, max_images=args.max_images, data_path=args.data, out=out)
    print(out)
    return 0


def cmd_export(args) -> int:
    from .export import check_model_out, export_run

    ensure_output_file(args.out, "model file")  # before any work
    check_model_out(args.out)
    ensure_output_file(Path(args.out).with_suffix(".md"), "model card")
    card = export_run(args.run, args.out, dtype=args.dtype, name=args.name, standing_images=args.standing_stats)
    print(f"{args.out} ({card['preset']}, {card['steps']} steps); card {Path(args.out).with_suffix('.md')}")
    return 0


def cmd_standing_stats(args) -> int:
    from .export import check_model_out, restat_model_file

    ensure_output_file(args.out, "model file")  # before any work
    check_model_out(args.out)
    ensure_output_file(Path(args.out).with_suffix(".md"), "model card")
    card = restat_model_file(args.model, args.out, data_path=args.data, images=args.images, dtype=args.dtype)
    st = card["standing_stats"]
    print(f"{args.out}: batch-norm statistics over {st['images']} images; card {Path(args.out).with_suffix('.md')}")
    return 0
