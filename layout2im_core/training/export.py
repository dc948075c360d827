"""Export a run as the inference model file the app loads (``checkpoint.save_model_file``):
generator weights (fp32 or bf16), config, vocabulary, appearance directions and a model card; the
card is also written as Markdown beside the file (``FILE.md``).
"""

from __future__ import annotations

import json
import logging
import shlex
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..atomic import atomic_write_files
from ..checkpoint import ModelFile, model_file_bytes
from ..config import ModelConfig, preset_name
from ..errors import DataError
from ..models.generator import Generator
from ..vocab import Vocabulary
from . import checkpoints as ckpts
from .config import STANDING_STATS_IMAGES, TrainConfig
from .directions import DirectionSet, compute_directions, load_directions, save_directions
from .standing_stats import standing_statistics
from .step import autocast_context

log = logging.getLogger(__name__)

DTYPES = {"fp32": None, "bf16": torch.bfloat16}


MIN_TRAINED_COUNT = 5  # objects of a category in the training crops for it to count as "trained on"


def load_generator(ckpt: Dict[str, Any]) -> Generator:
    """The checkpoint's G (CPU, eval mode): its EMA copy when the run kept one (``ema_decay``)."""
    G = Generator(ModelConfig.from_dict(ckpt["model_config"]))
    G.load_state_dict(ckpt["G_ema"] if "G_ema" in ckpt else ckpt["G"])
    return G.eval()


def _open_data(cfg: TrainConfig, vocab_names, owner: str):
    """``(dataset, vocabulary)`` of the config's data (``trainer.open_dataset``).

    Raises:
        DataError: the data cannot be read, or its vocabulary is not ``vocab_names`` (``owner`` names
            the model or checkpoint in the message).
    """
    from .trainer import open_dataset

    dataset, vocab = open_dataset(cfg)
    if list(vocab.names) != list(vocab_names):
        raise DataError(f"the data at {cfg.data_path} has another vocabulary than {owner}")
    return dataset, vocab


def run_directions(ckpt_or_run, top_k: Optional[int] = None, max_images: Optional[int] = None,
                   data_path: Optional[str] = None, out: Optional[Path] = None,
                   device: Optional[torch.device] = None) -> Path:
    """``layout2im directions``: compute the appearance directions of a checkpoint (default: the
    newest of a run) on its training data and write them (default ``RUN/directions.pt``).

    Raises:
        ModelFileError: no loadable checkpoint. NonFiniteStateError: its weights hold NaN/inf.
        DataError: the training data cannot be read.
    """
    path = ckpts.resolve_checkpoint(Path(ckpt_or_run))
    ckpt = ckpts.load_checkpoint(path)
    ckpts.check_finite_state(int(ckpt["step"]), ckpt)
    cfg = TrainConfig.from_dict(ckpt["train_config"])
    if data_path is not None:
        cfg = cfg.replace(data_path=data_path)
    dataset, vocab = _open_data(cfg, ckpt["vocabulary"], f"the checkpoint {path}")
    device = device or torch.device("cpu")
    G = load_generator(ckpt).to(device)
    dirs = compute_directions(G, dataset, top_k=top_k or cfg.directions_top_k,
                              min_crops=cfg.directions_min_crops,
                              max_images=cfg.directions_max_images if max_images is None else max_images,
                              device=device, autocast=autocast_context(device, cfg.precision),
                              category_ids=vocab.category_ids)
    out = Path(out) if out is not None else ckpts.run_dir_of(path) / "directions.pt"
    save_directions(dirs, out, step=int(ckpt["step"]))
    log.info("directions of %d categories (%d fallback) -> %s", dirs.ids.numel(), int(dirs.fallback.sum()), out)
    return out


