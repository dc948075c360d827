"""The inference API: the only module of the core that the app imports (with types, project, errors,
vocab). Only plain Python values and numpy arrays cross this boundary; never tensors.

A :class:`Layout2ImModel` loads a model file (safetensors: weights + config + vocabulary + card +
appearance directions; loading runs no code), renders layouts to uint8 RGB images, and keeps a cache
for the **fast edit path**: per-object features (composer + conv stack) are cached by (category,
box mask, z), and the conv-LSTM state after every object of the last layout is kept, so when one
object changes only the objects from the first changed one onward are re-fused (spec §4.4; the
result equals a full forward).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .checkpoint import ModelFile, load_model_file, save_model_file
from .config import ModelConfig, model_preset, preset_name
from .errors import LayoutError, ModelFileError, clip, value_text
from .boxes import area_in_image, check_bbox
from . import precision as _policy
from .precision import PrecisionChoice, available_devices
from .models.generator import Generator
from .resources_path import resources_dir
from .types import LayoutSpec, ObjectSpec
from .vocab import Vocabulary

__all__ = ["Layout2ImModel", "AppearanceDirections", "available_models", "default_model_path",
           "available_devices", "resolve_model", "import_official", "LayoutSpec", "ObjectSpec"]

DEFAULT_MODEL = "scenes64"
MIN_BOX_AREA = 0.02  # boxes smaller than this share of the image are outside the trained range (spec §7.1)
MAX_ABS_Z = 1000.0  # |z| beyond this is refused: z ~ N(0, I), and the networks overflow long before float32
MAX_SEED = 2 ** 63 - 1
MAX_BATCH = 1024  # layouts per generate_batch call
MAX_PHOTO_PIXELS = 100_000_000  # encode_appearance


def available_models() -> Dict[str, Path]:
    """Shipped models: name -> path of ``resources/models/<name>.safetensors``."""
    folder = resources_dir() / "models"
    return {p.stem: p for p in sorted(folder.glob("*.safetensors"))} if folder.is_dir() else {}


def default_model_path() -> Path:
    """Path of the default shipped model (may not exist in a damaged install)."""
    return resources_dir() / "models" / f"{DEFAULT_MODEL}.safetensors"


def resolve_model(name_or_path) -> Path:
    """A shipped model name (e.g. ``"scenes64"``) or a file path -> path.

    Raises:
        ModelFileError: neither a shipped name nor an existing file; the message lists shipped names.
    """
    p = Path(name_or_path)
    try:
        if p.is_file():
            return p
    except OSError:  # e.g. a name too long for the file system
        pass
    models = available_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    names = ", ".join(models) or "none installed"
    raise ModelFileError(f"no model named or at {value_text(str(name_or_path), 120)}; shipped models: {names}")


def check_seed(seed, what: str = "seed") -> Optional[int]:
    """``seed`` as an int (None stays None).

    Raises:
        LayoutError: not a whole number in [0, 2**63 - 1] (e.g. -1, 1.5, "3", True).
    """
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise LayoutError(f"{what} must be a whole number from 0 to 2**63-1 or None, got {value_text(seed, 40)}")
    return int(seed)


def _z_values(z, index: int, category: str, z_dim: int) -> np.ndarray:
    """One object's z -> float32 [Z]. Raises LayoutError for anything but Z finite numbers within
    ``MAX_ABS_Z`` (strings, dicts, ragged or nested lists, booleans, NaN, inf, huge values)."""
    where = f"object {index} ({clip(category, 40)})"
    if isinstance(z, (str, bytes, dict, set)) or not hasattr(z, "__len__"):
        raise LayoutError(f"{where}: z must be a list of {z_dim} numbers, got {value_text(z, 40)}")
    try:
        arr = np.asarray(z)
    except (ValueError, TypeError):
        raise LayoutError(f"{where}: z must be a flat list of {z_dim} numbers (got a ragged or mixed list)") from None
    if arr.dtype.kind not in "iuf":
        raise LayoutError(f"{where}: z must hold numbers only, got {value_text(z, 40)}")
    arr = arr.reshape(-1)
    if arr.shape[0] != z_dim:
        raise LayoutError(f"{where}: z has {arr.shape[0]} values, this model needs {z_dim}")
    with np.errstate(over="ignore", invalid="ignore"):
        arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise LayoutError(f"{where}: z has NaN or infinite values")
    if float(np.abs(arr).max()) > MAX_ABS_Z:
        raise LayoutError(f"{where}: z values must lie within +-{MAX_ABS_Z:g} (z is drawn from N(0, 1)); "
                          f"got {float(np.abs(arr).max()):.3g}")
    return arr


@dataclass(frozen=True)
class AppearanceDirections:
    """Appearance directions of one category in z space (numpy, float32).

    mean: [Z] centre of the category's crop codes; components: [K, Z] unit directions; std: [K]
    standard deviation along each; explained: [K] share of variance in [0, 1] (0 for named rows);
    fallback: True when the model holds no directions for this category and the unit axes of z (std 1)
    are given instead.

    names: [K] the factor name of each row ("colour", "shade", ...) for named directions, which come
    first, and "" for the principal ones after them; r2: [K] how well the crop encoder's code predicts
    the named factor (held-out R^2), NaN for principal rows. Named rows need not be orthogonal to each
    other; the principal rows are orthogonal to them and to each other.
    """

    mean: np.ndarray
    components: np.ndarray
    std: np.ndarray
    explained: np.ndarray
    fallback: bool
    names: Tuple[str, ...] = ()
    r2: Optional[np.ndarray] = None

    @property
    def named(self) -> int:
        """Number of named rows (they come first)."""
        return sum(1 for n in self.names if n)


@dataclass
class _EditCache:
    keys: List[tuple]
    states: list  # conv-LSTM state after each object
    image: Optional[np.ndarray]


class Layout2ImModel:
    """A loaded Layout2Im generator for rendering layouts.

    Thread safety: one render at a time (an internal lock); the app calls it from one worker thread.

    Args:
        model_file: the loaded :class:`~layout2im_core.checkpoint.ModelFile`.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or None/"auto" (CUDA if present, else CPU).
        precision: ``"fp32"``, ``"bf16"`` (autocast) or ``"auto"``: the policy of
            :mod:`layout2im_core.precision` (bf16 where the device has native bf16 and a short timing of
            a render shows it faster; cached per machine and preset). ``precision_choice`` says why.

    Raises:
        ModelFileError: the weights do not fit the file's config, or render NaN/inf (a probe render of
            one object at load).
        DeviceError: the device is not available (e.g. ``cuda`` without CUDA).
    """

    FEATURE_CACHE_SIZE = 512

    def __init__(self, model_file: ModelFile, device: Optional[str] = None, precision: str = "auto"):
        self._file = model_file
        self.config: ModelConfig = model_file.config
        self.vocabulary: Vocabulary = model_file.vocabulary
        self.name: str = model_file.name
        self.card: dict = dict(model_file.card)
        self.G = Generator(self.config)
        sd = {k: v.float() if v.is_floating_point() else v for k, v in model_file.state_dict.items()}
        want = self.G.state_dict()
        missing, extra = sorted(set(want) - set(sd)), sorted(set(sd) - set(want))
        if missing or extra:
            what = (f"weights missing for {len(missing)} tensors ({', '.join(missing[:4])}"
                    f"{', ...' if len(missing) > 4 else ''})" if missing else
                    f"{len(extra)} unexpected tensors ({', '.join(extra[:4])}{', ...' if len(extra) > 4 else ''})")
            raise ModelFileError(f"model {self.name!r}: weights do not fit its config (preset "
                                 f"{preset_name(self.config)}): {what}")
        try:
            self.G.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[0:3]
            raise ModelFileError(f"model {self.name!r}: weights do not fit its config ({' '.join(first)})") from None
        self.G.eval().requires_grad_(False)
        self._lock = threading.RLock()
        if precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"precision must be fp32, bf16 or auto, not {precision!r}")
        self._precision_req = precision
        self.device = "cpu"
        self.precision = "fp32"
        self.precision_choice: Optional[PrecisionChoice] = None
        self._probe()
        self.set_device(device)

    @torch.no_grad()
    def _probe(self) -> None:
        """Render one object (z = 0) on the CPU in fp32; weights that are finite but useless (e.g.
        values near float32's limit) give NaN here. Raises ModelFileError instead of a black image."""
        ids = self.vocabulary.category_ids
        if not ids:
            raise ModelFileError(f"model {self.name!r}: its vocabulary has no category")
        objs = torch.tensor([[ids[0]]])
        bboxes = torch.tensor([[[0.25, 0.25, 0.75, 0.75]]])
        img = self.G.generate(objs, bboxes, torch.zeros(1, 1, self.z_dim), torch.ones(1, 1, dtype=torch.bool))
        if not bool(torch.isfinite(img).all()):
            raise ModelFileError(f"model {self.name!r}: its weights render NaN or infinite pixels (a broken file)")

    # --- construction ----------------------------------------------------------------------------
    @classmethod
    def load(cls, name_or_path, device: Optional[str] = None, precision: str = "auto") -> "Layout2ImModel":
        """Load a shipped model by name or a model file by path.

        Raises:
            ModelFileError: unknown name, missing, truncated or foreign file, weights not fitting.
        """
        return cls(load_model_file(resolve_model(name_or_path)), device=device, precision=precision)

    @classmethod
    def random(cls, preset: str = "tiny", vocabulary: Optional[Vocabulary] = None, seed: int = 0,
               device: Optional[str] = "cpu", precision: str = "fp32", name: str = "random") -> "Layout2ImModel":
        """A model with random weights (for tests and demos); BN running stats are left at init."""
        vocab = vocabulary or Vocabulary.builtin("coco")
        cfg = model_preset(preset, len(vocab))
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            G = Generator(cfg)
        _calibrate_batch_norm(G, vocab, gen)
        return cls(ModelFile(cfg, vocab, G.state_dict(), name=name, card={"preset": preset}), device, precision)

    def save(self, path, card: Optional[dict] = None, dtype: Optional[torch.dtype] = None) -> None:
        """Write this model as a model file (atomic). ``card`` replaces the stored card if given."""
        mf = ModelFile(self.config, self.vocabulary, self.G.state_dict(), self.name,
                       card if card is not None else self.card, self._file.directions)
        save_model_file(path, mf, dtype=dtype)

    # --- properties --------------------------------------------------------------------------------
    @property
    def categories(self) -> List[str]:
        """Real category names of the vocabulary, in id order."""
        return self.vocabulary.categories

    @property
    def z_dim(self) -> int:
        return self.config.z_dim

    @property
    def preset(self) -> str:
        return preset_name(self.config)

    @property
    def trained_categories(self) -> List[str]:
        """Names of the categories the model saw in training (model card ``trained_categories``, ids),
        else those with appearance directions, else every category of the vocabulary."""
        ids = self.card.get("trained_categories")
        if not ids and self._file.directions is not None:
            ids = self._file.directions.ids.tolist()
        if not ids:
            return self.categories
        names = set()
        for i in ids:
            try:
                names.add(self.vocabulary.name_of(int(i)))
            except (ValueError, TypeError):
                continue
        return [n for n in self.categories if n in names] or self.categories

    @property
    def trained_max_objects(self) -> int:
        """Most objects per image seen in training (model card), default 8 (COCO-Stuff filter)."""
        v = self.card.get("trained_max_objects")
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 1 else 8

    @property
    def object_order(self) -> str:
        """How the training data ordered each image's objects (``TrainConfig.object_order`` in the model
        card): ``shuffle`` (random, the paper), ``file`` (drawing order, back to front) or ``area``
        (largest first). Later objects are stacked over earlier ones by models that learned an order."""
        tc = self.card.get("train_config")
        order = tc.get("object_order") if isinstance(tc, dict) else None
        return order if order in ("shuffle", "file", "area") else "shuffle"

    def in_training_order(self, layout: LayoutSpec) -> LayoutSpec:
        """The layout with its objects in the order the model was trained with, for layouts that come
        without a meaningful order of their own (evaluation data, imported annotations): largest box
        first for an ``area`` model (a stable sort), unchanged otherwise."""
        if self.object_order != "area":
            return layout
        return LayoutSpec(tuple(sorted(layout.objects, key=lambda o: -area_in_image(o.bbox))))

    def set_device(self, device: Optional[str]) -> None:
        """Move the model to ``device`` (see class doc) and choose its precision there (the policy of
        :mod:`layout2im_core.precision`; with ``auto`` a short timing the first time on this machine);
        clears the edit cache.

        Raises:
            DeviceError: the device is not available (the model stays where it was).
        """
        with self._lock:
            dev = _policy.resolve_device(device)
            self.G.to(dev)
            self._dev = dev
            self.device = str(dev)
            self.clear_cache()
            self.precision = "fp32"
            self.precision_choice = _policy.choose_precision(
                self._precision_req, dev, self._workload(), timings=lambda: _policy.time_alternating(self._render_probe()))
            self.precision = self.precision_choice.precision
            self.clear_cache()

    def set_precision(self, precision: str) -> None:
        """``"fp32"``, ``"bf16"`` or ``"auto"``; clears the edit cache.

        Raises:
            ValueError: another value.
        """
        if precision not in ("fp32", "bf16", "auto"):
            raise ValueError(f"precision must be fp32, bf16 or auto, not {precision!r}")
        self._precision_req = precision
        self.set_device(self.device)

    @property
    def precision_reason(self) -> str:
        """Why this precision (one line, for the status bar and ``layout2im info --device``)."""
        return self.precision_choice.reason if self.precision_choice else ""

    def _workload(self) -> str:
        """The precision cache's name for this model's renders: ``render:<preset>``."""
        preset = self.preset
        if preset == "custom":
            import hashlib
            preset = "custom-" + hashlib.sha1(repr(self.config.to_dict()).encode()).hexdigest()[:8]
        return f"render:{preset}{'-legacy' if self.config.legacy_numerics else ''}"

    def _render_probe(self):
        """A function that renders one fixed random layout of up to 8 objects (full forward, no
        cache) in a given precision: what the precision policy times."""
        n = min(8, self.config.max_objects)
        gen = torch.Generator().manual_seed(0)
        ids = torch.tensor(self.vocabulary.category_ids)
        objs = ids[torch.randint(len(ids), (1, n), generator=gen)]
        xy = torch.rand(1, n, 2, generator=gen) * 0.6
        bboxes = torch.cat([xy, xy + 0.2 + torch.rand(1, n, 2, generator=gen) * 0.2], -1)
        zs = torch.randn(1, n, self.z_dim, generator=gen)
        mask = torch.ones(1, n, dtype=torch.bool)

        @torch.no_grad()
        def run(precision: str) -> None:
            saved, self.precision = self.precision, precision
            try:
                self._full(objs, bboxes, zs, mask)
            finally:
                self.precision = saved
        return run

    def clear_cache(self) -> None:
        """Forget cached object features and conv-LSTM states."""
        self._features: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()
        self._edit = _EditCache([], [], None)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self._dev.type, dtype=torch.bfloat16)
        return torch.autocast(self._dev.type, enabled=False)

    # --- layout validation -------------------------------------------------------------------------
    def sample_z(self, n: int, seed: Optional[int] = None) -> np.ndarray:
        """n codes from N(0, I): float32 [n, Z]. Same seed -> same codes.

        Raises:
            LayoutError: ``n`` not a whole number in [0, 1e6], or a bad seed (see :func:`check_seed`).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= 1_000_000:
            raise LayoutError(f"sample_z: n must be a whole number from 0 to 1000000, got {value_text(n, 40)}")
        gen = np.random.default_rng(check_seed(seed))
        return gen.standard_normal((int(n), self.z_dim)).astype(np.float32)

    def _tensors(self, layout: LayoutSpec, seed: Optional[int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Validate a layout -> (objs [O] int64, bboxes [O, 4] float32, z [O, Z] float32) on CPU.

        Raises:
            LayoutError: not a LayoutSpec of ObjectSpecs, empty, too many objects, a category that is
                not a string, bad bbox (see ``boxes.check_bbox``; a string such as "0011" is not a
                bbox), z not Z finite numbers within ``MAX_ABS_Z``, a bad seed. Messages quote values
                clipped to a few dozen characters.
            UnknownCategoryError: categories not in the vocabulary (all named, clipped).
        """
        if not isinstance(layout, LayoutSpec):
            raise LayoutError(f"expected a LayoutSpec, got {type(layout).__name__}")
        objects = layout.objects
        if not isinstance(objects, (tuple, list)):
            raise LayoutError(f"LayoutSpec.objects must be a tuple of ObjectSpec, got {type(objects).__name__}")
        if len(objects) == 0:
            raise LayoutError("the layout is empty: add at least one object")
        if len(objects) > self.config.max_objects:
            raise LayoutError(f"the layout has {len(objects)} objects; this model allows at most "
                              f"{self.config.max_objects}")
        for i, o in enumerate(objects):
            if not isinstance(o, ObjectSpec):
                raise LayoutError(f"object {i} must be an ObjectSpec, got {type(o).__name__}")
            if not isinstance(o.category, str):
                raise LayoutError(f"object {i}: category must be a name (a string), got {value_text(o.category, 40)}")
        seed = check_seed(seed)
        ids = self.vocabulary.ids_of([o.category for o in objects])
        bboxes = [check_bbox(o.bbox, i, clamp=True) for i, o in enumerate(objects)]
        missing = [i for i, o in enumerate(objects) if o.z is None]
        rand = self.sample_z(len(missing), seed) if missing else None
        zs = np.empty((len(objects), self.z_dim), np.float32)
        for i, o in enumerate(objects):
            if o.z is None:
                zs[i] = rand[missing.index(i)]
                continue
            zs[i] = _z_values(o.z, i, o.category, self.z_dim)
        return (torch.tensor(ids, dtype=torch.int64), torch.tensor(bboxes, dtype=torch.float32),
                torch.from_numpy(zs))

    def layout_warnings(self, layout: LayoutSpec) -> List[str]:
        """Ways the layout leaves the model's trained range (not errors): too many objects, boxes under
        2% of the image, labels the model lacks."""
        if not isinstance(layout, LayoutSpec) or not all(isinstance(o, ObjectSpec) for o in layout.objects):
            return ["not a layout of objects"]
        out = []
        n = len(layout.objects)
        if n > self.trained_max_objects:
            out.append(f"{n} objects: this model was trained with at most {self.trained_max_objects}")
        small = [f"{i} ({clip(o.category, 40)})" for i, o in enumerate(layout.objects, 1)  # numbered from 1, as lists show them
                 if area_in_image(o.bbox) < MIN_BOX_AREA]
        if small:
            out.append(f"boxes under 2% of the image (outside the trained range): objects {', '.join(small)}")
        unknown = sorted({clip(str(o.category), 40) for o in layout.objects
                          if not isinstance(o.category, str) or o.category not in self.vocabulary})
        if unknown:
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            out.append(f"labels this model lacks (ignored when rendering): {', '.join(unknown[:10])}{more}")
        return out

    # --- rendering ------------------------------------------------------------------------------------
    def _to_unit_hwc(self, img: torch.Tensor) -> np.ndarray:
        """[B, 3, 64, 64] model space -> float32 [B, 64, 64, 3] in [0, 1].

        Raises:
            LayoutError: the network produced NaN or infinite pixels (never shown as a black image)."""
        out = self.G.to_unit(img).permute(0, 2, 3, 1).float().cpu().numpy()
        if not np.all(np.isfinite(out)):
            raise LayoutError("the model produced NaN or infinite pixels for this layout (extreme z values, or "
                              "weights that overflow)")
        return out

    @staticmethod
    def _quantise(unit: np.ndarray) -> np.ndarray:
        return np.round(unit * 255).astype(np.uint8)

    def _object_key(self, obj_id: int, bbox: torch.Tensor, z: torch.Tensor) -> tuple:
        # The box enters the model only through its 64x64 mask, so the key uses the mask's edges.
        size = self.config.image_size
        edges = torch.round(bbox * size).to(torch.int64).tolist()
        return (obj_id, tuple(edges), z.numpy().tobytes())

    def _features_for(self, keys, objs, bboxes, zs) -> List[torch.Tensor]:
        """Per-object features [C4, 8, 8], from the cache or computed in one batch."""
        missing = [i for i, k in enumerate(keys) if k not in self._features]
        if missing:
            idx = torch.tensor(missing)
            with self._autocast():
                f = self.G.layout_encoder.object_features(objs[idx].to(self._dev), bboxes[idx].to(self._dev),
                                                          zs[idx].to(self._dev))
            for j, i in enumerate(missing):
                self._features[keys[i]] = f[j]
        feats = []
        for k in keys:
            self._features.move_to_end(k)
            feats.append(self._features[k])
        while len(self._features) > max(self.FEATURE_CACHE_SIZE, 2 * len(keys)):
            self._features.popitem(last=False)
        return feats

    def generate(self, layout: LayoutSpec, seed: Optional[int] = None, use_cache: bool = True) -> np.ndarray:
        """Render one layout to uint8 RGB [64, 64, 3]; see :meth:`render_float` for the arguments."""
        return self._quantise(self.render_float(layout, seed, use_cache))

    @torch.no_grad()
    def render_float(self, layout: LayoutSpec, seed: Optional[int] = None, use_cache: bool = True) -> np.ndarray:
        """Render one layout.

        Objects with ``z=None`` get codes drawn with ``seed`` (give every object a z for repeatable
        images). Boxes merely outside [0, 1] are clamped into it.

        Args:
            layout: the ordered objects.
            seed: seed for missing z.
            use_cache: use the fast edit path (same result as a full forward).

        Returns:
            float32 RGB array [64, 64, 3] in [0, 1].

        Raises:
            LayoutError, UnknownCategoryError: see ``_tensors``.
        """
        objs, bboxes, zs = self._tensors(layout, seed)
        with self._lock:
            if not use_cache:
                return self._full(objs[None], bboxes[None], zs[None], torch.ones(1, len(objs), dtype=torch.bool))[0]
            keys = [self._object_key(int(o), b, z) for o, b, z in zip(objs, bboxes, zs)]
            prev = self._edit
            first = next((i for i, (a, b) in enumerate(zip(keys, prev.keys)) if a != b), min(len(keys), len(prev.keys)))
            if first == len(keys) == len(prev.keys) and prev.image is not None:
                return prev.image.copy()
            feats = self._features_for(keys, objs, bboxes, zs)
            le = self.G.layout_encoder
            state = prev.states[first - 1] if first > 0 else None
            states = []
            with self._autocast():
                if first < len(keys):
                    seq = torch.stack(feats[first:])[None]  # [1, T, C4, 8, 8]
                    h, states = le.clstm(seq, torch.ones(1, seq.shape[1], dtype=torch.bool, device=self._dev),
                                         state=state, keep_states=True)
                else:  # objects were only removed from the end: the state after the last one is cached
                    h = state[-1][0]
                ones = torch.ones(1, len(keys), dtype=torch.bool, device=self._dev)
                img = self.G.decode(le.bottleneck(h), objs[None].to(self._dev),
                                    bboxes[None].to(self._dev), zs[None].to(self._dev), ones)
            image = self._to_unit_hwc(img)[0]
            self._edit = _EditCache(keys, prev.states[:first] + states, image)
            return image.copy()

    def _full(self, objs, bboxes, zs, obj_mask) -> np.ndarray:
        """Full forward of padded tensors -> float32 [B, 64, 64, 3] in [0, 1]."""
        with self._autocast():
            img = self.G.generate(objs.to(self._dev), bboxes.to(self._dev), zs.to(self._dev), obj_mask.to(self._dev))
        return self._to_unit_hwc(img)

    @torch.no_grad()
    def generate_batch(self, layouts: Sequence[LayoutSpec], seed: Optional[int] = None) -> np.ndarray:
        """Render several layouts in one batch (variation grids). Returns uint8 [N, 64, 64, 3].

        Missing z are drawn per layout from ``seed + index`` (or fresh when seed is None).

        Raises:
            LayoutError: no layouts, more than ``MAX_BATCH``, a bad seed, or a bad layout (see ``_tensors``).
            UnknownCategoryError: see ``_tensors``."""
        if isinstance(layouts, (str, bytes, LayoutSpec)) or not hasattr(layouts, "__len__"):
            raise LayoutError(f"generate_batch needs a list of layouts, got {type(layouts).__name__}")
        if not layouts:
            raise LayoutError("generate_batch needs at least one layout")
        if len(layouts) > MAX_BATCH:
            raise LayoutError(f"generate_batch takes at most {MAX_BATCH} layouts per call, got {len(layouts)}")
        seed = check_seed(seed)
        if seed is not None and seed + len(layouts) > MAX_SEED:
            raise LayoutError(f"seed {seed} + {len(layouts)} layouts exceeds 2**63-1")
        parts = [self._tensors(l, None if seed is None else seed + i) for i, l in enumerate(layouts)]
        o = max(len(p[0]) for p in parts)
        b = len(parts)
        objs = torch.zeros(b, o, dtype=torch.int64)
        bboxes = torch.zeros(b, o, 4)
        zs = torch.zeros(b, o, self.z_dim)
        mask = torch.zeros(b, o, dtype=torch.bool)
        for i, (ob, bb, z) in enumerate(parts):
            n = len(ob)
            objs[i, :n], bboxes[i, :n], zs[i, :n], mask[i, :n] = ob, bb, z, True
        with self._lock:
            return self._quantise(self._full(objs, bboxes, zs, mask))

    # --- appearance ------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_appearance(self, image: np.ndarray, bbox: Sequence[float], category: str) -> np.ndarray:
        """z of an object in a photo: the crop encoder's mu for the crop of ``bbox`` (spec §4.3).

        The photo is resized to 64x64 (bilinear, as the training data) before cropping.

        Args:
            image: uint8 [H, W, 3] RGB (or [H, W] grey, or [H, W, 4] RGBA: alpha dropped).
            bbox: (x0, y0, x1, y1) in [0, 1] of the photo.
            category: category name of the object (CBN is conditioned on it).

        Returns:
            float32 [Z].

        Raises:
            LayoutError: not a numeric image array (or NaN in it), over ``MAX_PHOTO_PIXELS``, or a bad
                bbox; a category that is not a string. UnknownCategoryError: unknown category.
        """
        from PIL import Image

        try:
            arr = np.asarray(image)
        except (ValueError, TypeError):
            raise LayoutError("expected an RGB image array [H, W, 3] of numbers") from None
        if arr.dtype.kind not in "uifb":
            raise LayoutError(f"expected an image array of numbers, got dtype {arr.dtype}")
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, -1)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise LayoutError(f"expected an RGB image array [H, W, 3], got shape {value_text(arr.shape, 40)}")
        if arr.shape[0] * arr.shape[1] > MAX_PHOTO_PIXELS:
            raise LayoutError(f"the photo has {arr.shape[1]}x{arr.shape[0]} pixels; the limit is "
                              f"{MAX_PHOTO_PIXELS // 1_000_000} megapixels")
        arr = arr[..., :3]
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise LayoutError("the image array holds NaN or infinite values")
        if arr.dtype != np.uint8:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        if not isinstance(category, str):
            raise LayoutError(f"category must be a name (a string), got {value_text(category, 40)}")
        box = check_bbox(bbox, 0, clamp=True)
        obj_id = self.vocabulary.id_of(category)
        size = self.config.image_size
        small = np.asarray(Image.fromarray(arr).resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
        img = torch.from_numpy(small).permute(2, 0, 1)[None].to(self._dev)  # [1, 3, 64, 64]
        with self._lock, self._autocast():
            crops = self.G.crop(self.G.to_model_space(img), torch.tensor([box], device=self._dev),
                                torch.zeros(1, dtype=torch.int64, device=self._dev))
            mu = self.G.crop_encoder(crops, torch.tensor([obj_id], device=self._dev), sample=False).mu
        return mu[0].float().cpu().numpy()

    def directions(self, category: str, k: Optional[int] = None) -> AppearanceDirections:
        """The category's appearance directions: its named directions (those the model file holds for
        it), then ``k`` principal directions (all when None), with mean, std and explained share; or
        the unit axes of z (``fallback=True``) when the model file holds none for it.

        Raises:
            UnknownCategoryError: unknown category. LayoutError: ``k`` not None or a whole number >= 1,
                a category that is not a string.
        """
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise LayoutError(f"directions: k must be None or a whole number >= 1, got {value_text(k, 40)}")
        if not isinstance(category, str):
            raise LayoutError(f"category must be a name (a string), got {value_text(category, 40)}")
        obj_id = self.vocabulary.id_of(category)
        d = self._file.directions
        if d is not None:
            hits = (d.ids == obj_id).nonzero()
            if len(hits):
                i = int(hits[0, 0])
                kk = d.components.shape[1] if k is None else min(k, d.components.shape[1])
                names: List[str] = []
                comps, std, expl, r2 = [], [], [], []
                if d.names:
                    for f, name in enumerate(d.names):
                        if bool(d.named_valid[i, f]):
                            names.append(name)
                            comps.append(d.named_components[i, f].numpy())
                            std.append(float(d.named_std[i, f]))
                            expl.append(0.0)
                            r2.append(float(d.named_r2[i, f]))
                names += [""] * kk
                comps += list(d.components[i, :kk].numpy())
                std += d.std[i, :kk].tolist()
                expl += d.explained[i, :kk].tolist()
                r2 += [float("nan")] * kk
                return AppearanceDirections(d.mean[i].numpy().astype(np.float32),
                                            np.asarray(comps, np.float32).reshape(len(names), -1),
                                            np.asarray(std, np.float32), np.asarray(expl, np.float32), False,
                                            tuple(names), np.asarray(r2, np.float32))
        kk = self.z_dim if k is None else min(k, self.z_dim)
        return AppearanceDirections(np.zeros(self.z_dim, np.float32), np.eye(self.z_dim, dtype=np.float32)[:kk],
                                    np.ones(kk, np.float32), np.full(kk, 1.0 / self.z_dim, np.float32), True,
                                    ("",) * kk, np.full(kk, np.nan, np.float32))

    @property
    def has_directions(self) -> bool:
        return self._file.directions is not None


@torch.no_grad()
def _calibrate_batch_norm(G: Generator, vocab: Vocabulary, gen: torch.Generator, rounds: int = 4) -> None:
    """Set BN running statistics of a random-weight G from random layouts (train-mode forwards with
    momentum None = cumulative average), so its eval-mode images respond to the layout."""
    ids = torch.tensor(vocab.category_ids)
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    for _ in range(rounds):
        b, o = 8, 6
        objs = ids[torch.randint(len(ids), (b, o), generator=gen)]
        x0y0 = torch.rand(b, o, 2, generator=gen) * 0.6
        bboxes = torch.cat([x0y0, x0y0 + 0.15 + torch.rand(b, o, 2, generator=gen) * 0.25], -1).clamp(0, 1)
        z = torch.randn(b, o, G.cfg.z_dim, generator=gen)
        G.generate(objs, bboxes, z, torch.ones(b, o, dtype=torch.bool))
    for m in bns:
        m.momentum = 0.1
    G.eval()


def import_official(path, vocab: str = "coco", device: Optional[str] = None) -> Layout2ImModel:
    """Load an official Layout2Im generator checkpoint (``netG_coco.pkl`` etc.) as a model.

    ``vocab``: ``"coco"``, ``"vg"`` or a path to a ``vocab.json``. Raises ModelFileError."""
    from .importer import convert_official

    return Layout2ImModel(convert_official(path, vocab), device=device)
