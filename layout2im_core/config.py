"""Frozen configuration dataclasses and the named model presets.

Presets differ only in widths and sizes (spec §2, §4, §5):
    ``paper``  the reference architecture (parameter counts equal the official code's).
    ``lite``   narrower networks that train on a 2-core CPU in hours.
    ``tiny``   a few thousand parameters' worth of width, for tests.
    ``lite-masks``, ``tiny-masks``  ``lite`` / ``tiny`` whose decoder also sees the layout
               (``decoder_layout``; ours, not the paper's).
    ``isla``   the product's default architecture (ours): ``lite``'s crop encoder, composer and
               conv-LSTM, and the ISLA decoder (``models/style_decoder.py``): each object's
               [obj_emb, z_obj] modulates the normalised features inside its learned soft mask at every
               resolution; nearest up-sampling and 3x3 convs. ``tiny-isla`` is its test-sized twin.

``legacy_numerics`` selects the official code's numerics (spec §11): the per-object 1x1 conv with
padding 1 (66x66 map), images in ImageNet-normalised space with no output tanh, and ``grid_sample``
with ``align_corners=True``. It is set by the official-checkpoint importer; our own models use the
modern numerics (padding 0, tanh output in [-1, 1], ``align_corners=False``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of generator and discriminators.

    Attributes:
        num_classes: vocabulary size (COCO-Stuff 184, VG 179), ids 0..num_classes-1.
        embedding_dim: E, size of the category embedding ``obj_emb`` (spec §4.4: 64).
        z_dim: Z, size of the appearance code ``z_obj`` (spec §2: 64).
        image_size: output side in pixels; the architecture is locked to 64 (8x8 conv-LSTM state).
        crop_size: S, side of object crops fed to the crop encoder and D_obj (32).
        crop_encoder_widths: output channels of the crop encoder's 5 convs (§4.3).
        layout_widths: output channels of the per-object conv stack c1..c4 (§4.4).
        clstm_hidden: hidden channels of the conv-LSTM layers (§4.4: 128, 64, 64).
        clstm_kernel: conv-LSTM kernel side (5).
        residual_blocks: residual bottleneck blocks (6).
        decoder_widths: channels of decoder c0, dc1, dc2, dc3 (§4.5: 256, 256, 128, 64).
        d_img_widths / d_obj_widths: channels of the 5 discriminator blocks (§5).
        max_objects: most objects per image that the model accepts.
        legacy_numerics: official-code numerics (see module docstring).
        decoder_layout: ours, not the paper's (False = the reference). The decoder also gets the
            layout map (``LayoutEncoder.layout_map``: each pixel holds the embedding of the topmost
            object covering it) average-pooled to the input size of each of its five convs, so it
            can place object edges to the pixel instead of inferring them from the 8x8 feature.
        decoder_kind: ``"paper"`` (spec §4.5: transposed convs) or ``"isla"`` (ours,
            ``models/style_decoder.py``; ``decoder_widths`` are then the stem and the 16, 32 and 64 px
            widths).
        isla_hidden: width of the ISLA style MLP and mask MLP (``isla`` only).
        mask_size: side of each object's learned shape grid (``isla`` only).
    """

    num_classes: int = 184
    embedding_dim: int = 64
    z_dim: int = 64
    image_size: int = 64
    crop_size: int = 32
    crop_encoder_widths: Tuple[int, ...] = (64, 128, 256, 512, 1024)
    layout_widths: Tuple[int, ...] = (64, 128, 256, 512)
    clstm_hidden: Tuple[int, ...] = (128, 64, 64)
    clstm_kernel: int = 5
    residual_blocks: int = 6
    decoder_widths: Tuple[int, ...] = (256, 256, 128, 64)
    d_img_widths: Tuple[int, ...] = (64, 128, 256, 512, 1024)
    d_obj_widths: Tuple[int, ...] = (64, 128, 256, 512, 1024)
    max_objects: int = 16
    legacy_numerics: bool = False
    decoder_layout: bool = False
    decoder_kind: str = "paper"
    isla_hidden: int = 128
    mask_size: int = 16

    def __post_init__(self):
        if self.image_size != 64:
            raise ValueError("image_size must be 64: the architecture is locked to 64x64 (spec §10, issue #14)")
        if len(self.crop_encoder_widths) != 5 or len(self.layout_widths) != 4 or len(self.decoder_widths) != 4:
            raise ValueError("crop_encoder_widths needs 5, layout_widths 4, decoder_widths 4 entries")
        if not 1 <= len(self.clstm_hidden) <= 3:
            raise ValueError("clstm_hidden must have 1 to 3 layers")
        if len(self.d_img_widths) != 5 or len(self.d_obj_widths) != 5:
            raise ValueError("discriminator widths need 5 entries")
        if self.decoder_kind not in ("paper", "isla"):
            raise ValueError(f"decoder_kind must be 'paper' or 'isla', got {self.decoder_kind!r}")
        if self.decoder_kind == "isla" and (self.decoder_layout or self.legacy_numerics):
            raise ValueError("the isla decoder takes neither decoder_layout nor legacy_numerics")
        if self.isla_hidden < 1 or self.mask_size < 2:
            raise ValueError("isla_hidden >= 1 and mask_size >= 2 required")
        if self.num_classes < 2 or self.z_dim < 1 or self.embedding_dim < 1 or self.max_objects < 1:
            raise ValueError("num_classes >= 2, z_dim, embedding_dim and max_objects >= 1 required")

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict (lists for tuples)."""
        return json_ready(dataclasses.asdict(self))

    @staticmethod
    def from_dict(d: Dict[str, Any]) -> "ModelConfig":
        """Inverse of to_dict. Unknown keys raise ValueError naming them."""
        unknown = unknown_fields(ModelConfig, d)
        if unknown:
            raise ValueError(f"unknown model config keys: {unknown}")
        values: Dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return ModelConfig(**values)


def json_ready(d: Dict[str, Any]) -> Dict[str, Any]:
    """A config dataclass's ``asdict`` ready for JSON: tuples become lists (one level)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def unknown_fields(cls: type, d: Dict[str, Any]) -> List[str]:
    """The keys of ``d`` that are not fields of the dataclass ``cls``, sorted (for from_dict errors)."""
    return sorted(set(d) - {f.name for f in dataclasses.fields(cls)})