def _run_record(run_dir: Path) -> Dict[str, Any]:
    p = run_dir / "command.json"
    try:
        return json.loads(p.read_text())["runs"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return {}


def build_card(ckpt: Dict[str, Any], run_dir: Path, name: str, dirs: Optional[DirectionSet],
               dtype: str) -> Dict[str, Any]:
    """The model card (plain data): data, preset, parameters, steps, wall time, hardware, command,
    metrics (``RUN/metrics.json`` when present)."""
    cfg = TrainConfig.from_dict(ckpt["train_config"])
    mcfg = ModelConfig.from_dict(ckpt["model_config"])
    vocab = Vocabulary(tuple(ckpt["vocabulary"]))
    rec = _run_record(run_dir)
    params = sum(v.numel() for k, v in ckpt["G"].items() if "running_" not in k and "num_batches" not in k)
    metrics = None
    if (run_dir / "metrics.json").is_file():
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text())
        except ValueError:
            log.warning("ignoring unreadable %s", run_dir / "metrics.json")
    card = {
        "name": name,
        "data": {"kind": cfg.data_kind, "path": cfg.data_path, "split": cfg.split, "images": rec.get("data_images")},
        "preset": preset_name(mcfg), "train_config": cfg.to_dict(),
        "parameters": int(params), "steps": int(ckpt["step"]),
        "wall_time_s": round(float(ckpt.get("wall_time_s", 0)), 1),
        "batch_size": cfg.batch_size, "world_size": int(ckpt.get("world_size", 1)), "precision": cfg.precision,
        "hardware": rec.get("hardware"), "command": shlex.join(rec["argv"]) if rec.get("argv") else None,
        "metrics": metrics, "exported": time.strftime("%Y-%m-%dT%H:%M:%S"), "dtype": dtype,
        "trained_max_objects": int(dirs.max_objects) if dirs is not None and dirs.max_objects else mcfg.max_objects,
        "directions": dirs.summary() if dirs is not None else None,
        # categories seen at least MIN_TRAINED_COUNT times in the training crops: the app's palette lists
        # these first, under "Trained on"; category_counts has every category seen, by name
        "trained_categories": ([int(i) for i, c in zip(dirs.ids.tolist(), dirs.counts.tolist())
                                if c >= MIN_TRAINED_COUNT] if dirs is not None else None),
        "trained_min_count": MIN_TRAINED_COUNT,
        "category_counts": ({vocab.name_of(int(i)): int(c) for i, c in
                             sorted(zip(dirs.ids.tolist(), dirs.counts.tolist()), key=lambda t: -t[1]) if c > 0}
                            if dirs is not None else None),
    }
    extra = run_dir / "card_extra.json"  # optional hand-written additions (e.g. reproduce commands)
    if extra.is_file():
        try:
            card.update(json.loads(extra.read_text()))
        except ValueError:
            log.warning("ignoring unreadable %s", extra)
    return card


RECIPE_KEYS = ("adv_loss", "kl_mode", "kl_free_bits", "kl_warmup", "z_rec_updates_encoder", "locality_pair",
               "ema_decay", "hflip", "diffaugment", "object_order", "lr", "betas", "init_from")


def _metrics_markdown(metrics) -> list:
    """Markdown lines of the card's metrics: ``check-scenes`` and ``eval`` results as tables (inside a
    code block), anything else as JSON."""
    if not metrics:
        return ["Not measured."]
    out = []
    results = metrics if isinstance(metrics, dict) else {"metrics": metrics}
    for name, r in results.items():
        if isinstance(r, dict) and isinstance(r.get("figures"), dict):
            from ..metrics.scene_check import format_table as table
        elif isinstance(r, dict) and isinstance(r.get("metrics"), dict):
            from ..metrics.evaluate import format_table as table
        else:
            out += [f"`{name}`:", "", "```", json.dumps(r, indent=1), "```", ""]
            continue
        out += [f"`{name}`:", "", "```", table(r), "```", ""]
    return out


def card_markdown(card: Dict[str, Any]) -> str:
    """The card as a short Markdown document."""
    hw = card.get("hardware") or {}
    data = card["data"]
    hours = card["wall_time_s"] / 3600
    lines = [f"# {card['name']}", "",
             "Layout2Im generator (image generation from layout, 64x64).", "",
             "| | |", "|---|---|",
             f"| Data | {data['kind']} `{data['path']}` split `{data['split']}` ({data['images']} images) |",
             f"| Preset | {card['preset']} ({card['parameters']:,} generator parameters) |",
             f"| Training | {card['steps']:,} iterations, batch {card['batch_size']} x {card['world_size']} "
             f"process(es), {card['precision']}, {hours:.2f} h |",
             f"| Hardware | {hw.get('cpu', '?')}, {hw.get('cores', '?')} cores, {hw.get('gpu', 'no GPU')}, "
             f"torch {hw.get('torch', '?')} |",
             f"| Weights | {card['dtype']} |"]
    st = card.get("standing_stats")
    if st:
        where = f" of `{st['data']}`" if st.get("data") and st["data"] != data.get("path") else ""
        lines.append(f"| Batch norm | standing statistics of the exported weights over {st['images']:,} training "
                     f"images{where}, batches of {st['batch_size']} (docs/training.md) |")
    if card.get("directions"):
        d = card["directions"]
        lines.append(f"| Directions | top {d['top_k']} of {d['categories']} categories, "
                     f"{len(d['fallback_ids'])} on unit axes (too few crops) |")
    counts = card.get("category_counts")
    if counts:
        n_min = card.get("trained_min_count", 1)
        seen = [f"{name} ({c})" for name, c in counts.items() if c >= n_min]
        rare = [f"{name} ({c})" for name, c in counts.items() if c < n_min]
        lines += ["", "## Categories it saw (objects in the training crops)", "",
                  f"Trained on (at least {n_min} objects each; listed first in the app's palette): " + ", ".join(seen)
                  + "."]
        if rare:
            lines.append(f"Seen fewer than {n_min} times (not listed as trained): " + ", ".join(rare) + ".")
        lines.append("Every other category of the vocabulary was never seen: the model paints it from an "
                     "untrained embedding, which looks like nothing in particular.")
    tc = card.get("train_config") or {}
    recipe = [f"{k} {tc[k]}" for k in RECIPE_KEYS if k in tc]
    lw = tc.get("loss_weights") or {}
    if recipe:
        lines += ["", "## Recipe", "", ", ".join(recipe) + "; loss weights " +
                  ", ".join(f"{k} {v:g}" for k, v in lw.items()) + " (docs/training.md)."]
    lines += ["", "## Command", "", f"```\n{card.get('command') or '(unknown)'}\n```", "", "## Metrics", ""]
    lines += _metrics_markdown(card.get("metrics"))
    for caption, file in (card.get("figures") or {}).items():
        lines += ["", f"**{caption}**", "", f"![{caption}]({file})"]
    for title, key in (("Reproduce", "reproduce"), ("Notes", "notes")):
        if card.get(key):
            body = [str(b) for b in (card[key] if isinstance(card[key], list) else [card[key]])]
            if key == "notes":  # one bullet each, so Markdown keeps them apart
                body = [f"- {b}" for b in body]
            lines += ["", f"## {title}", ""] + body
    return "\n".join(lines) + "\n"


