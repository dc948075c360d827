"""Appearance ("look") math of one object, Qt-free: the slider <-> z mapping.

Every object carries its code ``z`` and a **base** code ``base_z`` (None: the base is ``z`` itself).
These are look codes: a model with an appearance prior maps each to the generator's z when it
renders, and gives its directions in look-code space (``layout2im_core/appearance_prior.py``), so
nothing here depends on which model it is.
A category's appearance basis (from the model file; the unit axes of z when it has none) gives a mean
``m`` [Z], orthonormal directions ``C`` [K, Z] and the standard deviation ``std`` [K] of the
category's crop codes along each direction.

Slider k shows the offset of ``z`` from its base along direction k, in standard deviations::

    s_k = ((z - base) . C_k) / std_k                  (shown clamped to [-3, +3])

for orthonormal directions. Named directions ("colour", "shade", ...) come first and need not be
orthogonal to each other, so in general the positions are the coefficients of ``z - base`` in the
basis C: ``s = pinv(C^T) (z - base) / std`` (the same as above when C is orthonormal); moving one
slider still changes only its own reading.

Moving the sliders from ``s`` to ``s'`` changes only those components::

    z' = z + sum_k (s'_k - s_k) * std_k * C_k

so after any number of slider moves ``z = base + sum_k s_k * std_k * C_k`` (the category's
"mean + sum s_k std_k C_k" with the object's own base in place of the mean), the other sliders and
everything outside the span of C stay where they were, and the positions read back from ``z`` are
exactly those set (to float32 rounding, far below one slider step of 0.01 standard deviation).
Every absolute change of the look (new seed, re-roll, paste, photo, variation, import) sets
``base = z``, i.e. all sliders at 0; **Reset** sets ``z = base``; **Typical** sets ``z = base = m``.
Both codes are stored in the project file (``z`` per object, ``base_z`` in ``meta["looks"]``), so the
positions survive save -> load.

New looks are drawn here, on the GUI thread: a look of seed s is ``z = sample_z(1, Z, s)[0]``
(``layout2im_core.model_api.sample_z``, numpy: the formula ``Layout2ImModel.sample_z`` uses, so a
seed saved in a project gives the same z in the app, the CLI and the model).
"""

from __future__ import annotations

import random
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from layout2im_core.model_api import AppearanceDirections, sample_z

SLIDER_RANGE = 3.0     # sliders span -3 .. +3 standard deviations
STEPS_PER_SD = 100     # QSlider integer steps per standard deviation (0.01 sd resolution)
DEFAULT_K = 6          # principal sliders shown
MAX_NAMED = 6          # named sliders shown at most (custom data may name many attributes)
SEED_MAX = 2 ** 31 - 1  # seeds of new looks are drawn from [0, SEED_MAX) (a spin box shows them)
Look = Tuple[Tuple[float, ...], int]  # (z, the seed it was drawn with)
Vector = Union[Sequence[float], np.ndarray]  # a code or slider positions, as tuples or arrays


class LookBasis(AppearanceDirections):
    """A category's appearance directions made ready for the sliders (the fields of
    :class:`~layout2im_core.model_api.AppearanceDirections`): float64 for the arithmetic, at most
    ``MAX_NAMED`` named rows (first), std at least 1e-6, ``names`` and ``r2`` given for every row."""

    @staticmethod
    def from_directions(d: AppearanceDirections) -> "LookBasis":
        """From the model's AppearanceDirections (at most ``MAX_NAMED`` named rows kept)."""
        comps = np.asarray(d.components, np.float64)
        names = tuple(d.names or ("",) * comps.shape[0])
        r2 = np.full(comps.shape[0], np.nan) if d.r2 is None else np.asarray(d.r2, np.float64)
        keep = [i for i, n in enumerate(names) if n][:MAX_NAMED] + [i for i, n in enumerate(names) if not n]
        std = np.maximum(np.asarray(d.std, np.float64), 1e-6)
        return LookBasis(np.asarray(d.mean, np.float64), comps[keep], std[keep],
                         np.asarray(d.explained, np.float64)[keep], bool(d.fallback),
                         tuple(names[i] for i in keep), r2[keep])

    def name(self, k: int) -> str:
        """The factor name of row k ("" for a principal row)."""
        return self.names[k] if k < len(self.names) else ""

    @property
    def readout(self) -> np.ndarray:
        """[K, Z]: ``readout @ dz`` are the coefficients of dz in the rows of ``components``
        (``components`` itself when they are orthonormal)."""
        c = self.components
        if c.shape[0] == 0 or np.allclose(c @ c.T, np.eye(c.shape[0]), atol=1e-6):
            return c
        return np.linalg.pinv(c.T)

    @classmethod
    def unit_axes(cls, z_dim: int, k: Optional[int] = DEFAULT_K) -> "LookBasis":
        """The fallback: the first ``k`` unit axes of z (all when None), std 1."""
        return LookBasis.from_directions(AppearanceDirections.unit_axes(z_dim, k))

    @property
    def k(self) -> int:
        return int(self.components.shape[0])

    @property
    def z_dim(self) -> int:
        return int(self.components.shape[1])


def effective_base(z: Vector, base_z: Optional[Vector]) -> np.ndarray:
    """The base code of an object: ``base_z``, or ``z`` when it has none (or one of another size)."""
    if base_z is None or len(base_z) != len(z):
        return np.asarray(z, np.float64)
    return np.asarray(base_z, np.float64)


def slider_values(z: Vector, base_z: Optional[Vector], basis: LookBasis) -> np.ndarray:
    """Slider positions s [K] (standard deviations, not clamped) of ``z`` relative to its base."""
    zz = np.asarray(z, np.float64)
    return (basis.readout @ (zz - effective_base(zz, base_z))) / basis.std


def move_sliders(z: Vector, old: Vector, new: Vector, basis: LookBasis) -> np.ndarray:
    """z' (float64 [Z]) after moving the sliders from ``old`` to ``new`` (each [K])."""
    delta = (np.asarray(new, np.float64) - np.asarray(old, np.float64)) * basis.std
    return np.asarray(z, np.float64) + delta @ basis.components


def to_steps(value: float) -> int:
    """A slider value (sd) -> the QSlider's integer position, clamped to the range."""
    v = max(-SLIDER_RANGE, min(SLIDER_RANGE, float(value)))
    return int(round(v * STEPS_PER_SD))


def from_steps(steps: int) -> float:
    """A QSlider position -> its value in standard deviations."""
    return steps / STEPS_PER_SD


def seeded_look(z_dim: int, seed: int) -> Look:
    """The look of ``seed``: (``sample_z(1, z_dim, seed)[0]`` as Python floats, seed)."""
    return tuple(float(v) for v in sample_z(1, z_dim, seed)[0]), int(seed)


def random_looks(z_dim: int, n: int) -> List[Look]:
    """``n`` new looks, each of a fresh random seed in [0, ``SEED_MAX``)."""
    return [seeded_look(z_dim, random.randrange(SEED_MAX)) for _ in range(n)]
