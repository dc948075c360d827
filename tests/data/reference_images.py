"""Fixed 64x64 RGB test images for the metric reference values, from integer arithmetic only (so
every numpy version and platform builds the same bytes). Used by ``make_lpips_reference.py`` (which
made ``metrics_reference.json``) and by ``tests/test_metrics_lpips.py`` / ``test_metrics_fid.py``."""

import numpy as np

# LPIPS pairs (index into reference_images()): noise, 1-px shift, unrelated, 2-px shift, noise vs noise.
LPIPS_PAIRS = ((0, 1), (2, 3), (0, 2), (4, 5), (1, 4))


def _hash_noise(shape, salt: int) -> np.ndarray:
    """Deterministic pseudo-random uint8 values (a multiplicative integer hash of the index)."""
    idx = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
    h = (idx + np.uint64(salt)) * np.uint64(2654435761) % np.uint64(2 ** 32)
    h ^= h >> np.uint64(13)
    h = h * np.uint64(2246822519) % np.uint64(2 ** 32)
    return (h >> np.uint64(11) & np.uint64(255)).astype(np.uint8)


def reference_images() -> np.ndarray:
    """uint8 [6, 64, 64, 3]: 0 gradient, 1 gradient + noise, 2 disc on checkerboard, 3 = 2 shifted
    1 px right, 4 noise, 5 = 4 shifted 2 px down."""
    y, x = np.mgrid[0:64, 0:64].astype(np.int64)
    grad = np.stack([4 * x, 4 * y, 2 * (x + y)], -1)  # [64, 64, 3], values <= 252
    noisy = np.clip(grad + _hash_noise((64, 64, 3), 1).astype(np.int64) // 8 - 16, 0, 255)
    board = ((x // 8 + y // 8) % 2) * 200 + 20
    disc = (x - 32) ** 2 + (y - 28) ** 2 < 400
    shapes = np.stack([np.where(disc, 230, board), np.where(disc, 60, board), np.where(disc, 30, 255 - board)], -1)
    noise = _hash_noise((64, 64, 3), 7).astype(np.int64)
    imgs = [grad, noisy, shapes, np.roll(shapes, 1, axis=1), noise, np.roll(noise, 2, axis=0)]
    return np.stack(imgs).astype(np.uint8)
