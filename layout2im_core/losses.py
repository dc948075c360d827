"""Loss terms of Layout2Im (spec §6), one small pure function each. Weights live in
``config.LossWeights`` (spec §2 defaults); these functions are unweighted.

All adversarial terms are the standard (non-saturating) GAN with BCE on logits; means over images or
objects. The KL term is a sum over objects and z dimensions, as the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over all objects and dims (spec §6, "KL").

    mu, logvar: [N, Z] float. Returns a scalar: -0.5 * sum(1 + logvar - mu^2 - exp(logvar)).
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def img_rec_loss(img_rec: torch.Tensor, imgs: torch.Tensor) -> torch.Tensor:
    """Image reconstruction: mean absolute error over B*3*H*W (spec §6)."""
    return F.l1_loss(img_rec.float(), imgs.float())


def z_rec_loss(z_rand_rec: torch.Tensor, z_rand: torch.Tensor) -> torch.Tensor:
    """Latent regression: mean absolute error between z regressed from generated crops and the sampled
    z, over N*Z (spec §6)."""
    return F.l1_loss(z_rand_rec.float(), z_rand.float())


def bce_real(logits: torch.Tensor) -> torch.Tensor:
    """Mean BCE-with-logits against target 1 ("real")."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.ones_like(logits, dtype=torch.float32))


def bce_fake(logits: torch.Tensor) -> torch.Tensor:
    """Mean BCE-with-logits against target 0 ("fake")."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.zeros_like(logits, dtype=torch.float32))


def d_adv_loss(real_logits: torch.Tensor, rec_logits: torch.Tensor, rand_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator adversarial loss (spec §6, D step), for D_img and for D_obj's ``src`` head:
    BCE(real, 1) + 0.5 BCE(rec, 0) + 0.5 BCE(rand, 0)."""
    return bce_real(real_logits) + 0.5 * bce_fake(rec_logits) + 0.5 * bce_fake(rand_logits)


def g_adv_loss(rec_logits: torch.Tensor, rand_logits: torch.Tensor) -> torch.Tensor:
    """Generator adversarial loss, non-saturating (spec §6, G step): 0.5 BCE(rec, 1) + 0.5 BCE(rand, 1)."""
    return 0.5 * bce_real(rec_logits) + 0.5 * bce_real(rand_logits)


def cls_loss(cls_logits: torch.Tensor, objs: torch.Tensor) -> torch.Tensor:
    """Auxiliary classification: mean cross-entropy of D_obj's class logits [N, K] against ids [N]."""
    return F.cross_entropy(cls_logits.float(), objs)


def locality_loss(img_a: torch.Tensor, img_b: torch.Tensor, box_mask: torch.Tensor, dilate_px: int = 2,
                  eps_per_value: float = 1e-6) -> torch.Tensor:
    """Share of the change between two images that lies outside a box (ours, not the paper's).

    ``img_a`` and ``img_b`` are the same layouts rendered with one object's z changed; the loss is
    the mean over images of ``sum(|a - b| outside) / (sum(|a - b|) + eps)``, where "outside" is the
    complement of ``box_mask`` dilated by ``dilate_px`` pixels (max-pool), and
    ``eps = eps_per_value * 3 * H * W`` only keeps the ratio finite when nothing changes. It is the
    quantity ``layout2im check-scenes`` reports as locality (1 minus it). Values in [0, 1).

    The share is scale-invariant: shrinking the whole change does not lower it, so the term gives no
    reason to ignore z. ``eps`` must stay far below the size of a real change: with a large ``eps``
    (we first tried 1e-3 per value) a model lowers the loss by making z do nothing, and one did, in
    100 steps (docs/training.md, "Locality loss").

    Args:
        img_a, img_b: [B, 3, H, W] float images in the model's space.
        box_mask: [B, 1, H, W] float in {0, 1}, the moved object's box (``geometry.bbox_to_mask``).
        dilate_px: box dilation in pixels (the issue's "+2 px at 64x64").
        eps_per_value: see above.

    Returns:
        Scalar float32 tensor.
    """
    if dilate_px > 0:
        k = 2 * dilate_px + 1
        box_mask = F.max_pool2d(box_mask.float(), k, stride=1, padding=dilate_px)
    delta = (img_a.float() - img_b.float()).abs().sum(1, keepdim=True)  # [B, 1, H, W]
    outside = (delta * (1 - box_mask)).flatten(1).sum(1)
    total = delta.flatten(1).sum(1)
    eps = eps_per_value * img_a.shape[1] * img_a.shape[2] * img_a.shape[3]
    return (outside / (total + eps)).mean()


