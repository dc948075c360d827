"""Validation of what callers hand the inference API (layouts, z codes, seeds, batches, photos),
torch-free: everything is checked and turned into plain arrays before a tensor is made, and anything
unusable raises the documented error with the offending value clipped (docs/bad-input.md).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .boxes import BBox, check_bbox
from .errors import LayoutError, clip, value_text
from .model_api import MAX_SEED, check_seed, sample_z
from .types import LayoutSpec, ObjectSpec
from .vocab import Vocabulary

MAX_ABS_Z = 1000.0  # |z| beyond this is refused: z ~ N(0, I), and the networks overflow long before float32
MAX_BATCH = 1024  # layouts per generate_batch call
MAX_PHOTO_PIXELS = 100_000_000  # encode_appearance


def z_values(z, index: int, category: str, z_dim: int) -> np.ndarray:
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


def layout_arrays(layout: LayoutSpec, vocabulary: Vocabulary, max_objects: int, z_dim: int,
                  seed: Optional[int]) -> Tuple[List[int], List[BBox], np.ndarray]:
    """Validate a layout -> (category ids [O], bboxes [O] clamped into [0, 1], z float32 [O, Z]);
    objects without z get ``sample_z(len(missing), z_dim, seed)`` in order.

    Raises:
        LayoutError: not a LayoutSpec of ObjectSpecs, empty, more than ``max_objects`` objects, a
            category that is not a string, bad bbox (see ``boxes.check_bbox``; a string such as "0011"
            is not a bbox), z not Z finite numbers within ``MAX_ABS_Z``, a bad seed. Messages quote
            values clipped to a few dozen characters.
        UnknownCategoryError: categories not in the vocabulary (all named, clipped).
    """
    if not isinstance(layout, LayoutSpec):
        raise LayoutError(f"expected a LayoutSpec, got {type(layout).__name__}")
    objects = layout.objects
    if not isinstance(objects, (tuple, list)):
        raise LayoutError(f"LayoutSpec.objects must be a tuple of ObjectSpec, got {type(objects).__name__}")
    if len(objects) == 0:
        raise LayoutError("the layout is empty: add at least one object")
    if len(objects) > max_objects:
        raise LayoutError(f"the layout has {len(objects)} objects; this model allows at most {max_objects}")
    for i, o in enumerate(objects):
        if not isinstance(o, ObjectSpec):
            raise LayoutError(f"object {i} must be an ObjectSpec, got {type(o).__name__}")
        if not isinstance(o.category, str):
            raise LayoutError(f"object {i}: category must be a name (a string), got {value_text(o.category, 40)}")
    seed = check_seed(seed)
    ids = vocabulary.ids_of([o.category for o in objects])
    bboxes = [check_bbox(o.bbox, i, clamp=True) for i, o in enumerate(objects)]
    missing = [i for i, o in enumerate(objects) if o.z is None]
    zs = np.empty((len(objects), z_dim), np.float32)  # [O, Z]
    if missing:
        zs[missing] = sample_z(len(missing), z_dim, seed)
    for i, o in enumerate(objects):
        if o.z is not None:
            zs[i] = z_values(o.z, i, o.category, z_dim)
    return ids, bboxes, zs


def batch_seeds(layouts: Sequence[LayoutSpec], seed: Optional[int]) -> List[Optional[int]]:
    """The seed of each layout of a batch: ``seed + index`` (None: fresh codes for each).

    Raises:
        LayoutError: not a list of layouts, none, more than ``MAX_BATCH``, or a bad seed (also one so
            large that ``seed + index`` passes 2**63-1)."""
    if isinstance(layouts, (str, bytes, LayoutSpec)) or not hasattr(layouts, "__len__"):
        raise LayoutError(f"generate_batch needs a list of layouts, got {type(layouts).__name__}")
    if not layouts:
        raise LayoutError("generate_batch needs at least one layout")
    if len(layouts) > MAX_BATCH:
        raise LayoutError(f"generate_batch takes at most {MAX_BATCH} layouts per call, got {len(layouts)}")
    seed = check_seed(seed)
    if seed is not None and seed + len(layouts) > MAX_SEED:
        raise LayoutError(f"seed {seed} + {len(layouts)} layouts exceeds 2**63-1")
    return [None if seed is None else seed + i for i in range(len(layouts))]


def photo_array(image) -> np.ndarray:
    """A photo handed to ``encode_appearance`` -> uint8 [H, W, 3] (grey repeated, alpha dropped,
    other numbers clipped into [0, 255]).

    Raises:
        LayoutError: not a numeric image array [H, W], [H, W, 3] or [H, W, 4], NaN or infinite values,
            more than ``MAX_PHOTO_PIXELS`` pixels.
    """
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
    return arr
