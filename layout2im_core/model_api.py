"""The model interface the app uses, torch-free: the :class:`RenderModel` protocol (implemented by
``inference.Layout2ImModel``; the app's test doubles implement all of it), its plain result type
:class:`AppearanceDirections`, the trained-range constants, and the drawing of appearance codes
(numpy), which the app does on its GUI thread with exactly the model's formula.

Only plain Python values and numpy arrays cross this interface; never tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np

from .errors import LayoutError, value_text
from .types import LayoutSpec
from .vocab import Vocabulary

__all__ = ["RenderModel", "AppearanceDirections", "sample_z", "check_seed", "MIN_BOX_AREA", "MAX_SEED",
           "MAX_SAMPLES"]

MIN_BOX_AREA = 0.02  # boxes smaller than this share of the image are outside the trained range (spec §7.1)
MAX_SEED = 2 ** 63 - 1
MAX_SAMPLES = 1_000_000  # codes per sample_z call


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


def sample_z(n: int, z_dim: int, seed: Optional[int] = None) -> np.ndarray:
    """``n`` appearance codes from N(0, I): float32 [n, Z]. The same seed gives the same codes
    (projects record the seed of each look): ``default_rng(seed).standard_normal((n, Z))``.

    Raises:
        LayoutError: ``n`` not a whole number in [0, 1e6], or a bad seed (see :func:`check_seed`).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_SAMPLES:
        raise LayoutError(f"sample_z: n must be a whole number from 0 to {MAX_SAMPLES}, got {value_text(n, 40)}")
    gen = np.random.default_rng(check_seed(seed))
    return gen.standard_normal((int(n), int(z_dim))).astype(np.float32)


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

    @classmethod
    def unit_axes(cls, z_dim: int, k: Optional[int] = None) -> "AppearanceDirections":
        """The fallback for a category without directions: the first ``k`` unit axes of z (all when
        None), std 1, explained 1/Z each, ``fallback=True``."""
        kk = z_dim if k is None else min(k, z_dim)
        return cls(np.zeros(z_dim, np.float32), np.eye(z_dim, dtype=np.float32)[:kk], np.ones(kk, np.float32),
                   np.full(kk, 1.0 / z_dim, np.float32), True, ("",) * kk, np.full(kk, np.nan, np.float32))


@runtime_checkable
class RenderModel(Protocol):
    """What the app asks of a loaded model, all of it on its worker thread (``app/inference_worker.py``).

    Attributes:
        name: the model's name.  vocabulary: its categories and ids (``digest()`` identifies it).
        device: where it runs ("cpu", "cuda:0", ...).  precision: "fp32" or "bf16".
    """

    name: str
    vocabulary: Vocabulary
    device: str
    precision: str

    @property
    def categories(self) -> List[str]:
        """Real category names of the vocabulary, in id order."""

    @property
    def z_dim(self) -> int:
        """Z, the size of an appearance code."""

    @property
    def max_objects(self) -> int:
        """Most objects one render takes (more raise LayoutError)."""

    @property
    def trained_categories(self) -> List[str]:
        """The categories seen in training (all categories when unknown)."""

    @property
    def trained_max_objects(self) -> int:
        """Most objects per image seen in training."""

    @property
    def has_directions(self) -> bool:
        """The model file holds appearance directions."""

    @property
    def precision_reason(self) -> str:
        """Why this precision (one line)."""

    def set_device(self, device: Optional[str]) -> None:
        """Move to ``device``. Raises DeviceError when it is not available."""

    def generate(self, layout: LayoutSpec, seed: Optional[int] = None) -> np.ndarray:
        """Render one layout: uint8 [64, 64, 3]. Raises LayoutError, UnknownCategoryError."""

    def generate_batch(self, layouts: Sequence[LayoutSpec], seed: Optional[int] = None) -> np.ndarray:
        """Render several layouts: uint8 [N, 64, 64, 3]."""

    def sample_z(self, n: int, seed: Optional[int] = None) -> np.ndarray:
        """``sample_z(n, z_dim, seed)``: float32 [n, Z]."""

    def encode_appearance(self, image: np.ndarray, bbox: Sequence[float], category: str) -> np.ndarray:
        """z of the object in ``bbox`` of a photo (uint8 [H, W, 3]): float32 [Z]."""

    def directions(self, category: str, k: Optional[int] = None) -> AppearanceDirections:
        """The category's appearance directions (named ones first, then ``k`` principal ones)."""
