"""ST-LPIPS-alex: our network with the weights of stlpips-pytorch reproduces the package's values.

Reference values: tests/data/metrics_reference.json, made by tests/data/make_lpips_reference.py with
``stlpips.LPIPS(net="alex", variant="shift_tolerant")`` of stlpips-pytorch 0.0.2 (torch 2.14.1 and
torchvision 0.29.1, in a separate venv where the package imports) on the pairs
``reference_images.LPIPS_PAIRS``.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from layout2im_core.errors import Layout2ImError

pytestmark = pytest.mark.skipif(importlib.util.find_spec("stlpips_pytorch") is None,
                                reason="stlpips-pytorch not installed (pip install layout2im-studio[eval])")

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from reference_images import LPIPS_PAIRS, reference_images  # noqa: E402


def test_reproduces_package_values():
    from layout2im_core.metrics.lpips import lpips_distances

    ref = json.loads((DATA / "metrics_reference.json").read_text())["lpips"]
    assert [tuple(r["pair"]) for r in ref] == list(LPIPS_PAIRS)
    imgs = reference_images()
    i, j = zip(*LPIPS_PAIRS)
    d = lpips_distances(imgs[list(i)], imgs[list(j)])
    np.testing.assert_allclose(d, [r["value"] for r in ref], atol=1e-4)
    # shift tolerance: a 1-px shift is far closer than an unrelated image
    assert d[1] < 0.05 < 0.5 < d[2]


def test_identity_symmetry_and_batching():
    from layout2im_core.metrics.lpips import lpips_distances

    imgs = reference_images()
    assert np.allclose(lpips_distances(imgs[:2], imgs[:2]), 0.0)
    a, b = imgs[[0, 2]], imgs[[1, 3]]
    both = lpips_distances(a, b, batch_size=2)
    np.testing.assert_allclose(both, lpips_distances(b, a, batch_size=1), atol=1e-6)


def test_weights_fit_strictly_and_filters_are_binomial():
    from layout2im_core.metrics.lpips import load_st_lpips_alex

    net = load_st_lpips_alex("cpu")  # strict=True load
    f = torch.tensor([1.0, 2.0, 1.0])
    expect = (f[:, None] * f[None, :] / 16)
    for blur in (net.net.slice1[1], net.net.slice2[1], net.net.slice3[1]):
        assert torch.allclose(blur.filt[0, 0], expect)
    assert not net.training


def test_bad_input_raises():
    from layout2im_core.metrics.lpips import lpips_distances

    imgs = reference_images()
    with pytest.raises(Layout2ImError, match="equal shapes"):
        lpips_distances(imgs[:2], imgs[:3])
    with pytest.raises(Layout2ImError, match="uint8"):
        lpips_distances(imgs.astype(np.float32), imgs.astype(np.float32))
