"""The appearance prior of the ISLA models (ours; the paper samples z from N(0, I) directly).

The app, the CLI, project files and ``check-scenes`` hold each object's **look code** ``e``, drawn
from N(0, I) (``model_api.sample_z``). A model with an ISLA decoder and appearance directions maps it,
per category, to the generator's z through the category's Gaussian fit of its codes:

    z = mean + A e,   A = the symmetric square root of the covariance ``category_prior`` rebuilds
                          from the directions (principal rows, the rest of the variance, named rows)

The crop encoder's codes of real crops (its aggregate posterior) are what the reconstruction path
trained the generator on; N(0, I) puts most z where it saw few of them. Measured with
``check-scenes`` on the shipped ``scenes64`` of step 10,556 (same layouts and draws): FID (n = 500)
139.9 with z = e, 130.7 through this prior; diversity (n = 100) 0.107 -> 0.116 (docs/architecture.md).

The map is affine and invertible, so every figure the app shows stays in look-code space:
``look_directions`` re-expresses the directions there (each row ``u`` with std ``s`` becomes
``A^-1 u`` normalised, with std ``s |A^-1 u|``: a slider move gives the same z change as before), and
``to_look`` maps a crop encoder's mu ("look from a photo") back. Categories without directions, and
models of the paper's decoder (whose official weights must render as the official code does), keep
z = e.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Optional, Sequence

import numpy as np

from .checkpoint import Directions
from .model_api import AppearanceDirections

RESIDUAL_FLOOR = 0.05  # r is at least this share of the largest principal std (keeps A well conditioned)
ORTHONORMAL_TOL = 1e-3  # components further than this from orthonormal give no prior for their category


@dataclass(frozen=True)
class CategoryPrior:
    """One category's map: ``z = mean + A e`` (float64; ``A`` [Z, Z] symmetric positive definite)."""

    mean: np.ndarray
    A: np.ndarray
    A_inv: np.ndarray


def category_prior(mean: np.ndarray, components: np.ndarray, std: np.ndarray, explained: np.ndarray,
                   named: Optional[np.ndarray] = None, named_std: Optional[np.ndarray] = None
                   ) -> Optional[CategoryPrior]:
    """The prior of one category from its directions (module docstring).

    Covariance, rebuilt from what the file holds:
    ``C^T diag(std^2) C + r^2 (I - C^T C) + sum_f a_f n_f n_f^T``:

    - the D principal rows ``C`` of the crop codes' aggregate posterior, with their variances;
    - the rest of that posterior's total variance (``sum(std^2) / sum(explained)``) spread evenly over
      the other Z - D dimensions (``r^2``);
    - along each named row ``n_f`` ("colour", ...) its slider unit squared (``a_f``: least squares,
      ``a >= 0``, of ``named_std_g^2 = sum_f a_f (n_f . n_g)^2``). The unit is the z distance over which
      the generator moves the factor by one real standard deviation (at most 2,
      ``named_directions.MAX_STD``), so the painted factor varies about as much as on real crops.

    ``A`` is the covariance's symmetric square root, with eigenvalues floored at ``RESIDUAL_FLOOR``
    times the largest principal std.

    Args:
        mean: [Z]; components: [D, Z] orthonormal rows; std: [D] > 0; explained: [D] shares of the
            total variance in [0, 1]; named: [F, Z] unit rows (valid ones only) or None; named_std: [F].

    Returns:
        The CategoryPrior, or None where the directions cannot define one (no components, a share sum
        of 0, components not orthonormal to ``ORTHONORMAL_TOL``, non-finite values).
    """
    c = np.asarray(components, np.float64)
    s = np.maximum(np.asarray(std, np.float64), 1e-6)
    ex = float(np.asarray(explained, np.float64).sum())
    if (c.ndim != 2 or len(c) == 0 or len(c) != len(s) or ex <= 0 or not np.isfinite(c).all()
            or not np.isfinite(s).all() or np.abs(c @ c.T - np.eye(len(c))).max() > ORTHONORMAL_TOL):
        return None
    z, d = c.shape[1], len(c)
    total = float((s ** 2).sum()) / min(ex, 1.0)
    cov = c.T @ ((s ** 2)[:, None] * c)
    if d < z:
        cov = cov + (np.eye(z) - c.T @ c) * max(total - float((s ** 2).sum()), 0.0) / (z - d)
    if named is not None and len(named):
        n = np.asarray(named, np.float64)
        ns = np.asarray(named_std, np.float64)
        if n.shape == (len(ns), z) and np.isfinite(n).all() and np.isfinite(ns).all():
            a = np.clip(np.linalg.lstsq((n @ n.T) ** 2, ns ** 2, rcond=None)[0], 0, None)
            cov = cov + n.T @ (a[:, None] * n)
    evals, evecs = np.linalg.eigh((cov + cov.T) / 2)
    root = np.sqrt(np.maximum(evals, (RESIDUAL_FLOOR * float(s.max())) ** 2))
    a_mat = evecs @ (root[:, None] * evecs.T)
    a_inv = evecs @ ((1 / root)[:, None] * evecs.T)
    return CategoryPrior(np.asarray(mean, np.float64), a_mat, a_inv)