_PRESETS: Dict[str, Dict[str, Any]] = {
    "paper": {},
    "lite": dict(
        embedding_dim=32, z_dim=32,
        crop_encoder_widths=(16, 32, 64, 128, 128),
        layout_widths=(16, 32, 64, 64),
        clstm_hidden=(32, 32, 32),
        decoder_widths=(64, 64, 32, 16),
        d_img_widths=(16, 32, 64, 128, 128),
        d_obj_widths=(16, 32, 64, 128, 128),
    ),
    "tiny": dict(
        embedding_dim=8, z_dim=8,
        crop_encoder_widths=(4, 8, 8, 8, 16),
        layout_widths=(4, 8, 8, 8),
        clstm_hidden=(8, 8, 8),
        clstm_kernel=3,
        residual_blocks=1,
        decoder_widths=(8, 8, 8, 4),
        d_img_widths=(4, 8, 8, 8, 8),
        d_obj_widths=(4, 8, 8, 8, 8),
        max_objects=8,
    ),
}

_PRESETS["lite-masks"] = dict(_PRESETS["lite"], decoder_layout=True)
_PRESETS["tiny-masks"] = dict(_PRESETS["tiny"], decoder_layout=True)
# The product's default (ours; docs/architecture.md "The isla preset"): lite's encoders, the ISLA decoder,
# discriminators twice lite's width.
_PRESETS["isla"] = dict(_PRESETS["lite"], decoder_kind="isla", decoder_widths=(128, 128, 64, 32), isla_hidden=128,
                        mask_size=16, d_img_widths=(32, 64, 128, 256, 256), d_obj_widths=(32, 64, 128, 256, 256))
_PRESETS["tiny-isla"] = dict(_PRESETS["tiny"], decoder_kind="isla", decoder_widths=(16, 8, 8, 8), isla_hidden=8,
                             mask_size=4)

PRESETS = tuple(_PRESETS)


def model_preset(name: str, num_classes: int = 184, **overrides) -> ModelConfig:
    """The ModelConfig of a named preset (``paper``, ``lite``, ``tiny``, ``lite-masks``, ``tiny-masks``,
    ``isla``, ``tiny-isla``) for a vocabulary size.

    Raises:
        KeyError: unknown preset name (the message lists the known ones).
    """
    if name not in _PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {list(_PRESETS)}")
    return ModelConfig(num_classes=num_classes, **{**_PRESETS[name], **overrides})


def preset_name(cfg: ModelConfig) -> str:
    """Name of the preset whose widths ``cfg`` has, or ``"custom"``."""
    for name in _PRESETS:
        try:
            ref = model_preset(name, cfg.num_classes, max_objects=cfg.max_objects,
                               legacy_numerics=cfg.legacy_numerics)
        except ValueError:  # e.g. legacy numerics asked of the isla decoder
            continue
        if ref == cfg:
            return name
    return "custom"


@dataclass(frozen=True)
class LossWeights:
    """Loss weights λ (spec §2 / §6 defaults).

    ``locality`` is ours, not the paper's (0 = off, the reference): the weight of
    ``losses.locality_loss``, which trains one object's z to change only that object's box. The
    product's per-object appearance sliders rely on it (docs/training.md, "Locality loss").
    ``ms`` is ours too (0 = off): mode seeking inside the re-drawn object's box
    (``losses.mode_seeking_loss``).
    """

    img_adv: float = 1.0
    obj_adv: float = 1.0
    obj_cls: float = 1.0
    z_rec: float = 10.0
    img_rec: float = 1.0
    kl: float = 0.01
    locality: float = 0.0
    ms: float = 0.0
