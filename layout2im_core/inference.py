"""The inference API: the model behind the app (imported on its worker thread) and the CLI; one of
the core's public API modules (docs/architecture.md, "Packages"). Only plain Python values and numpy
arrays cross this boundary; never tensors.

A :class:`Layout2ImModel` loads a model file (safetensors: weights + config + vocabulary + card +
appearance directions; loading runs no code), renders layouts to uint8 RGB images through the **fast
edit path** (``edit_cache.py``: only the objects from the first changed one onward are re-fused; the
result equals a full forward), encodes appearance from photos and gives each category's appearance
directions. It implements :class:`~layout2im_core.model_api.RenderModel`. Inputs are validated by
``render_inputs.py``; the shipped models are found by ``model_registry.py``; official checkpoints are
imported by ``importer.py``. This module re-exports the names of all of them that callers use.
"""

from __future__ import annotations

import threading
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import precision as _policy
from .appearance_prior import AppearancePrior
from .boxes import area_in_image, check_bbox
from .checkpoint import ModelFile, load_model_file, save_model_file
from .config import ModelConfig, model_preset, preset_name
from .edit_cache import EditCache
from .errors import LayoutError, ModelFileError, clip, value_text
from .importer import import_official
from .model_api import MAX_SEED, MIN_BOX_AREA, AppearanceDirections, RenderModel, check_seed, sample_z
from .model_registry import DEFAULT_MODEL, available_models, default_model_path, resolve_model
from .models.calibration import calibrate_batch_norm
from .models.generator import Generator
from .precision import PrecisionChoice, available_devices, flush_subnormals
from .render_inputs import MAX_ABS_Z, MAX_BATCH, MAX_PHOTO_PIXELS, batch_seeds, layout_arrays, photo_array
from .types import LayoutSpec, ObjectSpec
from .vocab import Vocabulary

