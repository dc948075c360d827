"""The training loop: run directory, data, networks, D/G steps, logging, samples, checkpoints,
resume, signals, and the appearance directions at the end.

Run directory::

    RUN/config.json         resolved TrainConfig, ModelConfig and vocabulary
    RUN/command.json        the command lines that started and resumed the run (sys.argv)
    RUN/tb/                 TensorBoard scalars (every loss term, it/s, img/s) and sample grids
    RUN/samples/step-N.png  sample grids (fixed layouts, fixed z)
    RUN/checkpoints/        step-N.pt, the last ``keep_last`` kept (see checkpoints.py)
    RUN/directions.pt       appearance directions of the final G (see directions.py)
"""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from .. import errors
from ..atomic import remove_stale_temps
from ..config import ModelConfig, model_preset
from ..input_files import InputFileError, read_json
from ..vocab import Vocabulary
from . import checkpoints as ckpts
from .config import TrainConfig, TrainConfigError
from .distributed import (
    DistInfo,
    all_reduce_sum,
    any_rank,
    destroy_process_group,
    gather_objects,
    hardware_info,
    init_process_group,
    resolve_device,
    resolve_precision,
    wrap_ddp,
)
from .loader import DataPosition, ResumableLoader, fixed_items, mix_seed
from .samples import SampleSheet, save_png
from .step import LOSS_TERMS, Networks, NonFiniteLossError, Optimizers, autocast_context, train_step

log = logging.getLogger(__name__)

MAX_RUN_JSON_BYTES = 16 * 2 ** 20  # RUN/config.json, RUN/command.json
# Keys a resumed run may change; everything else must stay as the checkpoint says.
RESUMABLE_KEYS = ("iterations", "device", "precision", "num_workers", "log_every", "sample_every", "checkpoint_every",
                  "keep_last", "data_path", "directions_max_images", "directions_top_k",
                  "directions_min_crops", "loss_weights", "lr", "d_warmup")


class RunDirError(errors.Layout2ImError):
    """The run directory cannot be created or written, already holds another run, or (for
    ``--resume``) holds no run."""


@dataclass
class TrainResult:
    """How a run ended: ``status`` is ``done`` or ``interrupted`` (signal; a checkpoint was written)."""

    status: str
    step: int
    run_dir: Path
    checkpoint: Optional[Path]
    wall_time_s: float


def check_data_path(cfg: TrainConfig) -> str:
    """The config's data path; DataError when it names none or one that does not exist."""
    if not cfg.data_path:
        raise errors.DataError(f"data kind {cfg.data_kind!r} needs a data path (--data DIR)")
    if not Path(cfg.data_path).exists():
        raise errors.DataError(f"data path {cfg.data_path} does not exist")
    return cfg.data_path


