"""One training iteration (spec §6): a discriminator step, then a generator step.

Differences from the reference (docs/training.md):
- One generator forward per iteration, shared by both steps: the D step sees its outputs detached,
  the G step back-propagates through the same graph (the reference runs a second forward with new
  reparameterisation noise). D is updated in between, so the G step sees the updated D, as in the
  reference.
- Each discriminator runs once per step on the concatenation real | rec | rand (one spectral-norm
  power iteration per step instead of three). In the G step the discriminators' weights are frozen,
  so no D weight gradients are computed (the reference computes and discards them).
- With ``loss_weights.locality > 0`` (ours; 0 in the paper presets) the G step also renders each
  image twice more, in eval mode as at inference, with one random object's z re-drawn, and adds
  ``locality * losses.locality_loss`` (see ``_locality_term``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Dict, List

import torch
from torch import nn

from .. import losses
from ..config import LossWeights, ModelConfig
from ..errors import Layout2ImError
from ..geometry import bbox_to_mask
from ..models.discriminators import ImageDiscriminator, ObjectDiscriminator
from ..models.generator import Generator
from ..models.layers import eval_mode

D_TERMS = ("D/img_adv", "D/obj_adv", "D/obj_cls")
G_TERMS = ("G/img_rec", "G/z_rec", "G/kl", "G/img_adv", "G/obj_adv", "G/obj_cls", "G/locality")
LOSS_TERMS = D_TERMS + ("D/total",) + G_TERMS + ("G/total",)


class NonFiniteLossError(Layout2ImError):
    """A loss term became NaN or infinite. ``term`` names it (e.g. ``G/kl``), ``step`` is the
    1-based iteration. The trainer stops without writing a checkpoint, so the last one stays the last
    good state."""

    def __init__(self, term: str, step: int, value: float):
        super().__init__(f"loss term {term} is {value} at step {step}; training stopped, the last good "
                         f"checkpoint is kept")
        self.term, self.step, self.value = term, step, value


@dataclass
class Networks:
    """G, D_img, D_obj as used in the step (maybe DistributedDataParallel-wrapped)."""

    G: nn.Module
    D_img: nn.Module
    D_obj: nn.Module

    @staticmethod
    def build(cfg: ModelConfig, device: torch.device, channels_last: bool = False) -> "Networks":
        """Fresh networks (seed the global RNG first for reproducible weights)."""
        nets = Networks(Generator(cfg), ImageDiscriminator(cfg), ObjectDiscriminator(cfg))
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        for net in nets.all():
            net.to(device=device, memory_format=fmt)
        return nets

    def all(self) -> List[nn.Module]:
        return [self.G, self.D_img, self.D_obj]

    def unwrapped(self) -> "Networks":
        """The plain modules (DistributedDataParallel's ``.module``)."""
        return Networks(*(getattr(n, "module", n) for n in self.all()))

    def train(self) -> None:
        for n in self.all():
            n.train()


@dataclass
class Optimizers:
    """One Adam per network (spec §2)."""

    G: torch.optim.Optimizer
    D_img: torch.optim.Optimizer
    D_obj: torch.optim.Optimizer

    @staticmethod
    def build(nets: Networks, lr: float, betas) -> "Optimizers":
        return Optimizers(*(torch.optim.Adam(n.parameters(), lr=lr, betas=tuple(betas)) for n in nets.all()))

    def state_dict(self) -> Dict[str, dict]:
        return {"G": self.G.state_dict(), "D_img": self.D_img.state_dict(), "D_obj": self.D_obj.state_dict()}

    def load_state_dict(self, d: Dict[str, dict]) -> None:
        self.G.load_state_dict(d["G"])
        self.D_img.load_state_dict(d["D_img"])
        self.D_obj.load_state_dict(d["D_obj"])


def autocast_context(device: torch.device, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of autocast contexts: bf16 autocast on the device's type, or a no-op for fp32."""
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _check_finite(terms: Dict[str, torch.Tensor], step: int, reduce_flags) -> None:
    """Raise NonFiniteLossError naming the first non-finite term (on any rank: ``reduce_flags`` sums
    the per-term flags over ranks, so all ranks stop together)."""
    values = torch.stack([t.detach().float() for t in terms.values()])
    bad = reduce_flags((~torch.isfinite(values)).float())
    if bool((bad > 0).any()):
        i = int((bad > 0).nonzero()[0])
        raise NonFiniteLossError(list(terms)[i], step, float(values[i]))


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def _locality_term(g: Generator, objs: torch.Tensor, bboxes: torch.Tensor, obj_mask: torch.Tensor,
                   z_rand: torch.Tensor, autocast) -> torch.Tensor:
    """Locality loss of one G step (ours, docs/training.md "Locality loss").

    In every image one valid object is picked at random and its z re-drawn from the prior; both
    versions are rendered in one batch of 2B in eval mode (running batch-norm statistics, as the app
    renders, so the two renders differ only through that z) and ``losses.locality_loss`` measures the
    share of the change outside the object's box dilated by 2 px.

    Args:
        g: the unwrapped generator; objs [B, O]; bboxes [B, O, 4]; obj_mask [B, O] bool;
        z_rand: [N, Z] packed prior samples of this step.

    Returns:
        Scalar tensor with gradients to G's weights.
    """
    b = objs.shape[0]
    z = g._pad(z_rand, obj_mask)  # [B, O, Z]
    # One valid object per image, uniformly: argmax of random scores over the valid slots.
    scores = torch.rand(obj_mask.shape, device=objs.device).masked_fill(~obj_mask, -1.0)
    pick = scores.argmax(1)  # [B]
    rows = torch.arange(b, device=objs.device)
    z2 = z.clone()
    z2[rows, pick] = torch.randn(b, z.shape[-1], device=z.device, dtype=z.dtype)
    with eval_mode(g), autocast():
        imgs = g.generate(objs.repeat(2, 1), bboxes.repeat(2, 1, 1), torch.cat([z, z2]), obj_mask.repeat(2, 1))
    box = bbox_to_mask(bboxes[rows, pick], size=imgs.shape[-1])  # [B, 1, H, W]
    return losses.locality_loss(imgs[:b], imgs[b:], box)


def train_step(nets: Networks, opts: Optimizers, imgs01: torch.Tensor, objs: torch.Tensor, bboxes: torch.Tensor,
               obj_mask: torch.Tensor, weights: LossWeights, autocast=contextlib.nullcontext,
               step: int = 0, channels_last: bool = False, reduce_flags=lambda t: t) -> Dict[str, float]:
    """Run one D step and one G step on a batch; returns every loss term as a float (``LOSS_TERMS``).

    Args:
        nets / opts: networks (train mode) and their optimisers.
        imgs01: [B, 3, 64, 64] float32 real images in [0, 1].
        objs: [B, O] int64; bboxes: [B, O, 4] float32; obj_mask: [B, O] bool (at least one True).
        weights: the λ of spec §6.
        autocast: factory of the precision context (``autocast_context``).
        step: 1-based iteration, used in error messages.
        channels_last: feed images in channels-last memory format.
        reduce_flags: sums a tensor over ranks (identity for a single process).

    Raises:
        NonFiniteLossError: a term is NaN/inf (checked before the corresponding optimiser step).
    """
    g = nets.unwrapped().G
    D_img_raw, D_obj_raw = nets.unwrapped().D_img, nets.unwrapped().D_obj
    imgs = g.to_model_space(imgs01)  # [B, 3, 64, 64]
    if channels_last:
        imgs = imgs.contiguous(memory_format=torch.channels_last)
    objs_p = objs[obj_mask]  # [N]
    z_rand = torch.randn(objs_p.shape[0], g.cfg.z_dim, device=imgs.device)  # [N, Z]
    b, n = imgs.shape[0], objs_p.shape[0]

    with autocast():
        out = nets.G(imgs, objs, bboxes, obj_mask, z_rand)

    # --- discriminator step (spec §6), on detached generator outputs ------------------------------
    for o in (opts.D_img, opts.D_obj):
        o.zero_grad(set_to_none=True)
    with autocast():
        d_img = nets.D_img(torch.cat([imgs, out.img_rec.detach().to(imgs.dtype),
                                      out.img_rand.detach().to(imgs.dtype)]))  # [3B]
        d_obj = nets.D_obj(torch.cat([out.crops_real, out.crops_rec.detach().to(out.crops_real.dtype),
                                      out.crops_rand.detach().to(out.crops_real.dtype)]))  # src [3N]
    d_terms = {
        "D/img_adv": losses.d_adv_loss(d_img[:b], d_img[b:2 * b], d_img[2 * b:]),
        "D/obj_adv": losses.d_adv_loss(d_obj.src[:n], d_obj.src[n:2 * n], d_obj.src[2 * n:]),
        "D/obj_cls": losses.cls_loss(d_obj.cls[:n], objs_p),
    }
    _check_finite(d_terms, step, reduce_flags)
    # The reference weights the D terms with the same λ as the G terms (all 1 by default, spec §6).
    d_total = (weights.img_adv * d_terms["D/img_adv"] + weights.obj_adv * d_terms["D/obj_adv"]
               + weights.obj_cls * d_terms["D/obj_cls"])
    d_total.backward()
    opts.D_img.step()
    opts.D_obj.step()

    # --- generator step, through the same forward ------------------------------------------------
    opts.G.zero_grad(set_to_none=True)
    _set_requires_grad(D_img_raw, False)
    _set_requires_grad(D_obj_raw, False)
    try:
        with autocast():
            g_img = D_img_raw(torch.cat([out.img_rec, out.img_rand]))  # [2B]
            g_obj = D_obj_raw(torch.cat([out.crops_rec, out.crops_rand]))  # src [2N], cls [2N, K]
        g_terms = {
            "G/img_rec": losses.img_rec_loss(out.img_rec, imgs),
            "G/z_rec": losses.z_rec_loss(out.z_rand_rec, out.z_rand),
            "G/kl": losses.kl_loss(out.mu, out.logvar),
            "G/img_adv": losses.g_adv_loss(g_img[:b], g_img[b:]),
            "G/obj_adv": losses.g_adv_loss(g_obj.src[:n], g_obj.src[n:]),
            "G/obj_cls": 0.5 * losses.cls_loss(g_obj.cls[:n], objs_p) + 0.5 * losses.cls_loss(g_obj.cls[n:], objs_p),
            "G/locality": (_locality_term(g, objs, bboxes, obj_mask, z_rand, autocast) if weights.locality > 0
                           else torch.zeros((), device=imgs.device)),
        }
        _check_finite(g_terms, step, reduce_flags)
        w = {"G/img_rec": weights.img_rec, "G/z_rec": weights.z_rec, "G/kl": weights.kl,
             "G/img_adv": weights.img_adv, "G/obj_adv": weights.obj_adv, "G/obj_cls": weights.obj_cls,
             "G/locality": weights.locality}
        g_total = sum(w[k] * v for k, v in g_terms.items())
        g_total.backward()
    finally:
        _set_requires_grad(D_img_raw, True)
        _set_requires_grad(D_obj_raw, True)
    opts.G.step()

    values = torch.stack([t.detach().float() for t in (*d_terms.values(), d_total, *g_terms.values(), g_total)])
    return dict(zip(LOSS_TERMS, values.tolist()))
