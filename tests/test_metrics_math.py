"""Pure metric math on numpy inputs with hand-checkable values; no optional package needed."""

import math

import numpy as np
import pytest
import torch

from layout2im_core.errors import Layout2ImError, ModelFileError
from layout2im_core.metrics import package_file
from layout2im_core.metrics.fid import (
    fid_from_features,
    frechet_distance,
    kid_from_features,
    polynomial_mmd2_unbiased,
    tf_bilinear_resize,
)


def test_frechet_distance_1d_by_hand():
    # (0 - 3)^2 + 4 + 1 - 2 * sqrt(4 * 1) = 9 + 5 - 4
    d = frechet_distance(np.array([0.0]), np.array([[4.0]]), np.array([3.0]), np.array([[1.0]]))
    assert d == pytest.approx(10.0)


def test_frechet_distance_diagonal_by_hand():
    # |(1, 1)|^2 + (1 + 4) + (4 + 9) - 2 * (sqrt(1 * 4) + sqrt(4 * 9)) = 2 + 18 - 16
    d = frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([4.0, 9.0]))
    assert d == pytest.approx(4.0)


def test_frechet_distance_non_commuting_by_hand():
    # S2 = 4 I: tr sqrt(S1 S2) = 2 tr sqrt(S1) = 2 (sqrt 3 + 1) (S1 has eigenvalues 3 and 1)
    s1 = np.array([[2.0, 1.0], [1.0, 2.0]])
    d = frechet_distance(np.zeros(2), s1, np.zeros(2), 4 * np.eye(2))
    assert d == pytest.approx(4 + 8 - 4 * (math.sqrt(3) + 1))


def test_frechet_distance_matches_eigenvalues_of_product():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    # S1 S2 is similar to a PSD matrix: real non-negative eigenvalues
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    expect = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expect, rel=1e-9)


def test_fid_identical_sets_is_zero_and_grows_with_noise():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(200, 16))
    assert abs(fid_from_features(feats, feats)) < 1e-8
    # rank-deficient covariances (n < D), as for n < 2048 Inception features
    few = rng.normal(size=(10, 64))
    assert abs(fid_from_features(few, few)) < 1e-8
    fids = [fid_from_features(feats, feats + s * rng.normal(size=feats.shape)) for s in (0.1, 0.5, 1.0, 2.0)]
    assert all(a < b for a, b in zip(fids, fids[1:])), fids


def test_fid_small_n_route_equals_covariance_route():
    rng = np.random.default_rng(4)
    f1, f2 = rng.normal(size=(7, 12)), rng.normal(size=(5, 12)) + 0.3  # N <= D: nuclear-norm route
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    expect = frechet_distance(f1.mean(0), s1, f2.mean(0), s2)
    assert fid_from_features(f1, f2) == pytest.approx(expect, rel=1e-6)


def test_statistics_shape_mismatch_raises():
    with pytest.raises(Layout2ImError, match="shapes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(Layout2ImError, match="N >= 2"):
        fid_from_features(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(Layout2ImError, match="equal D"):
        fid_from_features(np.zeros((3, 4)), np.zeros((3, 5)))


def test_polynomial_mmd_by_hand():
    # d = 1, k(a, b) = (a b + 1)^3. x = {0, 0}, y = {1, 1}:
    # within x: k = 1 (2 off-diagonal pairs / 2) = 1; within y: k = 8 -> 8; cross: 4 * 1 * 2 / 4 = 2
    assert polynomial_mmd2_unbiased(np.zeros((2, 1)), np.ones((2, 1))) == pytest.approx(7.0)
    # x = y = {1, -1}: k(1, -1) = 0 off the diagonal; cross 2 * (8 + 0 + 0 + 8) / 4 = 8 -> -8:
    # the unbiased estimator is negative for identical small sets
    xy = np.array([[1.0], [-1.0]])
    assert polynomial_mmd2_unbiased(xy, xy) == pytest.approx(-8.0)


def test_kid_unbiased_sign():
    rng = np.random.default_rng(2)
    same = [kid_from_features(rng.normal(size=(60, 8)), rng.normal(size=(60, 8)), num_subsets=20,
                              max_subset_size=30, seed=s).mean for s in range(20)]
    # same distribution: estimates scatter around 0, with both signs
    assert min(same) < 0 < max(same)
    assert abs(np.mean(same)) < 3 * np.std(same) / math.sqrt(len(same)) + 1e-3
    shifted = kid_from_features(rng.normal(size=(60, 8)), rng.normal(size=(60, 8)) + 1.0, num_subsets=20,
                                max_subset_size=30)
    assert shifted.mean > 10 * max(abs(v) for v in same)
    assert shifted.num_subsets == 20 and shifted.subset_size == 30


def test_kid_whole_sets_use_one_subset():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 4))
    k = kid_from_features(x, y, num_subsets=50)
    assert (k.num_subsets, k.subset_size, k.std) == (1, 10, 0.0)
    assert k.mean == pytest.approx(polynomial_mmd2_unbiased(x, y))
    with pytest.raises(Layout2ImError, match="at least 2"):
        kid_from_features(x[:1], y)


def test_tf_bilinear_resize_by_hand():
    # output pixel i samples input coordinate i * 2 / 4 = i / 2, clamped at the last pixel
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]])[None, None]
    row = torch.tensor([0.0, 0.5, 1.0, 1.0])
    expect = torch.stack([row, row + 1, row + 2, row + 2])
    assert torch.allclose(tf_bilinear_resize(x, 4)[0, 0], expect, atol=1e-5)


def test_missing_package_names_the_extra():
    with pytest.raises(ModelFileError, match=r"pip install layout2im-studio\[eval\]"):
        package_file("no_such_package_layout2im_test", "x.pt")
