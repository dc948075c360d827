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
- The ``Recipe`` (ours; all off in the reference presets) switches the parts of the isla recipe
  (docs/training.md, "The isla recipe"): hinge loss, KL as a per-object mean with free bits and a
  warm-up, latent regression that updates G only, mode seeking inside a re-drawn object's box
  (``loss_weights.ms``), and DiffAugment on both discriminators' inputs.
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
from .augment import diff_augment, parse_policy

D_TERMS = ("D/img_adv", "D/obj_adv", "D/obj_cls")
G_TERMS = ("G/img_rec", "G/z_rec", "G/kl", "G/img_adv", "G/obj_adv", "G/obj_cls", "G/locality", "G/ms")
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


@dataclass(frozen=True)
class Recipe:
    """Switchable parts of the training recipe (ours; the defaults are the reference, spec §6).

    Attributes:
        adv_loss: ``"bce"`` (the reference's non-saturating BCE) or ``"hinge"``.
        kl_mode: ``"sum"`` (the reference: a sum over objects and dims) or ``"mean"`` (per-object mean
            with ``kl_free_bits`` nats per dimension free, ``losses.kl_free_bits_loss``).
        kl_free_bits: nats per z dimension that cost nothing (``kl_mode="mean"`` only).
        kl_warmup: the KL weight rises linearly from 0 to ``loss_weights.kl`` over this many steps.
        z_rec_updates_encoder: False: the latent regression trains G but not the crop encoder
            (BicycleGAN); True: the reference.
        diffaugment: DiffAugment policy for D inputs (``augment.POLICIES``), ``""`` = off.
        locality_pair: what ``loss_weights.locality`` measures: ``"eval"`` (two extra eval-mode renders
            per image, ``_locality_term``) or ``"ms"`` (the mode-seeking pair, which differs in one
            object's z already: no extra render; needs ``loss_weights.ms > 0``).
        d_warmup: the first this many steps train D_img and D_obj only; G, its optimiser state and its
            EMA copy stay as they are (its batch-norm running statistics still track the data). For a
            run started from a model file (``init_from``), whose discriminators start fresh: without
            it a fresh D's first gradients moved G away from its trained state (a held-out FID probe
            went from 113-116 to 131-132 after 1,000 joint steps, docs/training.md).
        d_img_sees_rec: True (the reference, spec §6): D_img judges the reconstruction ``img_rec`` as
            fake beside ``img_rand``, and G's image adversarial term covers both. False: D_img sees the
            real images against ``img_rand`` only, and G's image term covers ``img_rand`` only (D_obj
            is unchanged). Why: a fresh D_img asked to reject reconstructions of the very images it
            must accept stayed at chance on the shipped ``scenes64`` (hinge loss 2.0; docs/training.md).
    """

    adv_loss: str = "bce"
    kl_mode: str = "sum"
    kl_free_bits: float = 0.0
    kl_warmup: int = 0
    z_rec_updates_encoder: bool = True
    diffaugment: str = ""
    locality_pair: str = "eval"
    d_warmup: int = 0
    d_img_sees_rec: bool = True

    def __post_init__(self):
        if self.adv_loss not in ("bce", "hinge"):
            raise ValueError(f"adv_loss must be bce or hinge, not {self.adv_loss!r}")
        if self.kl_mode not in ("sum", "mean"):
            raise ValueError(f"kl_mode must be sum or mean, not {self.kl_mode!r}")
        if not (self.kl_free_bits >= 0 and self.kl_warmup >= 0 and self.d_warmup >= 0):
            raise ValueError("kl_free_bits, kl_warmup and d_warmup must be >= 0")
        parse_policy(self.diffaugment)
        if self.locality_pair not in ("eval", "ms"):
            raise ValueError(f"locality_pair must be eval or ms, not {self.locality_pair!r}")

    def kl_scale(self, step: int) -> float:
        """Factor on the KL weight at 1-based ``step`` (linear warm-up)."""
        return 1.0 if self.kl_warmup <= 0 else min(1.0, max(step, 0) / self.kl_warmup)


