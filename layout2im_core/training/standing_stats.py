"""Standing batch-norm statistics of an exported generator (ours; BigGAN's "standing statistics",
Brock, Donahue and Simonyan 2019, appendix C.1).

A run's exported G is the EMA copy of its weights (``TrainConfig.ema_decay``), but the batch-norm
running statistics that copy carries are the *live* G's (``Trainer._update_ema`` copies buffers):
means and variances of other weights' activations, averaged with momentum 0.1 over the last few
batches of 8. Here every BatchNorm2d of the generation path (layout encoder with its conv-LSTM, and
the decoder; the crop encoder is left alone) is reset and re-estimated from the exported weights'
own activations over many training layouts (train-mode forwards, cumulative average), with z drawn
as inference draws it: the crop encoder's codes of the real objects (its aggregate posterior, which
the appearance prior fits, ``appearance_prior.py``). N(0, I) codes would calibrate for inputs the
product never gives the ISLA models (measured below).

Measured on the shipped ``scenes64`` (stage-2 step 22,522) with the held-out FID probe of
docs/training.md (500 unseen layouts, real vs real 54.4): 116.3 with the copied statistics;
106.7 with these (3,200 images at batch 8; 12,000 images: 106.7); 107.7 / 108.1 / 107.5 at batch
8 / 32 / 4 with z through the appearance prior instead; 131.8 with z from N(0, I). On
``check-scenes --n 500`` the FID ratio went from 2.16 to 1.95 (docs/training.md).
"""

from __future__ import annotations

import contextlib
from typing import Callable, List

import torch
from torch import nn

from ..data.collate import collate_batch
from ..errors import DataError
from ..models.generator import Generator
from ..models.layers import eval_mode
from .config import STANDING_STATS_IMAGES
from .loader import SeededObjectOrder


def generation_batch_norms(G: Generator) -> List[nn.BatchNorm2d]:
    """Every BatchNorm2d of G's layout-to-image path (layout encoder, fuser, decoder), in module order;
    not the crop encoder's."""
    return [m for part in (G.layout_encoder, G.decoder) for m in part.modules() if isinstance(m, nn.BatchNorm2d)]


@torch.no_grad()
def standing_statistics(G: Generator, dataset, images: int = STANDING_STATS_IMAGES, batch_size: int = 8,
                        order: str = "file", seed: int = 0, device=torch.device("cpu"),
                        autocast: Callable = contextlib.nullcontext) -> int:
    """Replace the running mean and variance of :func:`generation_batch_norms` with their cumulative
    average over train-mode forwards of ``images`` training images (evenly spread over ``dataset``,
    in batches of ``batch_size``; the training batch size is the right one, as each forward
    normalises with its own batch's statistics). Each batch's z is the crop encoder's sample
    (mu + sigma * eps, encoder in eval mode) for its real crops. Deterministic for a given ``seed``;
    the global RNG state is restored. G is left in eval mode.

    Args:
        G: the generator to calibrate (modified in place).
        dataset: items with ``img`` float32 [3, 64, 64] in [0, 1], ``objs`` int64 [n], ``bboxes``
            float32 [n, 4] in [0, 1] (the training data set; ``trainer.open_dataset``).
        images: how many images (>= 2; capped at ``len(dataset)``).
        batch_size: images per forward (>= 2: batch norm needs more than one value per channel); a
            last batch of one image joins the batch before it.
        order: object order of the run (``TrainConfig.object_order``).

    Returns:
        The number of images used.

    Raises:
        ValueError: ``images`` < 2 or ``batch_size`` < 2.
        DataError: a data set of fewer than 2 images, or one whose images hold no object.
        On any error the statistics are left as they were.
    """
    if images < 2 or batch_size < 2:
        raise ValueError(f"standing statistics need images >= 2 and batch_size >= 2, got {images}, {batch_size}")
    n = len(dataset)
    if n < 2:
        raise DataError(f"standing statistics need at least 2 training images (batch norm needs a batch); "
                        f"the data set holds {n}")
    take = min(images, n)
    indices = torch.linspace(0, n - 1, take).round().long().unique().tolist()
    # batches of batch_size; a last batch of one image joins the one before (a batch of one has no spread)
    chunks = [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        last = chunks.pop()
        chunks[-1] = chunks[-1] + last
    keyed = SeededObjectOrder(dataset, seed=seed, order=order)
    bns = generation_batch_norms(G)
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    used, finished = 0, False
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            G.eval()
            for chunk in chunks:
                batch = collate_batch([keyed[(0, i)] for i in chunk]).to(device)
                if not bool(batch.obj_mask.any()):
                    continue
                objs_p, bboxes_p = batch.objs[batch.obj_mask], batch.bboxes[batch.obj_mask]
                with autocast():
                    crops = G.crop(G.to_model_space(batch.imgs), bboxes_p, batch.obj_to_img)
                    z = G.crop_encoder(crops, objs_p, sample=True).z.float()  # [N, Z]
                    with _train_mode(G.layout_encoder), _train_mode(G.decoder):
                        G.generate(batch.objs, batch.bboxes, G._pad(z, batch.obj_mask), batch.obj_mask)
                used += len(chunk)
        finished = True
    finally:
        for m, (mom, mean, var, count) in zip(bns, saved):
            m.momentum = mom
            if not (finished and used):  # an error, or nothing measured: keep the statistics it had
                m.running_mean.copy_(mean), m.running_var.copy_(var), m.num_batches_tracked.copy_(count)
        G.eval()
    if not used:
        raise DataError("standing statistics: no image of the data set holds an object")
    return used


@contextlib.contextmanager
def _train_mode(module: nn.Module):
    with eval_mode(module):  # restores the previous mode afterwards
        module.train()
        yield module
