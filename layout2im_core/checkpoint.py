"""Model files: safetensors tensors + JSON metadata (config, vocabulary, model card). Data only:
loading never runs code (no pickle).

File layout (``.safetensors``):
    tensors   ``G.<name>``  generator state dict (fp32 or bf16; BN running stats included)
              ``directions.ids`` [K] int64, ``directions.mean`` [K, Z], ``directions.components``
              [K, D, Z], ``directions.std`` [K, D], ``directions.explained`` [K, D]  (optional)
              ``directions.named_components`` [K, F, Z], ``directions.named_std`` [K, F],
              ``directions.named_r2`` [K, F], ``directions.named_valid`` [K, F] (uint8)  (optional,
              with ``direction_names``)
    metadata  ``format`` = "layout2im-model", ``format_version`` = "1", ``name``, and JSON strings
              ``config`` (ModelConfig.to_dict), ``vocabulary`` (names by id), ``card`` (dict),
              ``direction_names`` (list of F factor names, when the file has named directions)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from .atomic import atomic_write
from .config import ModelConfig
from .errors import ModelFileError, exception_reason, value_text
from .input_files import InputFileError, read_bytes
from .model_api import AppearanceDirections
from .vocab import Vocabulary

FORMAT = "layout2im-model"
FORMAT_VERSION = "1"


@dataclass
class Directions:
    """Per-category appearance directions in z space (principal components of crop-encoder mu).

    ids: [K] int64 category ids; mean: [K, Z]; components: [K, D, Z] unit rows; std: [K, D] (std of
    mu along each component); explained: [K, D] share of variance in [0, 1]. All float32 on CPU.

    Named directions (optional; ``training/directions.py``): names: F factor names ("colour", ...);
    named_components: [K, F, Z] unit rows; named_std: [K, F]; named_r2: [K, F] held-out R^2 of the
    factor from mu; named_valid: [K, F] bool, False where a category has no usable direction for it.
    """

    ids: torch.Tensor
    mean: torch.Tensor
    components: torch.Tensor
    std: torch.Tensor
    explained: torch.Tensor
    names: Tuple[str, ...] = ()
    named_components: Optional[torch.Tensor] = None
    named_std: Optional[torch.Tensor] = None
    named_r2: Optional[torch.Tensor] = None
    named_valid: Optional[torch.Tensor] = None

    def of_category(self, obj_id: int, k: Optional[int] = None) -> Optional[AppearanceDirections]:
        """The directions of category ``obj_id`` as the inference API gives them: its valid named
        directions first, then ``k`` principal ones (all when None); None when it has none here."""
        hits = (self.ids == obj_id).nonzero()
        if not len(hits):
            return None
        i = int(hits[0, 0])
        kk = self.components.shape[1] if k is None else min(k, self.components.shape[1])
        names: List[str] = []
        comps, std, expl, r2 = [], [], [], []
        valid, n_comps, n_std, n_r2 = self.named_valid, self.named_components, self.named_std, self.named_r2
        if self.names and valid is not None and n_comps is not None and n_std is not None and n_r2 is not None:
            for f, name in enumerate(self.names):
                if bool(valid[i, f]):
                    names.append(name)
                    comps.append(n_comps[i, f].numpy())
                    std.append(float(n_std[i, f]))
                    expl.append(0.0)
                    r2.append(float(n_r2[i, f]))
        names += [""] * kk
        comps += list(self.components[i, :kk].numpy())
        std += self.std[i, :kk].tolist()
        expl += self.explained[i, :kk].tolist()
        r2 += [float("nan")] * kk
        return AppearanceDirections(self.mean[i].numpy().astype(np.float32),
                                    np.asarray(comps, np.float32).reshape(len(names), -1),
                                    np.asarray(std, np.float32), np.asarray(expl, np.float32), False,
                                    tuple(names), np.asarray(r2, np.float32))


@dataclass
class ModelFile:
    """Contents of a model file."""

    config: ModelConfig
    vocabulary: Vocabulary
    state_dict: Dict[str, torch.Tensor]
    name: str = "model"
    card: Dict[str, Any] = field(default_factory=dict)
    directions: Optional[Directions] = None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` atomically (``atomic.atomic_write``: temp file beside ``path``, fsync, rename;
    through symbolic links, keeping an existing file's mode). Raises OSError."""
    atomic_write(path, data)


NAMED_TENSORS = ("named_components", "named_std", "named_r2", "named_valid")