def check_model_out(out) -> Path:
    """``out`` as a model file path whose card (``out`` with suffix ``.md``) is another file.

    Raises:
        ModelFileError: ``out`` ends in ``.md`` (the card would overwrite the model file).
    """
    from ..errors import ModelFileError

    out = Path(out)
    if out.suffix.lower() == ".md":
        raise ModelFileError(f"model file {out}: the card is written to FILE.md beside it; give the model file "
                             f"another suffix (.safetensors)")
    return out


def write_model_and_card(out: Path, mf: ModelFile, dtype: str) -> None:
    """Write the model file ``out`` and its Markdown card ``out``.md together (``atomic_write_files``:
    a full disk leaves both as they were)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_files([(out, model_file_bytes(mf, dtype=DTYPES[dtype])),
                        (out.with_suffix(".md"), card_markdown(mf.card))])


def _standing_and_directions(G: Generator, cfg: TrainConfig, vocab_names, images: int, owner: str):
    """Standing statistics of G (:func:`standing_statistics`, ``images`` training images at the run's
    batch size, order and seed), then G's directions, both on the config's data (opened once).

    Returns:
        (the card's ``standing_stats`` record, DirectionSet).

    Raises:
        DataError: the data cannot be read, or its vocabulary is not ``vocab_names`` (``owner`` names
            the model or checkpoint in the message); G is then unchanged.
    """
    dataset, vocab = _open_data(cfg, vocab_names, owner)
    batch = max(2, cfg.batch_size)
    used = standing_statistics(G, dataset, images=images, batch_size=batch, order=cfg.object_order, seed=cfg.seed)
    log.info("standing batch-norm statistics over %d training images", used)
    dirs = compute_directions(G, dataset, top_k=cfg.directions_top_k, min_crops=cfg.directions_min_crops,
                              max_images=cfg.directions_max_images, category_ids=vocab.category_ids)
    return {"images": used, "batch_size": batch, "seed": cfg.seed, "data": cfg.data_path}, dirs


def export_run(ckpt_or_run, out, dtype: str = "fp32", name: Optional[str] = None,
               standing_images: Optional[int] = None) -> Dict[str, Any]:
    """``layout2im export``: write the model file ``out`` and ``out`` with suffix ``.md``.

    A run that kept an EMA copy of G exports that copy with standing batch-norm statistics
    (``standing_stats.py``: its own statistics over ``standing_images`` training images, default
    ``STANDING_STATS_IMAGES``; 0 keeps the statistics copied from the live G, as before; one batch
    needs 2). Its directions are then computed now, with that G (named directions are measured
    through the generator). Otherwise
    directions come from ``RUN/directions.pt`` when it was computed for this checkpoint's step, else
    they are computed now. Where the run's data cannot be read the file holds no directions (the app
    falls back to unit axes) and keeps the copied statistics. Returns the card.

    Raises:
        ModelFileError: no loadable checkpoint. NonFiniteStateError: its weights hold NaN/inf.
        ModelFileError: ``out`` ends in ``.md``. DataError: ``standing_images`` given (not None, > 0) and
        the run's data cannot be read. ValueError: unknown dtype, ``standing_images`` negative or 1.
        OSError: ``out`` cannot be written (the model file and its card are written together: nothing
        is half-written).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    if standing_images is not None and (standing_images < 0 or standing_images == 1):
        raise ValueError(f"standing_images must be 0 or >= 2, got {standing_images}")
    out = check_model_out(out)
    path = ckpts.resolve_checkpoint(Path(ckpt_or_run))
    run_dir = ckpts.run_dir_of(path)
    ckpt = ckpts.load_checkpoint(path)
    ckpts.check_finite_state(int(ckpt["step"]), ckpt)
    G = load_generator(ckpt)
    images = (STANDING_STATS_IMAGES if "G_ema" in ckpt else 0) if standing_images is None else standing_images
    standing, dirs, data_error = None, None, None
    if images > 0:
        try:
            standing, dirs = _standing_and_directions(G, TrainConfig.from_dict(ckpt["train_config"]),
                                                      ckpt["vocabulary"], images, f"the checkpoint {path}")
        except DataError as e:
            if standing_images is not None:  # asked for: not done is an error
                raise
            data_error = e
            log.warning("keeping the run's batch-norm statistics (standing statistics need its data): %s", e)
    dpath = run_dir / "directions.pt"
    if standing is None and dpath.is_file():
        found, step = load_directions(dpath)
        dirs = found if step == int(ckpt["step"]) else None
    if dirs is None and data_error is not None:  # the data just failed to open: not again
        log.warning("exporting without appearance directions: %s", data_error)
    elif dirs is None and standing is None:
        try:
            run_directions(path)
            dirs, _ = load_directions(dpath)
        except DataError as e:
            log.warning("exporting without appearance directions: %s", e)
    name = name or out.stem
    card = build_card(ckpt, run_dir, name, dirs, dtype)
    card["standing_stats"] = standing
    mf = ModelFile(config=G.cfg, vocabulary=Vocabulary(tuple(ckpt["vocabulary"])), state_dict=G.state_dict(),
                   name=name, card=card, directions=dirs.model_directions() if dirs is not None else None)
    write_model_and_card(out, mf, dtype)
    return card


