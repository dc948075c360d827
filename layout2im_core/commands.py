"""Core subcommands of ``layout2im``: info, import-official, generate, make-scenes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import Layout2ImError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="parameter counts and forward GFLOPs of a preset (JSON); with --device: the "
                                    "device, its bf16 support and the precision chosen for a model, and why")
    p.add_argument("--preset", default=None, help="model preset (default paper; with --device: a random-weight "
                                                  "model of it instead of the shipped default model)")
    p.add_argument("--num-classes", type=int, default=184)
    p.add_argument("--device", nargs="?", const="auto", default=None, metavar="DEVICE",
                   help="report on DEVICE (auto, cpu, cuda, cuda:<i>; default auto) instead of the preset")
    p.add_argument("--model", default=None, help="with --device: the model whose precision is chosen "
                                                 "(shipped name or file; default: the shipped default model)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="with --device")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("import-official", help="convert an official Layout2Im generator checkpoint")
    p.add_argument("checkpoint", help="netG_coco.pkl / netG_vg.pkl (a state dict of the official Generator)")
    p.add_argument("--vocab", default="coco", help="coco, vg, or a path to a vocab.json")
    p.add_argument("--out", required=True, help="output model file (.safetensors)")
    p.add_argument("--name", default="")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("generate", help="render a project/layout file to PNGs")
    p.add_argument("--model", default="scenes64", help="shipped model name or model file path")
    p.add_argument("--layout", required=True, help="project file (JSON) with the layout")
    p.add_argument("--samples", type=int, default=1, help="images with re-drawn z for unlocked objects")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=4, help="PNG upscale factor (nearest)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:<i>")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 where native and measured faster for this model (cached), else fp32")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("make-scenes", help="write N procedural scenes in COCO format")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=None, help="image side in pixels")
    p.set_defaults(func=cmd_make_scenes)


def cmd_info(args) -> int:
    if args.device is not None:
        return cmd_info_device(args)
    from .info import model_info

    try:
        info = model_info(args.preset or "paper", args.num_classes)
    except KeyError as e:
        raise Layout2ImError(str(e).strip("'\"")) from None
    print(json.dumps(info, indent=2))
    return 0


def cmd_info_device(args) -> int:
    """``info --device``: the device report and the precision the policy picks for a model, as JSON."""
    from .inference import Layout2ImModel, default_model_path
    from .precision import device_report, resolve_device

    device = resolve_device(args.device)  # DeviceError: one line, exit 2
    if args.model is None and args.preset is None and default_model_path().is_file():
        args.model = str(default_model_path())
    if args.model is not None:
        model = Layout2ImModel.load(args.model, device=str(device), precision=args.precision)
    else:
        try:
            model = Layout2ImModel.random(args.preset or "paper", device=str(device), precision=args.precision)
        except KeyError as e:
            raise Layout2ImError(str(e).strip("'\"")) from None
    report = device_report(device, model.precision_choice).to_dict()
    report["model"] = {"name": model.name, "preset": model.preset}
    print(json.dumps(report, indent=2))
    return 0


def cmd_import(args) -> int:
    from .importer import convert_official
    from .checkpoint import save_model_file

    mf = convert_official(args.checkpoint, args.vocab, name=args.name or Path(args.out).stem)
    ensure_writable_dir(Path(args.out).resolve().parent)
    save_model_file(args.out, mf)
    print(f"wrote {args.out} ({mf.config.num_classes} categories, legacy numerics)")
    return 0


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and check it is writable. Raises Layout2ImError otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Layout2ImError(f"cannot create output directory {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise Layout2ImError(f"output directory {path} is not writable")
    return path


def cmd_generate(args) -> int:
    import numpy as np
    from PIL import Image

    from .inference import Layout2ImModel
    from .errors import UnknownCategoryError
    from .project import load_project

    out = ensure_writable_dir(Path(args.out))  # before any work
    project = load_project(args.layout)
    model = Layout2ImModel.load(args.model, device=args.device, precision=args.precision)
    print(f"device {model.device}, precision {model.precision} ({model.precision_reason})", file=sys.stderr)
    layout = project.to_layout()
    unknown = sorted({o.category for o in layout.objects if o.category not in model.vocabulary})
    if unknown:
        raise UnknownCategoryError(f"layout {args.layout} uses labels the model {model.name!r} lacks: "
                                   f"{', '.join(unknown)}", unknown)
    locked = [bool(getattr(o, "locked", False)) for o in project.objects]
    stem = Path(args.layout).stem
    for s in range(args.samples):
        objs = []
        fresh = model.sample_z(len(layout.objects), args.seed + s)
        for i, o in enumerate(layout.objects):
            keep = o.z is not None and (s == 0 or locked[i])
            objs.append(o if keep else o.with_z(fresh[i]))
        img = model.generate(type(layout)(tuple(objs)))
        big = Image.fromarray(img).resize((64 * args.scale, 64 * args.scale), Image.NEAREST)
        path = out / f"{stem}_{s:03d}.png"
        big.save(path)
        print(path)
    for w in model.layout_warnings(layout):
        print(f"warning: {w}")
    return 0


def cmd_make_scenes(args) -> int:
    from .data.scenes import make_scenes

    ensure_writable_dir(Path(args.out))
    kw = {} if args.size is None else {"size": args.size}
    make_scenes(args.n, args.out, args.seed, **kw)
    print(f"wrote {args.n} scenes to {args.out}")
    return 0
