"""Validation of a model file's parts before anything is built from them (called by
``checkpoint.load_model_file``). Every check raises :class:`~layout2im_core.errors.ModelFileError`
naming the file and the field; nothing here allocates more than the file's own tensors.

Order (docs/bad-input.md, "Model files"):
    1. :func:`read_header`: the safetensors header (length, JSON, tensor shapes) before any tensor is
       read.
    2. :func:`parse_metadata`: the JSON strings ``config``, ``vocabulary``, ``card`` and ``name`` with
       their types and ranges (``z_dim`` an integer, not ``32.0``; widths within ``MAX_WIDTH``;
       vocabulary entries strings; the card an object with well-typed known fields).
    3. :func:`check_shapes`: the generator's state-dict shapes for the config, from a ``Generator``
       built on the ``meta`` device (no memory), against the header's shapes, so a config that claims
       huge widths is refused before anything of that size exists.
    4. :func:`check_tensors`: the loaded tensors: weights finite, appearance directions complete,
       consistent in shape, finite, with positive spreads and ids in the vocabulary.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from .config import ModelConfig
from .errors import ModelFileError, clip, value_text
from .input_files import InputFileError, parse_json
from .vocab import Vocabulary

MAX_MODEL_FILE_BYTES = 2 * 2 ** 30  # the paper preset in fp32 is ~110 MB
MAX_HEADER_BYTES = 64 * 2 ** 20
MAX_WIDTH = 4096  # any channel count, embedding or z size of a config
MAX_CLASSES = 100_000
MAX_OBJECTS_LIMIT = 1024  # ModelConfig.max_objects
MAX_NAME_CHARS = 256
MAX_ABS_WEIGHT = 1e6  # trained weights and BN means stay within +-20 (shipped models); beyond this they overflow
MAX_ABS_VARIANCE = 1e12  # BN running variances (the shipped models' largest is ~460)
DIRECTION_KEYS = ("ids", "mean", "components", "std", "explained")
_INT_RANGES = {  # field -> (lowest, highest); other int fields get (0, MAX_WIDTH)
    "num_classes": (2, MAX_CLASSES), "max_objects": (1, MAX_OBJECTS_LIMIT), "image_size": (64, 64),
    "clstm_kernel": (1, 15), "residual_blocks": (0, 64), "crop_size": (4, 256), "mask_size": (2, 256),
}


@dataclass(frozen=True)
class TensorInfo:
    """A tensor as the safetensors header describes it (nothing read yet)."""

    dtype: str
    shape: Tuple[int, ...]


@dataclass(frozen=True)
class Header:
    """The parsed safetensors header: tensors by name and the string metadata."""

    tensors: Dict[str, TensorInfo]
    metadata: Dict[str, str]


def read_header(data: bytes, name: str) -> Header:
    """Parse the safetensors header of ``data`` (8-byte length, then JSON) without reading tensors.

    Raises:
        ModelFileError: too short, a header length beyond the file, not JSON, malformed entries.
    """
    if len(data) < 8:
        raise ModelFileError(f"{name} is not a readable model file (truncated: {len(data)} bytes)")
    if data[:4] == b"PK\x03\x04":  # a zip: torch.save's format (a training checkpoint), not safetensors
        raise ModelFileError(f"{name} is not a model file: it looks like a training checkpoint (torch.save); "
                             f"make a model file of its run with `layout2im export RUN --out FILE.safetensors`")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > len(data) - 8 or n > MAX_HEADER_BYTES:
        raise ModelFileError(f"{name} is not a readable model file (truncated or not safetensors: header "
                             f"length {n} for {len(data)} bytes)")
    try:
        header = parse_json(data[8:8 + n].decode("utf-8"), f"{name} header")
    except UnicodeDecodeError:
        raise ModelFileError(f"{name} is not a readable model file (the header is not UTF-8)") from None
    except InputFileError as e:
        raise ModelFileError(f"{name} is not a readable model file ({e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{name} is not a readable model file (the header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ModelFileError(f"{name}: the metadata must map strings to strings")
    tensors = {}
    for key, info in header.items():
        shape = info.get("shape") if isinstance(info, dict) else None
        dtype = info.get("dtype") if isinstance(info, dict) else None
        if (not isinstance(dtype, str) or not isinstance(shape, list)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
            raise ModelFileError(f"{name}: malformed header entry for tensor {clip(key, 60)!r}")
        tensors[key] = TensorInfo(dtype, tuple(shape))
    return Header(tensors, meta)


# --- metadata -----------------------------------------------------------------------------------------
def _json_field(meta: Dict[str, str], key: str, name: str, default: Any = None) -> Any:
    if key not in meta:
        if default is not None:
            return default
        raise ModelFileError(f"{name}: broken metadata (no {key!r})")
    try:
        return parse_json(meta[key], f"{name}: metadata {key!r}")
    except InputFileError as e:
        raise ModelFileError(f"{name}: broken metadata ({e})") from None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def parse_config(raw: Any, name: str) -> ModelConfig:
    """A ModelConfig from the metadata's ``config`` object, each field checked against the type of
    its default (int, bool, str, tuple of ints) and a range.

    Raises:
        ModelFileError: not an object, unknown or mistyped keys, values out of range.
    """
    if not isinstance(raw, dict):
        raise ModelFileError(f"{name}: broken metadata (config must be a JSON object, got {type(raw).__name__})")
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ModelFileError(f"{name}: broken metadata (unknown config keys {value_text(unknown)})")
    values = {}
    for key, v in raw.items():
        default = fields[key].default
        where = f"{name}: config {key}"
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise ModelFileError(f"{where} must be true or false, got {value_text(v, 40)}")
        elif isinstance(default, int):
            lo, hi = _INT_RANGES.get(key, (0, MAX_WIDTH))
            if not _is_int(v) or not lo <= v <= hi:
                raise ModelFileError(f"{where} must be an integer in [{lo}, {hi}], got {value_text(v, 40)}")
        elif isinstance(default, str):
            if not isinstance(v, str) or len(v) > 64:
                raise ModelFileError(f"{where} must be a short string, got {value_text(v, 40)}")
        elif isinstance(default, tuple):
            if not isinstance(v, list) or not 1 <= len(v) <= 16 or not all(_is_int(x) and 1 <= x <= MAX_WIDTH
                                                                            for x in v):
                raise ModelFileError(f"{where} must be a list of 1 to 16 integers in [1, {MAX_WIDTH}], "
                                     f"got {value_text(v, 60)}")
            v = tuple(v)
        values[key] = v
    try:
        return ModelConfig(**values)
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{name}: invalid config ({clip(str(e), 160)})") from None


def parse_vocabulary(raw: Any, name: str) -> Vocabulary:
    """The vocabulary from the metadata's ``vocabulary`` list. Raises ModelFileError."""
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_CLASSES:
        raise ModelFileError(f"{name}: broken metadata (vocabulary must be a list of 2 to {MAX_CLASSES} names)")
    bad = next((i for i, n in enumerate(raw) if not isinstance(n, str) or not n or len(n) > MAX_NAME_CHARS), None)
    if bad is not None:
        raise ModelFileError(f"{name}: vocabulary entry {bad} must be a name of 1 to {MAX_NAME_CHARS} "
                             f"characters, got {value_text(raw[bad], 40)}")
    try:
        return Vocabulary(tuple(raw))
    except ValueError as e:
        raise ModelFileError(f"{name}: invalid vocabulary ({clip(str(e), 160)})") from None


