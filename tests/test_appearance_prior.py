"""The appearance prior (layout2im_core/appearance_prior.py): look code e ~ N(0, I) -> z = mean + A e
with the covariance of the category's directions; the inference API applies it for ISLA models only."""

import dataclasses

import numpy as np
import pytest
import torch

from layout2im_core.appearance_prior import RESIDUAL_FLOOR, AppearancePrior, category_prior
from layout2im_core.checkpoint import Directions
from layout2im_core.inference import Layout2ImModel
from layout2im_core.types import LayoutSpec, ObjectSpec


def _orthonormal(rows, z, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((z, z)))
    return q.T[:rows]


def test_covariance_of_principal_rows_and_residual_is_rebuilt():
    z, d = 8, 3
    comps = _orthonormal(d + 1, z)
    c, rest_dir = comps[:d], comps[d]
    std = np.array([2.0, 1.0, 0.5])
    residual = 0.3  # the other 5 dims each
    total = float((std ** 2).sum()) + (z - d) * residual ** 2
    p = category_prior(np.arange(z, dtype=float), c, std, std ** 2 / total)
    cov = p.A @ p.A.T
    for row, s in zip(c, std):
        assert row @ cov @ row == pytest.approx(s ** 2, rel=1e-9)
    assert rest_dir @ cov @ rest_dir == pytest.approx(residual ** 2, rel=1e-9)
    assert np.allclose(p.A @ p.A_inv, np.eye(z), atol=1e-9)
    assert np.allclose(p.A, p.A.T)


def test_named_rows_keep_their_variance_and_samples_match_the_fit():
    z = 6
    basis = _orthonormal(4, z, seed=1)
    c, named = basis[:2], basis[2:3]
    std, named_std = np.array([1.5, 0.8]), np.array([1.2])
    residual = 0.4  # every dimension outside the principal rows, the named one's included
    total = float((std ** 2).sum()) + (z - 2) * residual ** 2
    mean = np.linspace(-1, 1, z)
    p = category_prior(mean, c, std, std ** 2 / total, named, named_std)
    assert named[0] @ (p.A @ p.A.T) @ named[0] == pytest.approx(1.44 + 0.16, rel=1e-9)
    assert basis[3] @ (p.A @ p.A.T) @ basis[3] == pytest.approx(0.16, rel=1e-9)
    # sampled: the look codes' images have the fitted mean and covariance
    prior = AppearancePrior(Directions(torch.tensor([5]), torch.tensor(mean[None]).float(),
                                       torch.tensor(c[None]).float(), torch.tensor(std[None]).float(),
                                       torch.tensor((std ** 2 / total)[None]).float(), names=("colour",),
                                       named_components=torch.tensor(named[None]).float(),
                                       named_std=torch.tensor(named_std[None]).float(),
                                       named_r2=torch.ones(1, 1), named_valid=torch.ones(1, 1, dtype=torch.bool)))
    e = np.random.default_rng(2).standard_normal((40000, z)).astype(np.float32)
    zs = prior.to_model(np.full(len(e), 5), e)
    assert np.allclose(zs.mean(0), mean, atol=0.03)
    assert named[0] @ np.cov(zs.T) @ named[0] == pytest.approx(1.60, rel=0.05)
    assert c[1] @ np.cov(zs.T) @ c[1] == pytest.approx(0.64, rel=0.05)
    # other categories: z = e
    assert np.array_equal(prior.to_model(np.array([7]), e[:1]), e[:1])


def test_degenerate_directions_give_no_prior_and_the_floor_keeps_it_invertible():
    z = 4
    assert category_prior(np.zeros(z), np.ones((2, z)), np.ones(2), np.full(2, 0.3)) is None  # not orthonormal
    assert category_prior(np.zeros(z), np.eye(z)[:2], np.ones(2), np.zeros(2)) is None  # no share
    p = category_prior(np.zeros(z), np.eye(z)[:2], np.array([1.0, 1.0]), np.array([0.5, 0.5]))  # explains all
    assert np.linalg.eigvalsh(p.A).min() == pytest.approx(RESIDUAL_FLOOR, rel=1e-6)


