"""Core contracts on the device of ``--device`` (default cpu; ``benchmarks/gpu_check.sh`` runs them
with ``--device cuda``): renders equal the CPU's, the edit path equals the full forward, bf16 stays
close to fp32, a training step runs in both precisions, and the precision policy times real work."""

import numpy as np
import pytest
import torch

from layout2im_core import precision as policy
from layout2im_core.config import LossWeights, model_preset
from layout2im_core.inference import Layout2ImModel
from layout2im_core.training.step import Networks, Optimizers, autocast_context, train_step
from layout2im_core.types import LayoutSpec, ObjectSpec


def _layout(model, n=6, seed=0):
    rng = np.random.default_rng(seed)
    objs = []
    for i in range(n):
        x0, y0 = rng.uniform(0, 0.5, 2)
        objs.append(ObjectSpec(model.categories[(3 * i) % len(model.categories)], (x0, y0, x0 + 0.35, y0 + 0.4),
                               tuple(model.sample_z(1, seed * 10 + i)[0])))
    return LayoutSpec(tuple(objs))


@pytest.fixture(scope="module", params=["tiny", "tiny-masks", "tiny-isla"])
def models(request, device):
    """(model on --device, the same model on the CPU), fp32."""
    cpu = Layout2ImModel.random(request.param, seed=2, device="cpu", precision="fp32")
    on = Layout2ImModel.random(request.param, seed=2, device=str(device), precision="fp32")
    return on, cpu


def test_renders_equal_the_cpu_and_the_edit_path_equals_the_full_forward(models):
    on, cpu = models
    lay = _layout(on)
    full = on.render_float(lay, use_cache=False)
    np.testing.assert_allclose(full, cpu.render_float(lay, use_cache=False), atol=1e-5, rtol=0)
    on.clear_cache()
    on.render_float(lay)
    for i in (0, len(lay.objects) - 1):  # first object (all re-fused) and last (one step)
        objs = list(lay.objects)
        objs[i] = objs[i].with_z(tuple(on.sample_z(1, 100 + i)[0]))
        edited = LayoutSpec(tuple(objs))
        np.testing.assert_allclose(on.render_float(edited), on.render_float(edited, use_cache=False), atol=1e-5, rtol=0)
    batch = on.generate_batch([lay, _layout(on, 3, seed=1)])
    assert batch.shape == (2, 64, 64, 3)
    single = on.generate(lay, use_cache=False).astype(int)
    assert np.abs(batch[0].astype(int) - single).max() <= 1  # batch size may change sums in the last bit


def test_bf16_on_device_is_close_to_fp32(models):
    on, _ = models
    lay = _layout(on)
    fp32 = on.render_float(lay, use_cache=False)
    on.set_precision("bf16")
    try:
        bf16 = on.render_float(lay, use_cache=False)
    finally:
        on.set_precision("fp32")
    assert np.abs(bf16 - fp32).mean() < 0.02


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_train_step_runs_on_device(device, precision):
    torch.manual_seed(0)
    nets = Networks.build(model_preset("tiny", 12), device, channels_last=device.type == "cpu")
    opts = Optimizers.build(nets, 1e-4, (0.5, 0.999))
    g = torch.Generator().manual_seed(1)
    objs = torch.randint(1, 12, (3, 4), generator=g)
    xy = torch.rand(3, 4, 2, generator=g) * 0.5
    bboxes = torch.cat([xy, xy + 0.3], -1)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0, 3] = False
    imgs = torch.rand(3, 3, 64, 64, generator=g)
    before = [p.detach().clone() for p in nets.G.parameters()]
    terms = train_step(nets, opts, *(t.to(device) for t in (imgs, objs, bboxes, mask)), LossWeights(),
                       autocast_context(device, precision), step=1, channels_last=device.type == "cpu")
    assert all(np.isfinite(v) for v in terms.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, nets.G.parameters()))


def test_precision_policy_times_a_render_on_device(models, device):
    on, _ = models
    native, why = policy.native_bf16(device)
    choice = policy.choose_precision("auto", device, "render:probe-test",
                                     timings=lambda: policy.time_alternating(on._render_probe(), rounds=1),
                                     use_cache=False)
    assert choice.device == str(device) and choice.precision in ("fp32", "bf16") and why in choice.reason
    if native:
        assert choice.source == "measured" and choice.fp32_ms > 0 and choice.bf16_ms > 0
    else:
        assert choice.precision == "fp32"