def parse_card(raw: Any, name: str) -> Dict[str, Any]:
    """The model card: a JSON object whose fields the inference API reads are well typed
    (``trained_max_objects`` a positive integer or null, ``trained_categories`` a list of integer ids
    or null). Other fields are free-form. Raises ModelFileError."""
    if not isinstance(raw, dict):
        raise ModelFileError(f"{name}: broken metadata (the card must be a JSON object, got {type(raw).__name__})")
    tmo = raw.get("trained_max_objects")
    if tmo is not None and (not _is_int(tmo) or not 1 <= tmo <= MAX_OBJECTS_LIMIT):
        raise ModelFileError(f"{name}: card trained_max_objects must be an integer in [1, {MAX_OBJECTS_LIMIT}], "
                             f"got {value_text(tmo, 40)}")
    cats = raw.get("trained_categories")
    if cats is not None and (not isinstance(cats, list) or not all(_is_int(c) for c in cats)):
        raise ModelFileError(f"{name}: card trained_categories must be a list of category ids, got "
                             f"{value_text(cats, 40)}")
    return raw


@dataclass(frozen=True)
class Metadata:
    """The checked metadata of a model file."""

    config: ModelConfig
    vocabulary: Vocabulary
    card: Dict[str, Any]
    name: str


def parse_metadata(meta: Dict[str, str], name: str, default_name: str) -> Metadata:
    """Config, vocabulary, card and name from a model file's metadata (format tags already checked).

    Raises:
        ModelFileError: any field missing, not JSON, mistyped or out of range; vocabulary size and
            config ``num_classes`` disagreeing.
    """
    cfg = parse_config(_json_field(meta, "config", name), name)
    vocab = parse_vocabulary(_json_field(meta, "vocabulary", name), name)
    card = parse_card(_json_field(meta, "card", name, default={}), name)
    model_name = meta.get("name", default_name)
    if not model_name or len(model_name) > MAX_NAME_CHARS:
        raise ModelFileError(f"{name}: the model name must have 1 to {MAX_NAME_CHARS} characters")
    if len(vocab) != cfg.num_classes:
        raise ModelFileError(f"{name}: vocabulary has {len(vocab)} entries but the config {cfg.num_classes}")
    return Metadata(cfg, vocab, card, model_name)