def _redraw_one(z_rand: torch.Tensor, obj_mask: torch.Tensor):
    """A copy of the packed codes with one random valid object per image re-drawn from the prior.

    Returns (z_rand2 [N, Z], pick [B] slot index of the re-drawn object per image)."""
    scores = torch.rand(obj_mask.shape, device=obj_mask.device).masked_fill(~obj_mask, -1.0)
    pick = scores.argmax(1)  # [B]
    b = obj_mask.shape[0]
    z = Generator._pad(z_rand, obj_mask)  # [B, O, Z]
    z2 = z.clone()
    rows = torch.arange(b, device=obj_mask.device)
    z2[rows, pick] = torch.randn(b, z.shape[-1], device=z.device, dtype=z.dtype)
    return z2[obj_mask], pick


def train_step(nets: Networks, opts: Optimizers, imgs01: torch.Tensor, objs: torch.Tensor, bboxes: torch.Tensor,
               obj_mask: torch.Tensor, weights: LossWeights, autocast=contextlib.nullcontext,
               step: int = 0, channels_last: bool = False, reduce_flags=lambda t: t,
               recipe: Recipe = Recipe()) -> Dict[str, float]:
    """Run one D step and one G step on a batch; returns every loss term as a float (``LOSS_TERMS``).
    During the recipe's D warm-up (``1 <= step <= recipe.d_warmup``) only the D step runs: G's forward runs
    without gradients and its terms are returned as 0.

    Args:
        nets / opts: networks (train mode) and their optimisers.
        imgs01: [B, 3, 64, 64] float32 real images in [0, 1].
        objs: [B, O] int64; bboxes: [B, O, 4] float32; obj_mask: [B, O] bool (at least one True).
        weights: the λ of spec §6 (and ours: locality, ms).
        autocast: factory of the precision context (``autocast_context``).
        step: 1-based iteration, used in error messages and the KL warm-up.
        channels_last: feed images in channels-last memory format.
        reduce_flags: sums a tensor over ranks (identity for a single process).
        recipe: the switchable recipe parts (``Recipe``; default the reference).

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
    z_rand2 = pick = None
    if weights.ms > 0 or (weights.locality > 0 and recipe.locality_pair == "ms"):
        z_rand2, pick = _redraw_one(z_rand, obj_mask)
    aug = (lambda x: diff_augment(x, recipe.diffaugment)) if recipe.diffaugment else (lambda x: x)  # noqa: E731
    d_loss = losses.d_hinge_loss if recipe.adv_loss == "hinge" else losses.d_adv_loss
    g_loss = losses.g_hinge_loss if recipe.adv_loss == "hinge" else losses.g_adv_loss

    d_only = 0 < step <= recipe.d_warmup  # step is 1-based; 0 (a caller without a step) always trains G
    with autocast(), (torch.no_grad() if d_only else contextlib.nullcontext()):
        out = nets.G(imgs, objs, bboxes, obj_mask, z_rand, z_rand2=z_rand2,
                     z_rec_updates_encoder=recipe.z_rec_updates_encoder)

    # --- discriminator step (spec §6), on detached generator outputs ------------------------------
    for o in (opts.D_img, opts.D_obj):
        o.zero_grad(set_to_none=True)
    with autocast():
        fakes = [out.img_rec, out.img_rand] if recipe.d_img_sees_rec else [out.img_rand]
        d_img = nets.D_img(aug(torch.cat([imgs] + [f.detach().to(imgs.dtype) for f in fakes])))  # [3B] or [2B]
        crops_fake = torch.cat([out.crops_rec.detach(), out.crops_rand.detach()]).to(out.crops_real.dtype)
        d_obj = nets.D_obj(torch.cat([aug(out.crops_real), aug(crops_fake)]))  # src [3N]
    d_terms = {
        # without img_rec: (real, rand, rand), the rand term at full weight
        "D/img_adv": d_loss(d_img[:b], d_img[b:2 * b], d_img[-b:]),
        "D/obj_adv": d_loss(d_obj.src[:n], d_obj.src[n:2 * n], d_obj.src[2 * n:]),
        "D/obj_cls": losses.cls_loss(d_obj.cls[:n], objs_p),
    }
    _check_finite(d_terms, step, reduce_flags)
    # The reference weights the D terms with the same λ as the G terms (all 1 by default, spec §6).
    d_total = (weights.img_adv * d_terms["D/img_adv"] + weights.obj_adv * d_terms["D/obj_adv"]
               + weights.obj_cls * d_terms["D/obj_cls"])
    d_total.backward()
    opts.D_img.step()
    opts.D_obj.step()
    if d_only:
        g_values = [0.0] * len(G_TERMS + ("G/total",))
        d_values = torch.stack([t.detach().float() for t in (*d_terms.values(), d_total)]).tolist()
        return dict(zip(LOSS_TERMS, d_values + g_values))

    # --- generator step, through the same forward ------------------------------------------------
    opts.G.zero_grad(set_to_none=True)
    _set_requires_grad(D_img_raw, False)
    _set_requires_grad(D_obj_raw, False)
    zero = torch.zeros((), device=imgs.device)
    try:
        with autocast():
            g_img = D_img_raw(aug(torch.cat(fakes)))  # [2B] (rec, rand) or [B] (rand)
            g_obj = D_obj_raw(aug(torch.cat([out.crops_rec, out.crops_rand])))  # src [2N], cls [2N, K]
        if recipe.kl_mode == "mean":
            kl = losses.kl_free_bits_loss(out.mu, out.logvar, recipe.kl_free_bits)
        else:
            kl = losses.kl_loss(out.mu, out.logvar)
        ms = locality = zero
        if z_rand2 is not None:
            rows = torch.arange(b, device=imgs.device)
            z_a = g._pad(z_rand, obj_mask)[rows, pick]
            z_b = g._pad(z_rand2, obj_mask)[rows, pick]
            box = bbox_to_mask(bboxes[rows, pick], size=imgs.shape[-1])  # [B, 1, H, W]
            ms = losses.mode_seeking_loss(out.img_rand, out.img_rand2, z_a, z_b, box)
            if weights.locality > 0 and recipe.locality_pair == "ms":
                locality = losses.locality_loss(out.img_rand, out.img_rand2, box)
        if weights.locality > 0 and recipe.locality_pair == "eval":
            locality = _locality_term(g, objs, bboxes, obj_mask, z_rand, autocast)
        g_terms = {
            "G/img_rec": losses.img_rec_loss(out.img_rec, imgs),
            "G/z_rec": losses.z_rec_loss(out.z_rand_rec, out.z_rand),
            "G/kl": kl,
            "G/img_adv": g_loss(g_img[:b], g_img[-b:]),
            "G/obj_adv": g_loss(g_obj.src[:n], g_obj.src[n:]),
            "G/obj_cls": 0.5 * losses.cls_loss(g_obj.cls[:n], objs_p) + 0.5 * losses.cls_loss(g_obj.cls[n:], objs_p),
            "G/locality": locality,
            "G/ms": ms,
        }
        _check_finite(g_terms, step, reduce_flags)
        w = {"G/img_rec": weights.img_rec, "G/z_rec": weights.z_rec, "G/kl": weights.kl * recipe.kl_scale(step),
             "G/img_adv": weights.img_adv, "G/obj_adv": weights.obj_adv, "G/obj_cls": weights.obj_cls,
             "G/locality": weights.locality, "G/ms": weights.ms}
        g_total = sum(w[k] * v for k, v in g_terms.items())
        g_total.backward()
    finally:
        _set_requires_grad(D_img_raw, True)
        _set_requires_grad(D_obj_raw, True)
    opts.G.step()

    values = torch.stack([t.detach().float() for t in (*d_terms.values(), d_total, *g_terms.values(), g_total)])
    return dict(zip(LOSS_TERMS, values.tolist()))
