"""Each loss on a hand-computed case (spec §6)."""

import math

import pytest
import torch

from layout2im_core import losses


def test_kl_is_a_sum_over_objects_and_dims():
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # per element: -0.5 (1 + lv - mu^2 - e^lv): [0.5, -0.5(1+ln2-2)=0.5-0.5ln2... ] computed by hand:
    e = [0.5 * 1.0, -0.5 * (1 + math.log(2.0) - 2.0), 0.0, 0.5 * 4.0]
    assert losses.kl_loss(mu, logvar).item() == pytest.approx(sum(e), abs=1e-6)
    # doubling the objects doubles the loss (a sum, not a mean)
    assert losses.kl_loss(mu.repeat(2, 1), logvar.repeat(2, 1)).item() == pytest.approx(2 * sum(e), abs=1e-5)


def test_kl_zero_at_prior():
    assert losses.kl_loss(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


def test_l1_losses_are_means():
    a = torch.zeros(2, 3, 4, 4)
    b = torch.zeros(2, 3, 4, 4)
    b[0, 0, 0, 0] = 96.0
    assert losses.img_rec_loss(a, b).item() == pytest.approx(1.0)
    assert losses.z_rec_loss(torch.tensor([[1.0, -1.0]]), torch.tensor([[0.0, 0.0]])).item() == pytest.approx(1.0)


def test_adversarial_losses_hand_computed():
    ln2 = math.log(2.0)
    zero = torch.zeros(4)
    # logit 0 -> BCE = ln 2 against either target
    assert losses.d_adv_loss(zero, zero, zero).item() == pytest.approx(2 * ln2)
    assert losses.g_adv_loss(zero, zero).item() == pytest.approx(ln2)
    big = torch.full((4,), 20.0)
    # confident real on real and confident fake on fakes: near zero for D; G's loss is large
    assert losses.d_adv_loss(big, -big, -big).item() < 1e-6
    assert losses.g_adv_loss(-big, -big).item() == pytest.approx(20.0, abs=1e-6)
    # the non-saturating G loss falls as D's logit on fakes rises
    assert losses.g_adv_loss(big, big).item() < losses.g_adv_loss(zero, zero).item()


def test_cls_loss_hand_computed():
    logits = torch.tensor([[0.0, 0.0, 0.0], [0.0, math.log(2.0), 0.0]])
    objs = torch.tensor([2, 1])
    expected = (math.log(3.0) + (math.log(4.0) - math.log(2.0))) / 2
    assert losses.cls_loss(logits, objs).item() == pytest.approx(expected, abs=1e-6)


def _box(h0, h1, w0, w1, size=16):
    m = torch.zeros(1, 1, size, size)
    m[..., h0:h1, w0:w1] = 1
    return m


def test_locality_loss_inside_outside_and_dilation():
    a = torch.zeros(1, 3, 16, 16)
    box = _box(6, 10, 6, 10)
    inside = a.clone()
    inside[..., 6:10, 6:10] = 1.0
    assert losses.locality_loss(a, inside, box).item() == 0.0
    # A change 2 px from the box is inside the dilated box; 3 px away is outside.
    ring2, ring3 = a.clone(), a.clone()
    ring2[..., 4, 6] = 1.0
    ring3[..., 3, 6] = 1.0
    assert losses.locality_loss(a, ring2, box).item() == 0.0
    assert losses.locality_loss(a, ring3, box, eps_per_value=0).item() == pytest.approx(1.0)
    assert losses.locality_loss(a, ring3, box, dilate_px=0, eps_per_value=0).item() == pytest.approx(1.0)
    # Equal change inside and outside -> one half; the sign of the change does not matter.
    half = a.clone()
    half[..., 7, 7] = -0.5
    half[..., 0, 0] = 0.5
    assert losses.locality_loss(a, half, box, eps_per_value=0).item() == pytest.approx(0.5)
    # No change at all: finite, zero.
    assert losses.locality_loss(a, a, box).item() == 0.0


def test_locality_loss_is_a_mean_over_images():
    a = torch.zeros(2, 3, 16, 16)
    b = a.clone()
    b[0, :, 0, 0] = 1.0  # image 0 changes only outside
    b[1, :, 8, 8] = 1.0  # image 1 changes only inside
    box = torch.cat([_box(6, 10, 6, 10), _box(6, 10, 6, 10)])
    assert losses.locality_loss(a, b, box, eps_per_value=0).item() == pytest.approx(0.5)


def test_locality_loss_does_not_reward_shrinking_the_change():
    """Scaling the whole change down leaves the share (nearly) as is: ignoring z is no way out."""
    a = torch.zeros(1, 3, 16, 16)
    box = _box(6, 10, 6, 10)
    b = a.clone()
    b[..., 7, 7] = 0.3
    b[..., 0, 0] = 0.1
    full = losses.locality_loss(a, b, box).item()
    tiny = losses.locality_loss(a, a + (b - a) * 0.1, box).item()
    assert full == pytest.approx(0.25, abs=1e-3) and tiny == pytest.approx(full, rel=0.02)
    # The gradient has (almost) no component along the scale of the change.
    d = ((b - a) * 0.5).requires_grad_()
    losses.locality_loss(a, a + d, box).backward()
    assert abs(float((d.grad * d).sum())) < 1e-2 * full