# --- tensors --------------------------------------------------------------------------------------------
def expected_state(cfg: ModelConfig, name: str) -> Dict[str, Tuple[Tuple[int, ...], bool]]:
    """name -> (shape, is floating) of the generator's state dict for ``cfg``, from a Generator built
    on the ``meta`` device (allocates nothing). Raises ModelFileError if the config cannot be built."""
    import torch

    from .models.generator import Generator

    try:
        with torch.device("meta"):
            G = Generator(cfg)
    except (ValueError, TypeError, RuntimeError, AssertionError, IndexError) as e:
        raise ModelFileError(f"{name}: the config describes no buildable generator ({clip(str(e), 120)})") from None
    return {k: (tuple(v.shape), v.is_floating_point()) for k, v in G.state_dict().items()}


_FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}


def check_shapes(cfg: ModelConfig, header: Header, name: str) -> None:
    """The header's ``G.*`` tensors against the config's generator: the same names, shapes, and a
    floating dtype exactly where the generator has one.

    Raises:
        ModelFileError: missing or extra tensors, a shape or dtype that does not fit (first few named).
    """
    want = expected_state(cfg, name)
    have = {k[2:]: v for k, v in header.tensors.items() if k.startswith("G.")}
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    if missing or extra:
        raise ModelFileError(f"{name}: weights do not fit its config (missing {value_text(missing[:3])}"
                             f"{' ...' if len(missing) > 3 else ''}, unexpected {value_text(extra[:3])}"
                             f"{' ...' if len(extra) > 3 else ''})")
    bad = [f"{k} {have[k].shape} != {shape}" for k, (shape, _) in want.items() if have[k].shape != shape]
    if bad:
        raise ModelFileError(f"{name}: weights do not fit its config ({'; '.join(bad[:2])}"
                             f"{f' and {len(bad) - 2} more' if len(bad) > 2 else ''})")
    wrong = [k for k, (_, fl) in want.items() if (have[k].dtype in _FLOAT_DTYPES) != fl]
    if wrong:
        raise ModelFileError(f"{name}: tensor G.{clip(wrong[0], 60)} has dtype {have[wrong[0]].dtype}, "
                             f"which does not fit")