def restat_model_file(src, out, data_path: Optional[str] = None, images: int = STANDING_STATS_IMAGES,
                      dtype: Optional[str] = None) -> Dict[str, Any]:
    """``layout2im standing-stats``: a model file whose checkpoint is gone gets standing batch-norm
    statistics (``standing_stats.py``) on the data its card names (or ``data_path``) and directions
    recomputed with the calibrated G; written to ``out`` with its card (``out``.md), the pair together
    (:func:`write_model_and_card`). The card keeps everything but ``metrics``, which no longer describe
    the weights (re-measure them); ``standing_stats`` records the images, batch, seed and data used.
    ``dtype`` None keeps the file's own (bf16 when its weights are bf16).

    Raises:
        ModelFileError: ``src`` unreadable, its card lacks the training config that names its data or
            holds a bad one, ``out`` ends in ``.md``. DataError: the data cannot be read, has another
            vocabulary or fewer than 2 images. ValueError: ``images`` < 2, bad dtype. OSError: ``out``
            cannot be written (nothing is half-written).
    """
    from ..checkpoint import load_model_file
    from ..errors import ModelFileError
    from ..model_registry import resolve_model
    from .config import TrainConfigError

    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
    if images < 2:
        raise ValueError(f"images must be >= 2 (batch norm needs a batch), got {images}")
    out = check_model_out(out)
    path = resolve_model(src)
    mf = load_model_file(path)
    tc = mf.card.get("train_config")
    if not isinstance(tc, dict):
        raise ModelFileError(f"model file {path}: its card has no train_config (the training run's settings), so "
                             f"its data's kind, split and object order are unknown; --data cannot stand in for them")
    if data_path is not None and not str(data_path).strip():
        raise DataError("--data: give the data folder (the path is empty)")
    try:
        cfg = TrainConfig.from_dict(tc)
        if data_path is not None:
            cfg = cfg.replace(data_path=str(Path(data_path).expanduser().resolve()))
    except TrainConfigError as e:
        raise ModelFileError(f"model file {path}: the train_config in its card: {e}") from None
    if dtype is None:
        bf16 = any(v.dtype == torch.bfloat16 for k, v in mf.state_dict.items() if "running_" not in k)
        dtype = "bf16" if bf16 else "fp32"
    G = Generator(mf.config)
    G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in mf.state_dict.items()})
    G.eval()
    standing, dirs = _standing_and_directions(G, cfg, mf.vocabulary.names, images, f"the model {mf.name!r}")
    card = dict(mf.card)
    card.pop("metrics", None)
    card["standing_stats"] = standing
    card["directions"] = dirs.summary()
    card["dtype"] = dtype
    new = ModelFile(config=mf.config, vocabulary=mf.vocabulary, state_dict=G.state_dict(), name=mf.name,
                    card=card, directions=dirs.model_directions())
    write_model_and_card(out, new, dtype)
    return card