# --- ours: the recipe that makes z matter (docs/training.md, "The isla recipe") ----------------------

def d_hinge_loss(real_logits: torch.Tensor, rec_logits: torch.Tensor, rand_logits: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss (Lim & Ye 2017; LostGAN ``train.py``), weighted as ``d_adv_loss``:
    mean relu(1 - real) + 0.5 mean relu(1 + rec) + 0.5 mean relu(1 + rand)."""
    return (F.relu(1 - real_logits.float()).mean() + 0.5 * F.relu(1 + rec_logits.float()).mean()
            + 0.5 * F.relu(1 + rand_logits.float()).mean())


def g_hinge_loss(rec_logits: torch.Tensor, rand_logits: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss: -(0.5 mean rec + 0.5 mean rand)."""
    return -(0.5 * rec_logits.float().mean() + 0.5 * rand_logits.float().mean())


def kl_free_bits_loss(mu: torch.Tensor, logvar: torch.Tensor, free_bits: float = 0.0) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) as a per-object mean, with "free bits" per dimension
    (Kingma et al., NeurIPS 2016, eq. 15): ``sum_d max(free_bits, mean_n KL[n, d])``.

    The floor lets each dimension carry ``free_bits`` nats per object at no cost, so the encoder is
    not pushed onto the prior (posterior collapse, docs/training.md). With ``free_bits = 0`` it is the
    reference KL divided by the number of objects N.

    Args:
        mu, logvar: [N, Z] float. free_bits: nats per dimension, >= 0.

    Returns:
        Scalar float32 (nats per object).
    """
    kl = -0.5 * (1 + logvar.float() - mu.float().pow(2) - logvar.float().exp())  # [N, Z]
    return torch.clamp(kl.mean(0), min=free_bits).sum()


def mode_seeking_loss(img_a: torch.Tensor, img_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor,
                      box_mask: torch.Tensor, eps: float = 0.02) -> torch.Tensor:
    """Mode seeking inside one object's box (MSGAN, Mao et al., CVPR 2019, eq. 3, restricted to the box).

    Per image: ``ratio = mean_{box}|a - b| / mean|z_a - z_b|`` where the images differ only in the
    code of one object whose box is ``box_mask``; the loss is the mean over images of
    ``1 / (ratio + eps)``. Minimising it makes a change of that object's z change its box's pixels.
    MSGAN's eps is 1e-5 on a whole-image ratio; one box can barely change (a ratio near 0), so ours is
    0.02, which bounds the loss by 50 and its gradient by 2500 per image.

    Args:
        img_a, img_b: [B, 3, H, W] images (model space). z_a, z_b: [B, Z] the object's two codes.
        box_mask: [B, 1, H, W] in {0, 1}.

    Returns:
        Scalar float32.
    """
    box = box_mask.float()
    diff = (img_a.float() - img_b.float()).abs().mean(1, keepdim=True)  # [B, 1, H, W]
    in_box = (diff * box).flatten(1).sum(1) / box.flatten(1).sum(1).clamp_min(1.0)
    dz = (z_a.float() - z_b.float()).abs().mean(1)
    return (1.0 / (in_box / dz + eps)).mean()