def check_tensors(tensors: Dict[str, Any], cfg: ModelConfig, vocab: Vocabulary, name: str) -> None:
    """Loaded tensors: every floating ``G.*`` weight finite and within ``MAX_ABS_WEIGHT`` (batch-norm
    variances in [0, ``MAX_ABS_VARIANCE``]); the appearance directions (all five arrays or none) of
    consistent shapes ``ids [K]``, ``mean [K, Z]``, ``components [K, D, Z]``, ``std [K, D]``,
    ``explained [K, D]``, finite, ``std > 0``, ``explained`` in [0, 1], ids unique real categories of
    the vocabulary.

    Raises:
        ModelFileError: naming the first offending tensor.
    """
    import torch

    for k, v in tensors.items():
        if not (k.startswith("G.") and v.is_floating_point()):
            continue
        if not bool(torch.isfinite(v).all()):
            raise ModelFileError(f"{name}: weight {clip(k[2:], 60)} holds NaN or infinite values; the model "
                                 f"would render nothing useful")
        if k.endswith("running_var") and not bool((v >= 0).all()):
            raise ModelFileError(f"{name}: batch-norm statistics {clip(k[2:], 60)} hold a negative variance")
        limit = MAX_ABS_VARIANCE if k.endswith("running_var") else MAX_ABS_WEIGHT
        if v.numel() and float(v.abs().max()) > limit:
            raise ModelFileError(f"{name}: weight {clip(k[2:], 60)} holds values beyond +-{limit:g}, which "
                                 f"overflow when rendering")
    present = [k for k in DIRECTION_KEYS if f"directions.{k}" in tensors]
    if not present:
        return
    if len(present) != len(DIRECTION_KEYS):
        missing = [k for k in DIRECTION_KEYS if k not in present]
        raise ModelFileError(f"{name}: appearance directions are incomplete (missing {', '.join(missing)})")
    d = {k: tensors[f"directions.{k}"] for k in DIRECTION_KEYS}
    ids = d["ids"]
    if ids.dim() != 1 or ids.is_floating_point() or ids.dtype == torch.bool:
        raise ModelFileError(f"{name}: directions.ids must be a 1-D integer array")
    k = ids.shape[0]
    comp = d["components"]
    if comp.dim() != 3 or comp.shape[0] != k or comp.shape[2] != cfg.z_dim or comp.shape[1] < 1:
        raise ModelFileError(f"{name}: directions.components has shape {tuple(comp.shape)}; expected "
                             f"[{k}, D >= 1, {cfg.z_dim}]")
    dd = comp.shape[1]
    expected = {"mean": (k, cfg.z_dim), "std": (k, dd), "explained": (k, dd)}
    for key, shape in expected.items():
        if tuple(d[key].shape) != shape:
            raise ModelFileError(f"{name}: directions.{key} has shape {tuple(d[key].shape)}; expected "
                                 f"{list(shape)}")
    for key in ("mean", "components", "std", "explained"):
        t = d[key]
        if not t.is_floating_point():
            raise ModelFileError(f"{name}: directions.{key} must hold floating-point values")
        if not bool(torch.isfinite(t).all()):
            raise ModelFileError(f"{name}: directions.{key} holds NaN or infinite values")
    if k and not bool((d["std"] > 0).all()):
        raise ModelFileError(f"{name}: directions.std must be > 0 (a zero spread makes the sliders divide by zero)")
    if k and not bool(((d["explained"] >= 0) & (d["explained"] <= 1 + 1e-3)).all()):
        raise ModelFileError(f"{name}: directions.explained must lie in [0, 1]")
    id_list: List[int] = ids.tolist()
    if len(set(id_list)) != len(id_list):
        raise ModelFileError(f"{name}: directions.ids holds a category twice")
    real = set(vocab.category_ids)
    stray = [i for i in id_list if i not in real]
    if stray:
        raise ModelFileError(f"{name}: directions.ids {value_text(stray[:5])} are not categories of the "
                             f"vocabulary")

