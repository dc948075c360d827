"""The D warm-up of the training recipe (``TrainConfig.d_warmup``, ours): for its first steps only the
discriminators train, so a run started from a model file (fresh D) does not move G on a fresh D's
first, uninformed gradients; afterwards both train."""

import pytest
import torch

from layout2im_core.config import LossWeights, model_preset
from layout2im_core.training.config import TrainConfig, apply_overrides
from layout2im_core.training.step import G_TERMS, Networks, Optimizers, Recipe, train_step

pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(b=2, o=3, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(b, o, 2, generator=g) * 0.5
    return (torch.rand(b, 3, 64, 64, generator=g), torch.randint(1, k, (b, o), generator=g),
            torch.cat([xy, xy + 0.3], -1), torch.ones(b, o, dtype=torch.bool))


def _params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v.detach())}


def test_g_is_frozen_during_the_d_warmup_and_trains_after_it():
    torch.manual_seed(0)
    nets = Networks.build(model_preset("tiny", 5), torch.device("cpu"))
    nets.train()
    opts = Optimizers.build(nets, 1e-3, (0.5, 0.999))
    recipe = Recipe(d_warmup=2)
    batch = _batch()
    g0, d0, o0 = _params(nets.G), _params(nets.D_img), _params(nets.D_obj)
    for step in (1, 2):
        out = train_step(nets, opts, *batch, LossWeights(), step=step, recipe=recipe)
        assert all(out[k] == 0.0 for k in G_TERMS + ("G/total",))
        assert out["D/total"] > 0
    assert not _changed(g0, nets.G)            # no G parameter moved
    assert not opts.G.state                    # and G's Adam state is untouched
    assert _changed(d0, nets.D_img) and _changed(o0, nets.D_obj)
    out = train_step(nets, opts, *batch, LossWeights(), step=3, recipe=recipe)
    assert out["G/total"] != 0.0
    assert _changed(g0, nets.G)


def test_d_warmup_is_a_config_field_that_reaches_the_recipe_and_is_validated():
    cfg = apply_overrides(TrainConfig(), ["d_warmup=500"])
    assert cfg.d_warmup == 500 and cfg.recipe().d_warmup == 500
    assert TrainConfig().recipe().d_warmup == 0  # the reference: no warm-up
    with pytest.raises(ValueError, match="d_warmup"):
        Recipe(d_warmup=-1)


@pytest.mark.parametrize("sees_rec", [True, False])
def test_d_img_sees_rec_switches_which_fakes_the_image_discriminator_judges(sees_rec):
    torch.manual_seed(0)
    nets = Networks.build(model_preset("tiny", 5), torch.device("cpu"))
    nets.train()
    opts = Optimizers.build(nets, 1e-4, (0.0, 0.99))
    seen = []
    nets.D_img.register_forward_hook(lambda m, args, out: seen.append(args[0].detach().clone()))
    imgs, objs, bboxes, mask = _batch(b=2)
    out = train_step(nets, opts, imgs, objs, bboxes, mask, LossWeights(), step=1,
                     recipe=Recipe(adv_loss="hinge", d_img_sees_rec=sees_rec))
    d_batch, g_batch = seen
    # D step: the real images first, then (rec, rand) or rand only; G step: the same fakes
    assert d_batch.shape[0] == (3 if sees_rec else 2) * 2 and g_batch.shape[0] == (2 if sees_rec else 1) * 2
    assert torch.allclose(d_batch[:2], nets.G.to_model_space(imgs))
    assert torch.allclose(d_batch[2:], g_batch, atol=1e-6)  # the G step judges the fakes the D step saw
    assert out["D/img_adv"] >= 0 and out["G/img_adv"] != 0.0


def test_d_img_sees_rec_is_a_config_switch_with_the_reference_as_default():
    assert TrainConfig().recipe().d_img_sees_rec is True
    assert apply_overrides(TrainConfig(), ["d_img_sees_rec=false"]).recipe().d_img_sees_rec is False