def _isla_model(preset, prior_dirs=True):
    base = Layout2ImModel.random(preset, seed=3)
    f = base._file
    z = base.z_dim
    ids = torch.tensor(f.vocabulary.category_ids[:3])
    comps = torch.tensor(np.stack([_orthonormal(2, z, seed=s) for s in range(3)])).float()
    d = Directions(ids, torch.randn(3, z, generator=torch.Generator().manual_seed(0)), comps,
                   torch.tensor([[2.0, 0.5]] * 3), torch.tensor([[0.5, 0.1]] * 3))
    return Layout2ImModel(dataclasses.replace(f, directions=d if prior_dirs else None), precision="fp32"), d


def _layout(model, n=3, seed=0):
    cats = model.categories[:3]
    zs = model.sample_z(n, seed)
    return LayoutSpec(tuple(ObjectSpec(cats[i % 3], (0.1 * i, 0.1, 0.1 * i + 0.5, 0.7), tuple(zs[i]))
                            for i in range(n)))


@torch.no_grad()
def test_isla_model_renders_look_codes_through_the_prior_and_inverts_it():
    model, d = _isla_model("tiny-isla")
    assert model.prior is not None and len(model.prior) == 3
    lay = _layout(model)
    ids = torch.tensor([model.vocabulary.id_of(o.category) for o in lay.objects])
    e = np.array([o.z for o in lay.objects], np.float32)
    z = model.prior.to_model(ids.numpy(), e)
    assert not np.allclose(z, e)
    want = model.G.generate(ids[None], torch.tensor([o.bbox for o in lay.objects])[None].float(),
                            torch.from_numpy(z)[None], torch.ones(1, len(ids), dtype=torch.bool))
    want = model.G.to_unit(want)[0].permute(1, 2, 0).numpy()
    assert np.abs(model.render_float(lay, use_cache=False) - want).max() < 1e-5
    assert np.abs(model.render_float(lay) - want).max() < 1e-5  # the edit path too
    # directions in look space: a slider move of t std moves z by t * s * u, as in z space
    cat = lay.objects[0].category
    look_dirs, raw = model.directions(cat), d.of_category(model.vocabulary.id_of(cat))
    assert np.abs(look_dirs.mean).max() < 1e-5
    for k in range(2):
        moved = model.prior.to_model(ids[:1].numpy(), e[:1] + 1.5 * look_dirs.std[k] * look_dirs.components[k])
        assert np.allclose(moved - z[:1], 1.5 * raw.std[k] * raw.components[k], atol=1e-4)
    # a photo's look code renders with the encoder's mu
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    look = model.encode_appearance(img, (0.1, 0.1, 0.6, 0.6), cat)
    plain, _ = _isla_model("tiny-isla", prior_dirs=False)
    mu = plain.encode_appearance(img, (0.1, 0.1, 0.6, 0.6), cat)
    assert np.allclose(model.prior.to_model(ids[:1].numpy(), look[None])[0], mu, atol=1e-4)


def test_paper_decoder_keeps_z_equal_to_the_look_code():
    base = Layout2ImModel.random("tiny", seed=3)
    z = base.z_dim
    ids = torch.tensor(base.vocabulary.category_ids[:1])
    d = Directions(ids, torch.ones(1, z), torch.eye(z)[None, :2], torch.tensor([[2.0, 0.5]]),
                   torch.tensor([[0.5, 0.1]]))
    model = Layout2ImModel(dataclasses.replace(base._file, directions=d), precision="fp32")
    assert model.prior is None
    lay = _layout(base, 1)
    assert np.array_equal(model.render_float(lay), base.render_float(lay))
