"""Named slider directions through the generator: where a named factor ("colour", "shade", ...) changes
in what G paints, and by how much.

The encoder side (``directions.fit_named_directions``) fits, per category, a linear map from the crop
encoder's mu to each recorded factor on real crops. Its weights say where the factor lies in the
*encoder's* code; a slider moves the *generator's* input. Until the two agree (the latent regression
pulls them together over a long training), a direction read off the encoder can be one the generator
barely responds to: on the first `isla` checkpoints the encoder's "colour" direction moved its object by
0.021 per box pixel at +-2 std where re-drawing the whole z moved it by 0.13 (docs/training.md).

So the direction is measured through the generator instead (``generator_named_directions``): for
``layouts`` training layouts holding the category, the object's z is drawn ``samples`` times, the
layouts are rendered (eval mode), the object's crop is encoded and mapped to factors with the encoder
side's map (``factor_hat = W (mu - mu_mean) + f_mean``), and a ridge regression of each factor_hat on
the object's z gives g_f, how the factor the generator paints moves with z. The slider direction is
column f of g^T (g g^T)^-1 over the factors that fit (moving along it changes factor f, as read by the
encoder, and leaves the others), normalised; its ``std`` (the slider's unit) is the z distance that
changes the factor by one standard deviation of the factor on real crops, at most ``MAX_STD``, so
+-2 on the slider spans the factor's real range where the generator can. ``r2`` is the held-out R^2 of
the generator-side fit; a factor counts when both fits reach ``MIN_R2``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch

from ..data.collate import collate_batch
from ..models.generator import Generator
from ..models.layers import eval_mode

MIN_R2 = 0.2
# Layouts rendered per category for the generator-side fit (x 4 z draws). A ridge fit of 64 z dims on
# 48 x 4 rows (96 per fold) over-fits: on the shipped scenes64 (step 7,521) boat colour's held-out R^2
# was 0.17 at 48 layouts and 0.51 at 192 (car 0.22 -> 0.42, fence colour -0.26 -> 0.24), so boats
# had no colour slider (docs/training.md, "Named directions").
NAMED_LAYOUTS = 192
MAX_STD = 2.0  # the longest slider unit in z (the prior's std is 1): beyond it G paints out of its training range
RIDGE = 1e-3


@dataclass
class FactorMap:
    """The encoder side of one category: factor ~ weights @ (mu - mu_mean) + f_mean.

    weights: [F, Z]; mu_mean: [Z]; f_mean, f_std, r2: [F]; valid: [F] bool (enough crops, R^2 >= MIN_R2).
    """

    weights: torch.Tensor
    mu_mean: torch.Tensor
    f_mean: torch.Tensor
    f_std: torch.Tensor
    r2: torch.Tensor
    valid: torch.Tensor


def ridge(x: torch.Tensor, y: torch.Tensor, rel: float = RIDGE) -> torch.Tensor:
    """Weights [Z] (or [Z, F] for y [n, F]) of y ~ x [n, Z], both centred, ridge-regularised; float64."""
    z = x.shape[1]
    lam = rel * float(x.var(0).mean().clamp_min(1e-12)) * x.shape[0]
    return torch.linalg.solve(x.T @ x + lam * torch.eye(z, dtype=x.dtype), x.T @ y)


def heldout_r2(x: torch.Tensor, y: torch.Tensor) -> float:
    """R^2 of a ridge fit of y [n] on x [n, Z], 2-fold (even rows fit, odd rows test, and back), pooled."""
    idx = torch.arange(x.shape[0])
    sse, sst = 0.0, 0.0
    for fit, test in ((idx % 2 == 0, idx % 2 == 1), (idx % 2 == 1, idx % 2 == 0)):
        xm, ym = x[fit].mean(0), y[fit].mean()
        w = ridge(x[fit] - xm, y[fit] - ym)
        pred = (x[test] - xm) @ w + ym
        sse += float(((y[test] - pred) ** 2).sum())
        sst += float(((y[test] - y[test].mean()) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else 0.0


def dual_directions(g: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """For gradients g [V, Z] (one row per factor): unit directions d [V, Z] with g_f . d_k = 0 for k != f
    and g_f . d_f = a_f > 0, and a [V] (the factor's change per unit step along its direction)."""
    g = g.double()
    dual = torch.linalg.solve(g @ g.T + 1e-12 * torch.eye(g.shape[0], dtype=g.dtype), g).T  # [Z, V]
    d = (dual / dual.norm(dim=0, keepdim=True)).T  # [V, Z]
    return d, (g * d).sum(1)


@torch.no_grad()
def generator_named_directions(G: Generator, dataset, where: Sequence[Tuple[int, int]], fmap: FactorMap,
                               layouts: int = NAMED_LAYOUTS, samples: int = 4, seed: int = 0,
                               device=torch.device("cpu"), autocast=contextlib.nullcontext, batch_size: int = 64,
                               order: str = "file") -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The named directions of one category measured through G (module doc).

    Args:
        G: the generator (used in eval mode, restored after).
        dataset: the training data (batch-contract items).
        where: (item index, object position) of the category's crops, in the reader's object order.
        fmap: the encoder side's map of this category.
        layouts / samples: layouts used and z draws of the object per layout.
        seed: seeds the z draws.
        order: the object order the model was trained with (``SeededObjectOrder``), as ``where`` uses.

    Returns:
        (components [F, Z] float32 unit rows, zeros where not valid; std [F] float32; r2 [F] float32, the
        generator side's held-out R^2; valid [F] bool), in the factor order of ``fmap``.
    """
    from .loader import SeededObjectOrder

    f_n, z_dim = fmap.weights.shape
    zeros = (torch.zeros(f_n, z_dim), torch.zeros(f_n), torch.zeros(f_n), torch.zeros(f_n, dtype=torch.bool))
    if not bool(fmap.valid.any()) or not where:
        return zeros
    step = max(1, len(where) // layouts)
    picks = list(where)[::step][:layouts]
    keyed = SeededObjectOrder(dataset, seed=0, order=order)
    gen = torch.Generator().manual_seed(seed)
    rows: List[Dict] = []
    for i, k in picks:
        it = keyed[(0, i)]
        n = int(it["objs"].shape[0])
        others = torch.randn(n, z_dim, generator=gen)
        for _ in range(samples):
            z = others.clone()
            z[k] = torch.randn(z_dim, generator=gen)
            rows.append({"objs": it["objs"], "bboxes": it["bboxes"], "z": z, "k": k})
    z_obj, f_hat = [], []
    with eval_mode(G):
        for s in range(0, len(rows), batch_size):
            chunk = rows[s:s + batch_size]
            batch = collate_batch([{"img": torch.zeros(3, 1, 1), "objs": r["objs"], "bboxes": r["bboxes"]}
                                   for r in chunk]).to(device)
            zs = torch.zeros(batch.objs.shape + (z_dim,), device=device)
            for j, r in enumerate(chunk):
                zs[j, :r["z"].shape[0]] = r["z"].to(device)
            ks = torch.tensor([r["k"] for r in chunk], device=device)
            rows_b = torch.arange(len(chunk), device=device)
            with autocast():
                img = G.generate(batch.objs, batch.bboxes, zs, batch.obj_mask)
                crops = G.crop(img, batch.bboxes[rows_b, ks], rows_b)
                mu = G.crop_encoder(crops, batch.objs[rows_b, ks], sample=False).mu.float().cpu().double()
            f_hat.append((mu - fmap.mu_mean.double()) @ fmap.weights.double().T + fmap.f_mean.double())  # [b, F]
            z_obj.append(zs[rows_b, ks].cpu().double())
    x, y = torch.cat(z_obj), torch.cat(f_hat)  # [N, Z], [N, F]
    g = ridge(x - x.mean(0), y - y.mean(0)).T  # [F, Z]
    r2 = torch.tensor([heldout_r2(x, y[:, f]) for f in range(f_n)], dtype=torch.float64)
    valid = fmap.valid & (r2 >= MIN_R2) & (g.norm(dim=1) > 0)
    comps, std = torch.zeros(f_n, z_dim, dtype=torch.float64), torch.zeros(f_n, dtype=torch.float64)
    if bool(valid.any()):
        d, a = dual_directions(g[valid])
        comps[valid] = d
        std[valid] = (fmap.f_std[valid].double() / a.clamp_min(1e-9)).clamp(max=MAX_STD)
    return comps.float(), std.float(), r2.float(), valid


def factor_map(mu: torch.Tensor, factors: Dict[str, torch.Tensor], min_crops: int = 16,
               min_r2: float = MIN_R2) -> FactorMap:
    """The encoder side: per factor a ridge fit of the factor on mu over the crops that carry it.

    Args:
        mu: [n, Z] crop-encoder means of one category's real crops.
        factors: name -> [n] values, NaN where a crop lacks the factor.
    """
    names = list(factors)
    f_n, z = len(names), mu.shape[1]
    x_all = mu.double()
    out = FactorMap(torch.zeros(f_n, z, dtype=torch.float64), x_all.mean(0) if len(x_all) else torch.zeros(z),
                    torch.zeros(f_n, dtype=torch.float64), torch.zeros(f_n, dtype=torch.float64),
                    torch.zeros(f_n, dtype=torch.float64), torch.zeros(f_n, dtype=torch.bool))
    for f, name in enumerate(names):
        y = torch.as_tensor(factors[name], dtype=torch.float64)
        have = torch.isfinite(y)
        if int(have.sum()) < max(min_crops, 4) or float(y[have].std()) < 1e-9:
            continue
        x, yy = x_all[have], y[have]
        out.r2[f] = heldout_r2(x, yy)
        w = ridge(x - x.mean(0), yy - yy.mean())
        # express the map around the mean of all the category's crops
        out.weights[f] = w
        out.f_mean[f] = yy.mean() + (out.mu_mean - x.mean(0)) @ w
        out.f_std[f] = yy.std()
        out.valid[f] = bool(out.r2[f] >= min_r2) and bool(w.norm() > 0)
    return out