def open_dataset(cfg: TrainConfig):
    """``(dataset, vocabulary)`` of the config's data (``data.build.build_dataset``; the readers'
    own object shuffle is off: the trainer orders objects itself, see loader.py).

    Raises:
        DataError: missing path, unknown split, unreadable data (the message names the path).
    """
    data_path = check_data_path(cfg)
    from ..data.build import build_dataset

    try:
        limits = {k: getattr(cfg, k) for k in ("min_objects", "max_objects") if getattr(cfg, k) is not None}
        dataset, vocabulary = build_dataset(cfg.data_kind, data_path, cfg.split, shuffle_objects=False, **limits)
    except errors.DataError:
        raise
    except ValueError as e:  # unknown split or kind
        raise errors.DataError(f"{cfg.data_kind} data at {cfg.data_path}: {e}") from None
    if len(dataset) == 0:
        raise errors.DataError(f"{cfg.data_kind} data at {cfg.data_path} split {cfg.split!r} holds no usable image")
    return dataset, vocabulary


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Create (or, for resume, find) the run directory and prove it writable.

    Raises:
        RunDirError: not creatable/writable, a fresh run into a directory holding checkpoints, or a
            resume of a directory without a run.
    """
    run_dir = Path(run_dir)
    if resume:
        if not (run_dir / "config.json").is_file():
            raise RunDirError(f"cannot resume {run_dir}: no run there (config.json missing)")
    elif ckpts.list_checkpoints(run_dir):
        raise RunDirError(f"run directory {run_dir} already holds checkpoints; use --resume {run_dir} or "
                          f"another --run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise RunDirError(f"run directory {run_dir} is not writable: {e.strerror or e}") from None
    for folder in (run_dir, ckpts.checkpoint_dir(run_dir)):  # temp files of writes killed mid-way
        remove_stale_temps(folder)


def read_run_config(run_dir: Path) -> Tuple[TrainConfig, ModelConfig, Vocabulary]:
    """The resolved configs and vocabulary stored in ``RUN/config.json``.

    Raises:
        RunDirError: the file is missing, not a regular file, too large, not JSON, nested too deeply
            or malformed. TrainConfigError: a bad training config in it.
    """
    path = Path(run_dir) / "config.json"
    try:
        d = read_json(path, MAX_RUN_JSON_BYTES, "run config")
        return (TrainConfig.from_dict(d["train_config"]), ModelConfig.from_dict(d["model_config"]),
                Vocabulary(tuple(d["vocabulary"])))
    except InputFileError as e:
        raise RunDirError(str(e)) from None
    except TrainConfigError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RunDirError(f"{path}: malformed run config ({errors.clip(str(e), 120)})") from None


def resume_config(run_dir: Path, changes: Dict[str, Any]) -> TrainConfig:
    """The stored config of a run with the allowed ``changes`` (``RESUMABLE_KEYS``) applied.

    Raises:
        RunDirError: no run there. TrainConfigError: a change to a key that would break the run.
    """
    check_run_dir(run_dir, resume=True)
    cfg, _, _ = read_run_config(run_dir)
    bad = sorted(k for k, v in changes.items() if k not in RESUMABLE_KEYS and getattr(cfg, k) != v)
    if bad:
        raise TrainConfigError(f"a resumed run cannot change {bad}; only {list(RESUMABLE_KEYS)}")
    return cfg.replace(**changes)


class Trainer:
    """Trains G, D_img and D_obj on one process of a (maybe distributed) job.

    Args:
        cfg: the resolved TrainConfig.
        run_dir: run directory (created; must be writable).
        resume: continue from the newest loadable checkpoint of ``run_dir``.
        dataset / vocabulary: data to use instead of ``open_dataset(cfg)`` (tests, benchmarks).
        dist_info: this process's rank (default: from torchrun's environment, else single).
        argv: the command line recorded in ``command.json`` (default ``sys.argv``).
        progress: show a tqdm progress bar (rank 0).

    Raises (before any work): RunDirError, DataError, TrainConfigError, ModelFileError (resume).
    """

    def __init__(self, cfg: TrainConfig, run_dir, *, resume: bool = False, dataset=None,
                 vocabulary: Optional[Vocabulary] = None, dist_info: Optional[DistInfo] = None,
                 argv: Optional[Sequence[str]] = None, progress: bool = True):
        from .distributed import env_dist_info

        self.cfg, self.run_dir, self.progress = cfg, Path(run_dir), progress
        self.dist = dist_info or env_dist_info()
        if dataset is None:
            check_data_path(cfg)
        if self.dist.is_main:
            check_run_dir(self.run_dir, resume)
        try:
            self.device = resolve_device(cfg.device, self.dist)
        except ValueError as e:
            raise TrainConfigError(str(e)) from None
        cfg = self.cfg = cfg.replace(precision=resolve_precision(cfg.precision, self.device, cfg.model_preset,
                                                                 self.dist.world_size))
        if dataset is None:
            dataset, vocabulary = open_dataset(cfg)
        elif vocabulary is None:
            raise ValueError("a dataset given to the Trainer needs its vocabulary")
        self.dataset, self.vocabulary = dataset, vocabulary
        ckpt = None
        if resume:
            path = ckpts.latest_checkpoint(self.run_dir)
            if path is None:
                raise RunDirError(f"cannot resume {self.run_dir}: no loadable checkpoint")
            ckpt = ckpts.load_checkpoint(path)
            self.model_cfg = ModelConfig.from_dict(ckpt["model_config"])
            stored_vocab = Vocabulary(tuple(ckpt["vocabulary"]))
            if stored_vocab != vocabulary:
                raise errors.DataError(f"the data's vocabulary ({len(vocabulary)} entries) differs from the "
                                       f"run's ({len(stored_vocab)}); resume with the same data")
        else:
            self.model_cfg = model_preset(cfg.model_preset, num_classes=len(vocabulary))
        # channels-last pays on CPU; under DDP its 1x1-conv gradients trip the reducer's stride check
        self.channels_last = cfg.channels_last == "on" or (cfg.channels_last == "auto" and self.device.type == "cpu"
                                                           and not self.dist.enabled)
        self.autocast = autocast_context(self.device, cfg.precision)
        init_process_group(self.dist, self.device)

        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.raw = Networks.build(self.model_cfg, self.device, self.channels_last)
        self.opts = Optimizers.build(self.raw, cfg.lr, cfg.betas)
        self.recipe = cfg.recipe()
        self.G_ema = None
        if cfg.ema_decay > 0:
            self.G_ema = copy.deepcopy(self.raw.G).requires_grad_(False)
        self.step, self.wall_time_s, position = 0, 0.0, DataPosition()
        if ckpt is not None:
            self._restore(ckpt)
            position = DataPosition(int(ckpt["data"]["epoch"]), int(ckpt["data"]["batch"]))
        else:
            if cfg.init_from:
                self._init_from(Path(cfg.init_from))
                if self.G_ema is not None:
                    self.G_ema.load_state_dict(self.raw.G.state_dict())
            self._seed_rngs(0)
        self.nets = Networks(*(wrap_ddp(n, self.device, self.dist) for n in self.raw.all()))
        self.loader = ResumableLoader(dataset, cfg.batch_size, cfg.seed, self.dist.rank, self.dist.world_size,
                                      cfg.num_workers, self.device.type == "cuda", position,
                                      order=cfg.object_order, hflip=cfg.hflip)
        self._stop_signal: Optional[str] = None
        self._writer = None
        if self.dist.is_main:
            self._write_run_files(argv if argv is not None else sys.argv, resumed=ckpt is not None)

    # --- state --------------------------------------------------------------------------------------
    def _seed_rngs(self, step: int) -> None:
        import random

        import numpy as np

        s = mix_seed(self.cfg.seed, step, self.dist.rank, 0x7A)
        torch.manual_seed(s)
        np.random.seed(s % 2 ** 32)
        random.seed(s)

    def _init_from(self, path: Path) -> None:
        """Start a new run from another run's weights (``TrainConfig.init_from``): a training checkpoint
        gives G, D_img and D_obj; an exported model file (``.safetensors``, the EMA copy of G) gives G
        only, and the discriminators keep their fresh initialisation (the caller copies G into its EMA).

        Raises:
            ModelFileError: unreadable file, or weights that do not fit this run's networks.
            DataError: the checkpoint's or model's vocabulary differs from the data's.
        """
        if path.suffix == ".safetensors":
            from ..checkpoint import load_model_file

            mf = load_model_file(path)
            vocabulary, step = mf.vocabulary, mf.card.get("steps")
            states = {"G": {k: v.float() if v.is_floating_point() else v for k, v in mf.state_dict.items()}}
        else:
            ckpt = ckpts.load_checkpoint(path)
            vocabulary, step = Vocabulary(tuple(ckpt["vocabulary"])), ckpt.get("step")
            states = {net: ckpt[net] for net in ("G", "D_img", "D_obj")}
        if vocabulary != self.vocabulary:
            raise errors.DataError(f"{path} was trained on another vocabulary; init_from needs the same one")
        widened = [f"{net}.{name}" for net, state in states.items()
                   for name in ckpts.load_state_expanding(getattr(self.raw, net), state)]
        fresh = [net for net in ("D_img", "D_obj") if net not in states]
        log.info("initialised %s from %s (step %s)%s; widened with zeros: %s", "/".join(states), path, step,
                 f"; {' and '.join(fresh)} start fresh" if fresh else "", widened or "none")

    def _restore(self, ckpt: Dict[str, Any]) -> None:
        self.raw.G.load_state_dict(ckpt["G"])
        self.raw.D_img.load_state_dict(ckpt["D_img"])
        self.raw.D_obj.load_state_dict(ckpt["D_obj"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(ckpt["G_ema"] if "G_ema" in ckpt else ckpt["G"])
        self.opts.load_state_dict(ckpt["optimizers"])
        for opt in (self.opts.G, self.opts.D_img, self.opts.D_obj):  # a resumed run may change the lr
            for group in opt.param_groups:
                group["lr"] = self.cfg.lr
        self.step, self.wall_time_s = int(ckpt["step"]), float(ckpt.get("wall_time_s", 0.0))
        rngs = ckpt["rng"]
        if len(rngs) == self.dist.world_size:
            ckpts.set_rng_state(rngs[self.dist.rank])
        else:
            log.warning("checkpoint of a %d-process run resumed with %d processes: RNG streams re-seeded",
                        len(rngs), self.dist.world_size)
            self._seed_rngs(self.step)
        log.info("resumed %s at step %d", self.run_dir, self.step)

    def state_payload(self, rngs: List[Dict[str, Any]]) -> Dict[str, Any]:
        """The checkpoint contents (see checkpoints.py) without format and step."""
        pos = self.loader.position
        ema = {"G_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}
        return {**ema, "G": self.raw.G.state_dict(), "D_img": self.raw.D_img.state_dict(),
                "D_obj": self.raw.D_obj.state_dict(), "optimizers": self.opts.state_dict(), "rng": rngs,
                "data": {"epoch": pos.epoch, "batch": pos.batch}, "train_config": self.cfg.to_dict(),
                "model_config": self.model_cfg.to_dict(), "vocabulary": list(self.vocabulary.names),
                "wall_time_s": self.wall_time_s, "world_size": self.dist.world_size}

    def save_checkpoint(self) -> Optional[Path]:
        """Write the checkpoint of the current step (collective: every rank must call it).

        Raises:
            NonFiniteStateError: the weights hold NaN or inf (checked on every rank, nothing written).
        """
        nets = {"G": self.raw.G.state_dict(), "D_img": self.raw.D_img.state_dict(),
                "D_obj": self.raw.D_obj.state_dict()}
        ckpts.check_finite_state(self.step, nets)
        rngs = gather_objects(ckpts.rng_state(), self.dist)
        if not self.dist.is_main:
            return None
        return ckpts.save_checkpoint(self.run_dir, self.step, self.state_payload(rngs), self.cfg.keep_last)

    def _write_run_files(self, argv: Sequence[str], resumed: bool) -> None:
        from ..checkpoint import atomic_write_bytes

        cfg = {"train_config": self.cfg.to_dict(), "model_config": self.model_cfg.to_dict(),
               "vocabulary": list(self.vocabulary.names)}
        atomic_write_bytes(self.run_dir / "config.json", json.dumps(cfg, indent=1).encode())
        cmd_path = self.run_dir / "command.json"
        cmd: Dict[str, Any] = {"runs": []}
        if resumed and cmd_path.is_file():
            try:
                cmd = read_json(cmd_path, MAX_RUN_JSON_BYTES, "command record")
                if not isinstance(cmd, dict) or not isinstance(cmd.get("runs"), list):
                    raise InputFileError(f"{cmd_path}: no list of runs")
            except InputFileError as e:
                log.warning("starting a new command record: %s", e)
                cmd = {"runs": []}
        cmd["runs"].append({"argv": list(argv), "cwd": os.getcwd(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                            "resumed_at_step": self.step if resumed else None, "world_size": self.dist.world_size,
                            "hardware": hardware_info(self.device), "data_images": len(self.dataset)})
        atomic_write_bytes(cmd_path, json.dumps(cmd, indent=1).encode())

    # --- signals ------------------------------------------------------------------------------------
    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}

        def handler(signum, frame):
            if self._stop_signal is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # second Ctrl+C: stop now, without a checkpoint
            self._stop_signal = signal.Signals(signum).name
            log.warning("%s: stopping after this step and writing a checkpoint", self._stop_signal)

        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, handler)
        return old

    # --- the loop -----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train until ``cfg.iterations`` (or a signal); then compute the appearance directions.

        Raises:
            NonFiniteLossError: a loss term became NaN/inf (no checkpoint written for that step).
            NonFiniteStateError: the weights became NaN/inf with finite losses (e.g. a NaN gradient);
                found before a checkpoint is written, so none is.
        """
        from tqdm import tqdm

        cfg, main = self.cfg, self.dist.is_main
        old_handlers = self._install_signal_handlers()
        sheet: Any = None  # these three exist on the main rank only (used under ``if main``)
        writer: Any = None
        bar: Any = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.step + 1)
            rng = ckpts.rng_state()  # a reader may draw from the global RNG: keep the run's streams
            sheet = SampleSheet(fixed_items(self.dataset, cfg.num_samples, cfg.object_order), self.model_cfg.z_dim,
                                cfg.seed)
            ckpts.set_rng_state(rng)
            bar = tqdm(total=cfg.iterations, initial=self.step, unit="it", dynamic_ncols=True,
                       disable=not self.progress, desc="train")
        self.raw.train()
        sums, count, t_log = {k: 0.0 for k in LOSS_TERMS}, 0, time.perf_counter()
        self._t_mark = t_log
        last_ckpt = ckpts.latest_checkpoint(self.run_dir, quiet=True) if main else None
        status = "done"
        reduce = lambda t: all_reduce_sum(t, self.dist)  # noqa: E731
        try:
            batches = iter(self.loader)
            while self.step < cfg.iterations:
                batch = next(batches).to(self.device, non_blocking=True)
                terms = train_step(self.nets, self.opts, batch.imgs, batch.objs, batch.bboxes, batch.obj_mask,
                                   cfg.loss_weights, self.autocast, step=self.step + 1,
                                   channels_last=self.channels_last, reduce_flags=reduce, recipe=self.recipe)
                self.step += 1
                self._update_ema()
                for k, v in terms.items():
                    sums[k] += v
                count += 1
                if main:
                    bar.update(1)
                    if self.step % cfg.log_every == 0 or self.step == cfg.iterations:
                        dt = time.perf_counter() - t_log
                        self._log_scalars(writer, bar, {k: v / count for k, v in sums.items()}, count / dt)
                        sums, count, t_log = {k: 0.0 for k in LOSS_TERMS}, 0, time.perf_counter()
                    if self.step % cfg.sample_every == 0 or self.step == cfg.iterations:
                        grid = sheet.render(self.export_G, self.device, self.autocast)
                        save_png(grid, self.run_dir / "samples" / f"step-{self.step:08d}.png")
                        writer.add_image("samples", grid, self.step, dataformats="HWC")
                stop = any_rank(self._stop_signal is not None, self.dist, self.device)
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.iterations or stop:
                    self._tick()
                    last_ckpt = self.save_checkpoint() or last_ckpt
                if stop:
                    status = "interrupted"
                    break
        except (NonFiniteLossError, ckpts.NonFiniteStateError) as e:
            if main:
                log.error("%s: the last good checkpoint is %s", "non-finite loss" if isinstance(e, NonFiniteLossError)
                          else "non-finite weights", last_ckpt)
            raise
        finally:
            self._tick()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if main:
                bar.close()
                writer.close()
        if status == "done" and main:
            self._final_directions()
        if self.dist.enabled:
            torch.distributed.barrier()
        return TrainResult(status, self.step, self.run_dir, last_ckpt, self.wall_time_s)

    @property
    def export_G(self):
        """The generator that ``export`` writes: the EMA copy when the run keeps one, else G."""
        return self.G_ema if self.G_ema is not None else self.raw.G

    @torch.no_grad()
    def _update_ema(self) -> None:
        """G_ema <- decay * G_ema + (1 - decay) * G for weights, buffers (BN statistics) copied.

        The decay ramps up as ``min(ema_decay, (1 + step) / (10 + step))`` so that the copy does not
        average in the random initial weights for thousands of steps (Yazici et al., ICLR 2019)."""
        if self.G_ema is None:
            return
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))
        for pe, p in zip(self.G_ema.parameters(), self.raw.G.parameters()):
            pe.lerp_(p.detach(), 1 - decay)
        for be, b in zip(self.G_ema.buffers(), self.raw.G.buffers()):
            be.copy_(b)

    def _tick(self) -> None:
        """Add the time since the last tick to ``wall_time_s`` (training time, summed over resumes)."""
        now = time.perf_counter()
        self.wall_time_s += now - self._t_mark
        self._t_mark = now

    def _log_scalars(self, writer, bar, means: Dict[str, float], it_per_s: float) -> None:
        for k, v in means.items():
            writer.add_scalar(f"loss/{k}", v, self.step)
        images = self.cfg.batch_size * self.dist.world_size
        writer.add_scalar("perf/it_per_s", it_per_s, self.step)
        writer.add_scalar("perf/img_per_s", it_per_s * images, self.step)
        bar.set_postfix(D=f"{means['D/total']:.3f}", G=f"{means['G/total']:.3f}", refresh=False)

    def _final_directions(self) -> None:
        from .directions import compute_directions, save_directions

        cfg = self.cfg
        dirs = compute_directions(self.export_G, self.dataset, top_k=cfg.directions_top_k,
                                  min_crops=cfg.directions_min_crops, max_images=cfg.directions_max_images,
                                  device=self.device, autocast=self.autocast,
                                  category_ids=self.vocabulary.category_ids)
        save_directions(dirs, self.run_dir / "directions.pt", step=self.step)


def train(cfg: TrainConfig, run_dir, resume: bool = False, **kw) -> TrainResult:
    """Build a Trainer and run it; the process group (if any) is torn down afterwards."""
    try:
        return Trainer(cfg, run_dir, resume=resume, **kw).run()
    finally:
        destroy_process_group()
