"""Training configuration: one frozen :class:`TrainConfig` holding data, model preset, optimiser,
precision, schedule and logging settings, plus named presets.

Presets (``TRAIN_PRESETS``):
    ``paper-coco``        the reference setting (spec §2): COCO-Stuff, ``paper`` networks, batch 8,
                          300k iterations, fp32. ``--data`` must name the COCO-Stuff root.
    ``scenes64``          procedural scenes (``make-scenes`` folder), ``lite-masks`` networks, bf16
                          where native (precision ``auto``), batch 8, ``LITE_LOSS_WEIGHTS``.
    ``cocostuff-mini64``  the 100-image COCO-Stuff subset in ``../shared/data``, ``lite-masks``,
                          ``auto``, ``LITE_LOSS_WEIGHTS``.
    ``tiny-test``         ``tiny`` networks on procedural scenes, a few steps (tests).

A config is resolved once (preset -> CLI flags -> ``--set key=value``), stored in the run
directory as JSON and inside every checkpoint, and ``TrainConfig.from_dict`` restores it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional, Tuple

from ..config import PRESETS as MODEL_PRESETS
from ..config import LossWeights, unknown_fields
from ..errors import Layout2ImError, clip

STANDING_STATS_IMAGES = 3200  # training images of an export's standing batch-norm statistics (standing_stats.py)

DATA_KINDS = ("coco", "vg", "custom", "scenes")
PRECISIONS = ("fp32", "bf16", "auto")
OBJECT_ORDERS = ("shuffle", "file", "area")


class TrainConfigError(Layout2ImError):
    """A training configuration is invalid: unknown preset or key, a value of the wrong type or out
    of range. The message names the key and the offending value."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on.

    Attributes:
        data_kind: ``coco`` (COCO-Stuff, spec §7.1), ``vg``, ``custom`` or ``scenes``.
        data_path: root of the data set (``None``: must be given with ``--data``).
        split: split the trainer reads (``train``).
        model_preset: ``paper``, ``lite`` or ``tiny`` (``config.model_preset``).
        batch_size: images per iteration and per process (spec §2: 8).
        iterations: total iterations (one D step and one G step each).
        lr: Adam learning rate of G, D_img and D_obj (spec §2: 1e-4).
        betas: Adam betas (spec §2: (0.5, 0.999)).
        loss_weights: the six λ of spec §6.
        precision: ``fp32``, ``bf16`` (autocast on CPU and CUDA) or ``auto``: bf16 where the hardware
            has it natively (CUDA with bf16, CPUs with AVX512-BF16/AMX), else fp32. Resolved when the
            run starts; the run directory stores the resolved value.
        channels_last: ``auto`` (on for single-process CPU runs, where it pays: ~6% fp32, ~25% bf16),
            ``on`` or ``off``.
        seed: seeds weights, z, data order and per-sample object order.
        log_every: iterations between TensorBoard scalar points (means over the interval).
        sample_every: iterations between sample grids (fixed layouts, fixed z).
        checkpoint_every: iterations between checkpoints (one is always written at the end).
        keep_last: checkpoints kept in the run directory.
        num_workers: DataLoader worker processes per training process.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:<i>``.
        num_samples: layouts in a sample grid.
        directions_top_k: principal directions per category computed at the end of training.
        directions_max_images: images encoded for the directions (0: the whole split).
        directions_min_crops: fewer crops of a category than this -> unit-axes fallback.
        init_from: a training checkpoint whose G, D_img, D_obj weights start a new run (optimiser state,
            step and data position start fresh). Its model may be narrower along input channels
            (``checkpoints.load_state_expanding``), e.g. ``lite`` into ``lite-masks``. A ``.safetensors``
            model file (``layout2im export``) starts G and its EMA copy from the file's weights and the
            discriminators fresh (the file holds none): how a shipped model is trained further.

    The isla recipe (ours; docs/training.md "The isla recipe"; the defaults are the reference):
        adv_loss: ``bce`` (spec §6) or ``hinge``.
        kl_mode: ``sum`` (spec §6) or ``mean`` (per-object mean with ``kl_free_bits`` nats per dimension
            free); kl_warmup: steps over which the KL weight rises from 0.
        z_rec_updates_encoder: False: the latent regression trains G only (BicycleGAN).
        diffaugment: DiffAugment policy on both discriminators' inputs (``""`` off, e.g.
            ``color,translation,cutout``).
        ema_decay: decay of the exponential moving average of G's weights (0 = no EMA); ``export``,
            sample grids and the directions use the EMA copy.
        locality_pair: ``eval`` (extra eval-mode renders) or ``ms`` (the mode-seeking pair) for the
            locality term (``step.Recipe``).
        d_warmup: the first this many steps train the discriminators only (G frozen; ``step.Recipe``):
            for a run started from a model file, whose discriminators start fresh.
        d_img_sees_rec: True (the reference): D_img judges img_rec as fake too; False: real against
            img_rand only (``step.Recipe``).
        min_objects / max_objects: the reader's object-count filter (None: the reader's default, for
            COCO-Stuff the paper's 3..8; the model takes up to ``ModelConfig.max_objects``).
        hflip: mirror half of the images (and their boxes) left-right, seeded per (epoch, item).
        object_order: order of each image's objects, which is the conv-LSTM's fusion order and the ISLA
            masks' stacking order: ``shuffle`` (spec §7.1, random per read), ``file`` (as the data
            gives them: the procedural scenes' drawing order, back to front) or ``area`` (largest box
            first, so small objects lie on top).
    """

    data_kind: str = "scenes"
    data_path: Optional[str] = None
    split: str = "train"
    model_preset: str = "lite"
    batch_size: int = 8
    iterations: int = 300_000
    lr: float = 1e-4
    betas: Tuple[float, float] = (0.5, 0.999)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    precision: str = "fp32"
    channels_last: str = "auto"
    seed: int = 0
    log_every: int = 10
    sample_every: int = 1000
    checkpoint_every: int = 1000
    keep_last: int = 5
    num_workers: int = 2
    device: str = "auto"
    num_samples: int = 8
    directions_top_k: int = 8
    directions_max_images: int = 5000
    directions_min_crops: int = 16
    init_from: Optional[str] = None
    adv_loss: str = "bce"
    kl_mode: str = "sum"
    kl_free_bits: float = 0.0
    kl_warmup: int = 0
    z_rec_updates_encoder: bool = True
    diffaugment: str = ""
    ema_decay: float = 0.0
    hflip: bool = False
    object_order: str = "shuffle"
    locality_pair: str = "eval"
    d_warmup: int = 0
    d_img_sees_rec: bool = True
    min_objects: Optional[int] = None
    max_objects: Optional[int] = None

    def __post_init__(self):
        def bad(key, why):
            raise TrainConfigError(f"{key}={getattr(self, key)!r}: {why}")

        if self.data_kind not in DATA_KINDS:
            bad("data_kind", f"choose one of {list(DATA_KINDS)}")
        if self.model_preset not in MODEL_PRESETS:
            bad("model_preset", f"unknown model preset; choose one of {list(MODEL_PRESETS)}")
        if self.precision not in PRECISIONS:
            bad("precision", f"choose one of {list(PRECISIONS)}")
        if self.channels_last not in ("auto", "on", "off"):
            bad("channels_last", "choose auto, on or off")
        for key, kind in _FIELD_TYPES.items():
            v = getattr(self, key)
            if not isinstance(v, kind) or (kind is not bool and isinstance(v, bool)):
                bad(key, f"must be {_TYPE_WORDS[kind]}")
        for key in ("batch_size", "iterations", "log_every", "sample_every", "checkpoint_every", "keep_last",
                    "num_samples", "directions_top_k"):
            if getattr(self, key) < 1:
                bad(key, "must be >= 1")
        if self.directions_min_crops < 2:
            bad("directions_min_crops", "must be >= 2")
        for key in ("num_workers", "directions_max_images", "seed"):
            if getattr(self, key) < 0:
                bad(key, "must be >= 0")
        for key in ("data_path", "init_from"):
            if getattr(self, key, None) is not None and not isinstance(getattr(self, key), str):
                bad(key, "must be a path (a string) or None")
        for key in ("min_objects", "max_objects"):
            if getattr(self, key) is not None and not 0 <= getattr(self, key) <= 64:
                bad(key, "must be in 0..64 or None")
        for key, hi in (("batch_size", 4096), ("num_workers", 256), ("num_samples", 256), ("keep_last", 10_000)):
            if getattr(self, key) > hi:
                bad(key, f"must be <= {hi}")
        for key in ("lr", "kl_free_bits", "ema_decay"):
            if not math.isfinite(getattr(self, key)):
                bad(key, "must be a finite number")
        if not self.lr > 0:
            bad("lr", "must be > 0")
        if len(self.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas):
            bad("betas", "need two values in [0, 1)")
        if not 0 <= self.ema_decay < 1:
            bad("ema_decay", "must be in [0, 1)")
        if not isinstance(self.loss_weights, LossWeights):
            bad("loss_weights", "must be LossWeights")
        for name, w in dataclasses.asdict(self.loss_weights).items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
                raise TrainConfigError(f"loss_weights.{name}={w!r}: a loss weight must be a finite number >= 0")
        if self.object_order not in OBJECT_ORDERS:
            bad("object_order", f"choose one of {list(OBJECT_ORDERS)}")
        try:
            self.recipe()
        except ValueError as e:
            raise TrainConfigError(str(e)) from None
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            bad("device", "choose auto, cpu, cuda or cuda:<index>")

    def recipe(self):
        """The step's ``Recipe`` of this config: its fields, by name (each ``Recipe`` field is a field
        of this config with the same default, ``tests/test_training_config.py``)."""
        from .step import Recipe

        return Recipe(**{f.name: getattr(self, f.name) for f in dataclasses.fields(Recipe)})

    # --- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """JSON-compatible dict (lists for tuples, a dict for the loss weights)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`. Raises TrainConfigError on unknown keys or bad values."""
        unknown = unknown_fields(TrainConfig, d)
        if unknown:
            raise TrainConfigError(f"unknown training config keys: {unknown}")
        d = dict(d)
        try:
            if "betas" in d:
                d["betas"] = tuple(float(b) for b in d["betas"])
            if "loss_weights" in d and isinstance(d["loss_weights"], dict):
                lw_names = {f.name for f in dataclasses.fields(LossWeights)}
                bad = sorted(set(d["loss_weights"]) - lw_names)
                if bad:
                    raise TrainConfigError(f"unknown loss weights: {bad}; known {sorted(lw_names)}")
                d["loss_weights"] = LossWeights(**{k: float(v) for k, v in d["loss_weights"].items()})
            return TrainConfig(**d)
        except (TypeError, ValueError, OverflowError) as e:
            if isinstance(e, TrainConfigError):
                raise
            raise TrainConfigError(f"invalid training config ({clip(str(e), 120)})") from None

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


_FIELD_TYPES = {**{k: int for k in ("batch_size", "iterations", "log_every", "sample_every", "checkpoint_every",
                                     "keep_last", "num_workers", "num_samples", "directions_top_k",
                                     "directions_max_images", "directions_min_crops", "seed", "kl_warmup", "d_warmup")},
                **{k: (int, float) for k in ("lr", "kl_free_bits", "ema_decay")},
                **{k: str for k in ("data_kind", "split", "model_preset", "precision", "channels_last", "device",
                                    "adv_loss", "kl_mode", "diffaugment", "object_order")},
                **{k: bool for k in ("z_rec_updates_encoder", "hflip", "d_img_sees_rec")}}
_TYPE_WORDS = {int: "a whole number", (int, float): "a number", str: "a string", bool: "true or false"}

# Loss weights of the CPU presets (docs/training.md, "Loss weights of the lite presets"): KL 10x
# lower than the paper (at 0.01 the crop encoder collapsed to the prior within ~1k steps), our
# locality term, and a 3x class term; the last segment of the shipped scenes64 run used exactly these.
LITE_LOSS_WEIGHTS = LossWeights(kl=0.001, locality=30.0, obj_cls=3.0)

# The isla recipe (docs/training.md, "The isla recipe"): hinge loss, KL as a per-object mean with free bits
# and a warm-up, latent regression into G only, mode seeking in the re-drawn object's box, EMA, flips.
ISLA_LOSS_WEIGHTS = LossWeights(img_adv=1.0, obj_adv=1.0, obj_cls=1.0, z_rec=5.0, img_rec=1.0, kl=0.1, locality=5.0,
                                ms=1.0)
ISLA_RECIPE: Dict[str, Any]  # TrainConfig fields
ISLA_RECIPE = dict(adv_loss="hinge", kl_mode="mean", kl_free_bits=0.25, kl_warmup=2000, z_rec_updates_encoder=False,
                   ema_decay=0.999, hflip=True, lr=2e-4, betas=(0.0, 0.99), loss_weights=ISLA_LOSS_WEIGHTS,
                   locality_pair="ms")

TRAIN_PRESETS: Dict[str, TrainConfig] = {
    "paper-coco": TrainConfig(data_kind="coco", data_path=None, model_preset="paper", batch_size=8,
                              iterations=300_000, precision="fp32", log_every=10, sample_every=1000,
                              checkpoint_every=1000, num_workers=4),
    "scenes64": TrainConfig(data_kind="scenes", data_path=None, split="all", model_preset="isla", batch_size=8,
                            iterations=100_000, precision="auto", sample_every=500, checkpoint_every=250,
                            object_order="file", num_workers=1, **ISLA_RECIPE),
    "scenes64-lite": TrainConfig(data_kind="scenes", data_path=None, model_preset="lite-masks", batch_size=8,
                                 iterations=100_000, precision="auto", sample_every=200, checkpoint_every=100,
                                 loss_weights=LITE_LOSS_WEIGHTS),
    # 180 photos (all of train2017 and val2017 but the 20 held out), 1-16 objects each, small-data tools;
    # mode seeking at a quarter: with D held back by DiffAugment, ms 1 bought its in-box change with
    # periodic 8-pixel textures (docs/training.md, "The shipped runs"). Start it from a scenes64 checkpoint
    # (--set init_from=...): the procedural scenes teach sky, ground and the stacking of boxes.
    "cocostuff-mini64": TrainConfig(data_kind="coco", data_path="../shared/data/coco-stuff-mini",
                                    split="train+val-holdout", min_objects=1, max_objects=16,
                                    model_preset="isla", batch_size=8, iterations=100_000, precision="auto",
                                    sample_every=250, checkpoint_every=250, num_samples=8, num_workers=1,
                                    object_order="area", diffaugment="color,translation,cutout",
                                    **dict(ISLA_RECIPE, loss_weights=dataclasses.replace(ISLA_LOSS_WEIGHTS, ms=0.25))),
    "cocostuff-mini64-lite": TrainConfig(data_kind="coco", data_path="../shared/data/coco-stuff-mini", split="train",
                                         model_preset="lite-masks", batch_size=8, iterations=20_000,
                                         precision="auto", sample_every=200, checkpoint_every=100, num_samples=8,
                                         loss_weights=LITE_LOSS_WEIGHTS),
    "tiny-test": TrainConfig(data_kind="scenes", data_path=None, model_preset="tiny", batch_size=2, iterations=2,
                             precision="fp32", log_every=1, sample_every=1, checkpoint_every=1, keep_last=2,
                             num_workers=0, device="cpu", num_samples=2, directions_top_k=4,
                             directions_max_images=8, directions_min_crops=3),
}


def train_preset(name: str) -> TrainConfig:
    """The TrainConfig of a named preset. Raises TrainConfigError listing the known names."""
    if name not in TRAIN_PRESETS:
        raise TrainConfigError(f"unknown training preset {name!r}; choose one of {list(TRAIN_PRESETS)}")
    return TRAIN_PRESETS[name]


def _parse_value(key: str, text: str, current: Any) -> Any:
    """Convert ``text`` to the type of ``current`` (the field's present value)."""
    try:
        if isinstance(current, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(current, int):
            try:
                return int(text)
            except ValueError:
                f = float(text)  # "1e4"
                if not f.is_integer():
                    raise
                return int(f)
        if isinstance(current, float):
            return float(text)
        if isinstance(current, tuple):
            return tuple(float(v) for v in text.strip("()[] ").split(","))
        if current is None or isinstance(current, str):
            return None if text.lower() in ("none", "null") else text
    except ValueError:
        raise TrainConfigError(f"--set {key}={text!r}: expected a {type(current).__name__}") from None
    raise TrainConfigError(f"--set {key}: this key cannot be set from the command line")


def apply_overrides(cfg: TrainConfig, assignments: Iterable[str]) -> TrainConfig:
    """Apply ``key=value`` strings (``--set``); ``loss_weights.<name>=<float>`` sets one λ.

    Raises:
        TrainConfigError: malformed assignment, unknown key, unparsable or invalid value.
    """
    changes: Dict[str, Any] = {}
    lw = dataclasses.asdict(cfg.loss_weights)
    for item in assignments:
        if "=" not in item:
            raise TrainConfigError(f"--set expects key=value, got {item!r}")
        key, text = (s.strip() for s in item.split("=", 1))
        if key.startswith("loss_weights."):
            name = key.split(".", 1)[1]
            if name not in lw:
                raise TrainConfigError(f"unknown loss weight {name!r}; known {sorted(lw)}")
            lw[name] = _parse_value(key, text, float(lw[name]))
            changes["loss_weights"] = LossWeights(**lw)
            continue
        if key not in {f.name for f in dataclasses.fields(TrainConfig)} or key == "loss_weights":
            known = [f.name for f in dataclasses.fields(TrainConfig)]
            raise TrainConfigError(f"unknown config key {key!r}; known: {known} and loss_weights.<name>")
        current = getattr(cfg, key)
        if key in ("min_objects", "max_objects") and current is None:
            current = 0  # an int field that may be None
        changes[key] = None if text.lower() in ("none", "null") else _parse_value(key, text, current)
    return cfg.replace(**changes)


def format_config(cfg: TrainConfig) -> str:
    """Human-readable ``key = value`` lines (``--dry-run``)."""
    lines = []
    for k, v in cfg.to_dict().items():
        if isinstance(v, dict):
            lines += [f"{k}.{kk} = {vv}" for kk, vv in v.items()]
        else:
            lines.append(f"{k} = {v}")
    return "\n".join(lines)
