"""Core subcommands of ``layout2im``: info, import-official, generate, make-scenes."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Optional

from .cli_args import MAX_SEED, device_name, ensure_output_file, int_range, model_name
from .cli_args import ensure_writable_dir as _ensure_writable_dir
from .errors import Layout2ImError

MAX_SAMPLES = 1000
MAX_SCALE = 64  # a 4096 px PNG
MAX_SCENES = 1_000_000
SCENE_SIZES = (16, 1024)  # make-scenes renders at 4x this side


def register(sub: argparse._SubParsersAction) -> None:
    """Add info, import-official, generate and make-scenes to ``sub``."""
    p = sub.add_parser("info", help="parameter counts and forward GFLOPs of a preset or a model file (JSON); with "
                                    "--device: the device, its bf16 support and the precision chosen for a model, "
                                    "and why")
    p.add_argument("--preset", default=None, help="model preset (default paper; with --device: a random-weight "
                                                  "model of it instead of the shipped default model)")
    p.add_argument("--num-classes", type=int_range(2, 10_000), default=184)
    p.add_argument("--device", nargs="?", const="auto", default=None, metavar="DEVICE",
                   help="report on DEVICE (auto, cpu, cuda, cuda:<i>; default auto) instead of the preset")
    p.add_argument("--model", default=None, help="a shipped model name or model file: its architecture instead "
                                                 "of a preset's; with --device, the model whose precision is "
                                                 "chosen (default there: the shipped default model)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="with --device")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("import-official", help="convert an official Layout2Im generator checkpoint")
    p.add_argument("checkpoint", help="netG_coco.pkl / netG_vg.pkl (a state dict of the official Generator)")
    p.add_argument("--vocab", default="coco", help="coco, vg, or a path to a vocab.json")
    p.add_argument("--out", required=True, help="output model file (.safetensors)")
    p.add_argument("--name", type=model_name, default=None)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("generate", help="render a project/layout file to PNGs")
    p.add_argument("--model", default=None, help="shipped model name or model file path (default: the "
                   "shipped model the project was made with, else scenes64)")
    p.add_argument("--layout", required=True, help="project file (JSON) with the layout")
    p.add_argument("--samples", type=int_range(1, MAX_SAMPLES), default=1,
                   help=f"images with re-drawn z for unlocked objects (1..{MAX_SAMPLES})")
    p.add_argument("--seed", type=int_range(0, MAX_SEED - MAX_SAMPLES), default=0)
    p.add_argument("--scale", type=int_range(1, MAX_SCALE), default=4,
                   help=f"PNG upscale factor (nearest, 1..{MAX_SCALE})")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", type=device_name, default=None, help="auto, cpu, cuda or cuda:<index>")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 where native and measured faster for this model (cached), else fp32")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("make-scenes", help="write N procedural scenes in COCO format")
    p.add_argument("--n", type=int_range(1, MAX_SCENES), required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int_range(0, MAX_SEED), default=0)
    p.add_argument("--size", type=int_range(*SCENE_SIZES), default=None,
                   help=f"image side in pixels ({SCENE_SIZES[0]}..{SCENE_SIZES[1]})")
    p.set_defaults(func=cmd_make_scenes)


def _info_model_path(args) -> Optional[Path]:
    """The model file ``info`` describes.

    Returns:
        ``--model`` resolved (a shipped name or a path), or None when it is not given.

    Raises:
        Layout2ImError: both --preset and --model given.
        ModelFileError: a name that is neither shipped nor a file (one line, exit 2).
    """
    if args.model is None:
        return None
    if args.preset is not None:
        raise Layout2ImError("give --preset or --model, not both")
    from .model_registry import resolve_model

    return resolve_model(args.model)


def cmd_info(args) -> int:
    model_path = _info_model_path(args)
    if args.device is not None:
        return cmd_info_device(args, model_path)
    from .info import config_info, model_info

    if model_path is not None:  # a model file's own architecture
        from .checkpoint import load_model_file
        from .config import preset_name

        mf = load_model_file(model_path)
        info = {"model": mf.name, **config_info(mf.config, preset_name(mf.config))}
        print(json.dumps(info, indent=2))
        return 0
    try:
        info = model_info(args.preset or "paper", args.num_classes)
    except KeyError as e:
        raise Layout2ImError(str(e).strip("'\"")) from None
    print(json.dumps(info, indent=2))
    return 0


def cmd_info_device(args, model_path: Optional[Path]) -> int:
    """``info --device``: the device report and the precision the policy picks for a model, as JSON:
    the model file ``model_path`` (``_info_model_path``), else ``--preset``'s random model, else the
    shipped default model when installed, else ``paper``'s.

    Raises:
        DeviceError: ``--device`` names no usable device.
        ModelFileError: the model file does not load.
        Layout2ImError: an unknown preset.
    """
    from .inference import Layout2ImModel, default_model_path
    from .precision import device_report, resolve_device

    device = resolve_device(args.device)  # DeviceError: one line, exit 2
    if model_path is None and args.preset is None and default_model_path().is_file():
        model_path = default_model_path()
    if model_path is not None:
        model = Layout2ImModel.load(str(model_path), device=str(device), precision=args.precision)
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
    from .checkpoint import save_model_file
    from .importer import convert_official

    ensure_output_file(args.out, "output model file")  # before any work
    name = args.name or Path(args.out).stem[:256] or "model"
    mf = convert_official(args.checkpoint, args.vocab, name=name)
    save_model_file(args.out, mf)
    print(f"wrote {args.out} ({mf.config.num_classes} categories, legacy numerics)")
    return 0


def ensure_writable_dir(path: Path) -> Path:
    """Create ``path`` if needed and prove it writable (``cli_args.ensure_writable_dir``).
    Raises Layout2ImError otherwise."""
    return _ensure_writable_dir(path, "output directory")


def model_for_project(requested, recorded: str) -> str:
    """The model ``generate`` uses: ``--model`` when given, else the shipped model the project records,
    else the default (saying so on stderr when the recorded one is not installed)."""
    import sys

    from .inference import DEFAULT_MODEL, available_models

    if requested:
        return requested
    if recorded and recorded in available_models():
        return recorded
    if recorded:
        print(f"note: the project was made with the model {recorded!r}, which is not installed; using "
              f"{DEFAULT_MODEL} (choose one with --model)", file=sys.stderr)
    return DEFAULT_MODEL


def cmd_generate(args) -> int:
    from PIL import Image

    from .atomic import atomic_write
    from .errors import UnknownCategoryError, clip
    from .inference import Layout2ImModel
    from .project import load_project

    out = ensure_writable_dir(Path(args.out))  # before any work
    project = load_project(args.layout)
    model = Layout2ImModel.load(model_for_project(args.model, project.model_name), device=args.device,
                                precision=args.precision)
    print(f"device {model.device}, precision {model.precision} ({model.precision_reason})", file=sys.stderr)
    layout = project.to_layout()
    unknown = sorted({o.category for o in layout.objects if o.category not in model.vocabulary})
    if unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        shown = ", ".join(clip(u, 40) for u in unknown[:10]) + more
        raise UnknownCategoryError(f"layout {args.layout} uses labels the model {model.name!r} lacks: {shown}", unknown)
    locked = [bool(getattr(o, "locked", False)) for o in project.objects]
    stem = Path(args.layout).stem
    for s in range(args.samples):
        objs = []
        fresh = model.sample_z(len(layout.objects), args.seed + s)
        for i, o in enumerate(layout.objects):
            keep = o.z is not None and (s == 0 or locked[i])
            objs.append(o if keep else o.with_z(fresh[i]))
        img = model.generate(type(layout)(tuple(objs)))
        big = Image.fromarray(img).resize((64 * args.scale, 64 * args.scale), Image.Resampling.NEAREST)
        path = out / f"{stem}_{s:03d}.png"
        buf = io.BytesIO()
        big.save(buf, format="PNG")
        atomic_write(path, buf.getbuffer())  # a full disk leaves no empty or partial PNG
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