def _named_directions(tensors: Dict[str, torch.Tensor], meta: Dict[str, str], path: Path) -> Dict[str, Any]:
    """The named-direction fields of a file's directions block (empty when it has none).

    Raises:
        ModelFileError: ``direction_names`` unreadable or not matching the named tensors, naming the field.
    """
    present = [k for k in NAMED_TENSORS if f"directions.{k}" in tensors]
    if not present and "direction_names" not in meta:
        return {}
    try:
        names = json.loads(meta.get("direction_names", "null"))
    except ValueError:
        names = None
    if not (isinstance(names, list) and names and all(isinstance(n, str) and 0 < len(n) <= 64 for n in names)):
        raise ModelFileError(f"{path.name}: field 'direction_names' must be a non-empty list of names "
                             f"(1-64 characters each) when the file has named directions")
    missing = [f"directions.{k}" for k in NAMED_TENSORS if k not in present]
    if missing:
        raise ModelFileError(f"{path.name}: named directions lack {missing}")
    k_cats, z = tensors["directions.ids"].shape[0], tensors["directions.mean"].shape[-1]
    f = len(names)
    want = {"named_components": (k_cats, f, z), "named_std": (k_cats, f), "named_r2": (k_cats, f),
            "named_valid": (k_cats, f)}
    for key, shape in want.items():
        got = tuple(tensors[f"directions.{key}"].shape)
        if got != shape:
            raise ModelFileError(f"{path.name}: field 'direction_names' names {f} directions but "
                                 f"directions.{key} has shape {list(got)}, expected {list(shape)}")
    out = {"names": tuple(names), **{k: tensors[f"directions.{k}"].float() for k in NAMED_TENSORS[:3]},
           "named_valid": tensors["directions.named_valid"].bool()}
    bad = [k for k in NAMED_TENSORS[:3] if not bool(torch.isfinite(out[k]).all())]
    if bad:
        raise ModelFileError(f"{path.name}: named directions hold NaN or infinite values in {bad}")
    return out


def save_model_file(path, mf: ModelFile, dtype: Optional[torch.dtype] = None) -> None:
    """Write a model file atomically. ``dtype`` (e.g. torch.bfloat16) casts floating weights
    (BN running statistics stay float32)."""
    atomic_write_bytes(Path(path), model_file_bytes(mf, dtype))


def model_file_bytes(mf: ModelFile, dtype: Optional[torch.dtype] = None) -> bytes:
    """The bytes of a model file (safetensors) as :func:`save_model_file` writes them."""
    from safetensors.torch import save

    tensors = {}
    for k, v in mf.state_dict.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point() and "running_" not in k:
            v = v.to(dtype)
        tensors[f"G.{k}"] = v.contiguous()
    if mf.directions is not None:
        for k in ("ids", "mean", "components", "std", "explained"):
            tensors[f"directions.{k}"] = getattr(mf.directions, k).detach().cpu().contiguous()
        if mf.directions.names:
            for k in NAMED_TENSORS:
                t = getattr(mf.directions, k).detach().cpu()
                tensors[f"directions.{k}"] = (t.to(torch.uint8) if k == "named_valid" else t.float()).contiguous()
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": mf.name,
            "config": json.dumps(mf.config.to_dict()), "vocabulary": json.dumps(list(mf.vocabulary.names)),
            "card": json.dumps(mf.card)}
    if mf.directions is not None and mf.directions.names:
        meta["direction_names"] = json.dumps(list(mf.directions.names))
    return save(tensors, metadata=meta)


def load_model_file(path) -> ModelFile:
    """Read a model file (no code runs). The parts are checked before anything is built from them
    (``model_file_checks``; docs/bad-input.md): the header, the metadata's types and ranges, the
    config against the tensors' shapes, then the tensors' values.

    Raises:
        ModelFileError: missing, not a regular file, over ``MAX_MODEL_FILE_BYTES``, truncated or not
            safetensors, not a Layout2Im model, unsupported format version, malformed metadata
            (config, vocabulary, card, name), weights that do not fit the stored config or hold
            NaN/inf, incomplete or inconsistent appearance directions.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from . import model_file_checks as checks

    path = Path(path)
    try:
        data = read_bytes(path, checks.MAX_MODEL_FILE_BYTES, "model file")
    except InputFileError as e:
        raise ModelFileError(f"cannot read model file: {e}") from None
    header = checks.read_header(data, path.name)
    meta = header.metadata
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path.name} is a safetensors file but not a Layout2Im model (no '{FORMAT}' format tag)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path.name}: unsupported model format version "
                             f"{value_text(meta.get('format_version'), 40)}")
    md = checks.parse_metadata(meta, path.name, path.stem)
    checks.check_shapes(md.config, header, path.name)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, OSError, RuntimeError, TypeError) as e:
        raise ModelFileError(f"{path.name} is not a readable model file (truncated or not safetensors: "
                             f"{exception_reason(e)})") from None
    del data
    checks.check_tensors(tensors, md.config, md.vocabulary, path.name)
    sd = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
    directions = None
    if "directions.ids" in tensors:
        directions = Directions(**{k: tensors[f"directions.{k}"].float() if k != "ids" else tensors[f"directions.{k}"]
                                   for k in ("ids", "mean", "components", "std", "explained")},
                                **_named_directions(tensors, meta, path))
    return ModelFile(config=md.config, vocabulary=md.vocabulary, state_dict=sd, name=md.name, card=md.card,
                     directions=directions)