__all__ = ["Layout2ImModel", "AppearanceDirections", "RenderModel", "available_models", "default_model_path",
           "available_devices", "resolve_model", "import_official", "check_seed", "LayoutSpec", "ObjectSpec",
           "DEFAULT_MODEL", "MIN_BOX_AREA", "MAX_SEED", "MAX_ABS_Z", "MAX_BATCH", "MAX_PHOTO_PIXELS"]


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

    FEATURE_CACHE_SIZE = 512  # object features the edit cache keeps at least

    def __init__(self, model_file: ModelFile, device: Optional[str] = None, precision: str = "auto"):
        flush_subnormals()  # see _autocast
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
        self._cache = EditCache(self.G, self.config.image_size, self.FEATURE_CACHE_SIZE)
        # ISLA models with directions map look codes to z through each category's fit of real crops'
        # codes (appearance_prior.py); the paper's decoders keep z = look code (official numerics).
        self.prior: Optional[AppearancePrior] = None
        if self.config.decoder_kind == "isla" and model_file.directions is not None:
            self.prior = AppearancePrior(model_file.directions) or None
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
        flush_subnormals()  # before this thread's first parallel torch op: its workers inherit it
        return cls(load_model_file(resolve_model(name_or_path)), device=device, precision=precision)

    @classmethod
    def random(cls, preset: str = "tiny", vocabulary: Optional[Vocabulary] = None, seed: int = 0,
               device: Optional[str] = "cpu", precision: str = "fp32", name: str = "random") -> "Layout2ImModel":
        """A model with random weights (for tests and demos); its batch-norm statistics are calibrated on
        random layouts (``models/calibration.py``) so its images respond to the layout."""
        vocab = vocabulary or Vocabulary.builtin("coco")
        cfg = model_preset(preset, len(vocab))
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            G = Generator(cfg)
        calibrate_batch_norm(G, vocab.category_ids, gen)
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
        """Z, the size of an appearance code."""
        return self.config.z_dim

    @property
    def max_objects(self) -> int:
        """Most objects one render takes (``ModelConfig.max_objects``; more raise LayoutError)."""
        return self.config.max_objects

    @property
    def preset(self) -> str:
        """The config's preset name ("custom" for none)."""
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
                self._precision_req, dev, self._workload(),
                timings=lambda: _policy.time_alternating(self._render_probe()))
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
        """Forget the edit path's cached per-object entries (features; isla: styles and masks) and conv-LSTM states."""
        self._cache.clear()

    def _autocast(self):
        """The precision context of a render, on the calling thread. On CPU it also turns on
        flush-to-zero for float32 subnormals on this thread (``precision.flush_subnormals``, left on):
        a trained model drives some activations below 1.2e-38, which x86 CPUs compute many times
        slower, invisible in an 8-bit image. Torch's worker threads copy the setting of the thread that
        starts them, so ``load`` and the constructor set it first, before the thread's first parallel
        op (the app's render thread loads the model); the CLI and the benchmarks set it at start
        (docs/benchmarks.md)."""
        if self._dev.type == "cpu":
            flush_subnormals()
        if self.precision == "bf16":
            return torch.autocast(self._dev.type, dtype=torch.bfloat16)
        return torch.autocast(self._dev.type, enabled=False)

    # --- layouts ----------------------------------------------------------------------------------
    def sample_z(self, n: int, seed: Optional[int] = None) -> np.ndarray:
        """n codes from N(0, I): float32 [n, Z] (``model_api.sample_z``). Same seed -> same codes.

        Raises:
            LayoutError: ``n`` not a whole number in [0, 1e6], or a bad seed (see :func:`check_seed`).
        """
        return sample_z(n, self.z_dim, seed)

    def _tensors(self, layout: LayoutSpec, seed: Optional[int]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Validate a layout -> (objs [O] int64, bboxes [O, 4] float32, z [O, Z] float32) on CPU; z is
        the generator's code: the objects' look codes through the appearance prior where the model
        has one (``appearance_prior.py``), else the look codes themselves.

        Raises:
            LayoutError, UnknownCategoryError: see ``render_inputs.layout_arrays``.
        """
        ids, bboxes, zs = layout_arrays(layout, self.vocabulary, self.config.max_objects, self.z_dim, seed)
        if self.prior is not None:
            zs = self.prior.to_model(ids, zs)
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
        small = [f"{i} ({clip(o.category, 40)})"  # numbered from 1, as lists show them
                 for i, o in enumerate(layout.objects, 1) if area_in_image(o.bbox) < MIN_BOX_AREA]
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
            LayoutError, UnknownCategoryError: see ``render_inputs.layout_arrays``.
        """
        objs, bboxes, zs = self._tensors(layout, seed)
        with self._lock:
            if not use_cache:
                return self._full(objs[None], bboxes[None], zs[None], torch.ones(1, len(objs), dtype=torch.bool))[0]
            return self._cache.render(objs, bboxes, zs, self._dev, self._autocast, self._to_unit_hwc)

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
            LayoutError: no layouts, more than ``MAX_BATCH``, a bad seed (``render_inputs.batch_seeds``),
                or a bad layout. UnknownCategoryError: see ``render_inputs.layout_arrays``."""
        seeds = batch_seeds(layouts, seed)
        parts = [self._tensors(lay, s) for lay, s in zip(layouts, seeds)]
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
        """The look code of an object in a photo: the crop encoder's mu for the crop of ``bbox`` (spec
        §4.3), through the inverse of the appearance prior where the model has one
        (``appearance_prior.py``), so that rendering it gives the generator that mu.

        The photo is resized to 64x64 (bilinear, as the training data) before cropping.

        Args:
            image: uint8 [H, W, 3] RGB (or [H, W] grey, or [H, W, 4] RGBA: alpha dropped).
            bbox: (x0, y0, x1, y1) in [0, 1] of the photo.
            category: category name of the object (CBN is conditioned on it).

        Returns:
            float32 [Z].

        Raises:
            LayoutError: not a numeric image array (or NaN in it), over ``MAX_PHOTO_PIXELS``
                (``render_inputs.photo_array``), or a bad bbox; a category that is not a string.
                UnknownCategoryError: unknown category.
        """
        from PIL import Image

        arr = photo_array(image)  # uint8 [H, W, 3]
        if not isinstance(category, str):
            raise LayoutError(f"category must be a name (a string), got {value_text(category, 40)}")
        box = check_bbox(bbox, 0, clamp=True)
        obj_id = self.vocabulary.id_of(category)
        size = self.config.image_size
        resized = Image.fromarray(arr).resize((size, size), Image.Resampling.BILINEAR)
        small = np.asarray(resized, dtype=np.float32) / 255.0  # [64, 64, 3] in [0, 1]
        img = torch.from_numpy(small).permute(2, 0, 1)[None].to(self._dev)  # [1, 3, 64, 64]
        with self._lock, self._autocast():
            crops = self.G.crop(self.G.to_model_space(img), torch.tensor([box], device=self._dev),
                                torch.zeros(1, dtype=torch.int64, device=self._dev))
            mu = self.G.crop_encoder(crops, torch.tensor([obj_id], device=self._dev), sample=False).mu
        mu_np = mu[0].float().cpu().numpy()
        return mu_np if self.prior is None else self.prior.to_look(obj_id, mu_np)

    def directions(self, category: str, k: Optional[int] = None) -> AppearanceDirections:
        """The category's appearance directions: its named directions (those the model file holds for
        it), then ``k`` principal directions (all when None), with mean, std and explained share; or
        the unit axes of z (``fallback=True``) when the model file holds none for it. In look-code
        space: with an appearance prior they are re-expressed through it
        (``AppearancePrior.look_directions``; the mean is then 0).

        Raises:
            UnknownCategoryError: unknown category. LayoutError: ``k`` not None or a whole number >= 1,
                a category that is not a string.
        """
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise LayoutError(f"directions: k must be None or a whole number >= 1, got {value_text(k, 40)}")
        if not isinstance(category, str):
            raise LayoutError(f"category must be a name (a string), got {value_text(category, 40)}")
        obj_id = self.vocabulary.id_of(category)
        found = None if self._file.directions is None else self._file.directions.of_category(obj_id, k)
        if found is None:
            return AppearanceDirections.unit_axes(self.z_dim, k)
        return found if self.prior is None else self.prior.look_directions(obj_id, found)

    @property
    def has_directions(self) -> bool:
        """The model file holds appearance directions."""
        return self._file.directions is not None