class AppearancePrior:
    """The per-category look-code -> z maps of one model (module docstring).

    Args:
        directions: the model file's Directions (mean [K, Z], components [K, D, Z], std [K, D],
            explained [K, D]).
    """

    def __init__(self, directions: Directions):
        self._by_id: Dict[int, CategoryPrior] = {}
        for obj_id in directions.ids.tolist():
            a = directions.of_category(int(obj_id))  # its valid named rows first, then the principal ones
            if a is None:
                continue
            k = a.named
            p = category_prior(a.mean, a.components[k:], a.std[k:], a.explained[k:], a.components[:k], a.std[:k])
            if p is not None:
                self._by_id[int(obj_id)] = p

    def __len__(self) -> int:
        """Categories with a prior."""
        return len(self._by_id)

    def to_model(self, ids: Sequence[int] | np.ndarray, e: np.ndarray) -> np.ndarray:
        """Look codes -> the generator's z.

        Args:
            ids: [O] int category ids (a sequence or an array); e: [O, Z] float look codes.

        Returns:
            float32 [O, Z]; rows of categories without a prior are e itself.
        """
        out = np.array(e, np.float32, copy=True)
        for j, obj_id in enumerate(np.asarray(ids).tolist()):
            p = self._by_id.get(int(obj_id))
            if p is not None:
                out[j] = (p.mean + p.A @ np.asarray(e[j], np.float64)).astype(np.float32)
        return out

    def to_look(self, obj_id: int, z: np.ndarray) -> np.ndarray:
        """A generator z (e.g. the crop encoder's mu of a photo) -> the look code: float32 [Z]."""
        p = self._by_id.get(int(obj_id))
        if p is None:
            return np.asarray(z, np.float32).copy()
        return (p.A_inv @ (np.asarray(z, np.float64) - p.mean)).astype(np.float32)

    def look_directions(self, obj_id: int, d: AppearanceDirections) -> AppearanceDirections:
        """The category's directions ``d`` (z space) in look-code space: mean ``to_look(mean)`` (0),
        each row ``u`` -> ``A^-1 u / |A^-1 u|`` with std ``s |A^-1 u|``, so that moving a slider by t
        std moves z by ``t s u`` as before. ``d`` itself when the category has no prior or ``d`` is
        the fallback."""
        p = self._by_id.get(int(obj_id))
        if p is None or d.fallback:
            return d
        rows = np.asarray(d.components, np.float64) @ p.A_inv  # A_inv is symmetric: rows of A^-1 u
        norm = np.maximum(np.linalg.norm(rows, axis=1), 1e-12)
        return replace(d, mean=self.to_look(obj_id, d.mean), components=(rows / norm[:, None]).astype(np.float32),
                       std=(np.asarray(d.std, np.float64) * norm).astype(np.float32))
