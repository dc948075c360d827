"""Appearance directions: per category, the mean and the principal directions of the codes the
crop encoder gives the category's training crops (G in eval mode), with their standard deviations
and shares of explained variance. The app's appearance sliders move z along them.

"The codes" is the aggregate posterior: each crop's z ~ N(mu, sigma^2), pooled over the crops, whose
covariance is Cov(mu) + mean(diag sigma^2). The directions are its principal axes and ``std`` the
spread along them. A sharp encoder (small sigma) gives the PCA of mu; a collapsed one (mu ~ 0,
sigma ~ 1, as our early models had) gives about the prior's unit spread, so a slider still moves z
by the amount the generator was trained on instead of by the near-zero spread of mu.

A category with fewer than ``min_crops`` crops falls back to the unit axes of z with std 1 and equal
shares (the prior N(0, I); the mean is the crops' mean when there are any), flagged ``fallback``.
Exported model files hold only the non-fallback categories; the inference API answers the others with
the same unit axes and ``fallback=True``.

Stored in a run as ``RUN/directions.pt`` (torch.save of plain tensors, weights_only-loadable).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch

from ..atomic import atomic_write
from ..checkpoint import Directions
from ..data.collate import collate_batch
from ..errors import ModelFileError, exception_reason
from ..input_files import InputFileError, check_regular_file
from ..models.generator import Generator
from ..models.layers import eval_mode
from .loader import SeededObjectOrder


@dataclass
class DirectionSet:
    """Directions of every category id in ``ids``.

    ids: [K] int64; mean: [K, Z]; components: [K, D, Z] orthonormal rows; std: [K, D];
    explained: [K, D] in [0, 1]; fallback: [K] bool; counts: [K] int64 crops seen per category.
    """

    ids: torch.Tensor
    mean: torch.Tensor
    components: torch.Tensor
    std: torch.Tensor
    explained: torch.Tensor
    fallback: torch.Tensor
    counts: torch.Tensor
    max_objects: int = 0  # most objects in one encoded image

    def model_directions(self) -> Optional[Directions]:
        """The non-fallback categories as ``checkpoint.Directions`` (None when there are none)."""
        keep = ~self.fallback
        if not bool(keep.any()):
            return None
        return Directions(self.ids[keep], self.mean[keep], self.components[keep], self.std[keep],
                          self.explained[keep])

    def summary(self) -> Dict:
        """Plain data for the model card."""
        return {"top_k": int(self.components.shape[1]), "categories": int(self.ids.numel()),
                "fallback_ids": self.ids[self.fallback].tolist(), "crops": int(self.counts.sum())}


def principal_directions(mu: torch.Tensor, k: int, var: Optional[torch.Tensor] = None
                          ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of codes ``mu`` [n, Z] (n >= 2): mean [Z], components [k, Z] (orthonormal; sign fixed so the
    largest-magnitude entry is positive), std [k] (sample std along each), explained [k] (variance share).

    With ``var`` [n, Z] (each code's posterior variance sigma^2), the PCA is of the aggregate posterior:
    covariance Cov(mu) + diag(mean of var) (see the module doc).
    """
    mu = mu.double()
    n, z = mu.shape
    mean = mu.mean(0)
    centred = mu - mean
    cov = centred.T @ centred / max(n - 1, 1)
    if var is not None:
        cov = cov + torch.diag(var.double().mean(0))
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, comps = evals.flip(0).clamp_min(0), evecs.T.flip(0)
    comps = comps[:k]
    sign = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * torch.where(sign == 0, torch.ones_like(sign), sign)
    total = evals.sum()
    explained = evals[:k] / total if total > 0 else torch.zeros(k, dtype=evals.dtype)
    return mean.float(), comps.float(), evals[:k].sqrt().float(), explained.float()


@torch.no_grad()
def encode_crops(G: Generator, dataset, max_images: int = 0, device=torch.device("cpu"),
                 autocast=contextlib.nullcontext, batch_size: int = 32
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Crop-encoder posterior of every object of (up to ``max_images``, evenly spread) images, G in
    eval mode.

    Returns:
        objs [M] int64, mu [M, Z] float32, var [M, Z] float32 (sigma^2 = exp(logvar)), and the most
        objects seen in one image.
    """
    n = len(dataset)
    take = n if max_images <= 0 or max_images >= n else max_images
    indices = torch.linspace(0, n - 1, take).round().long().unique().tolist()
    keyed = SeededObjectOrder(dataset, seed=0, shuffle=False)
    all_objs, all_mu, all_var, most = [], [], [], 0
    with eval_mode(G):
        for start in range(0, len(indices), batch_size):
            batch = collate_batch([keyed[(0, i)] for i in indices[start:start + batch_size]]).to(device)
            most = max(most, int(batch.obj_mask.sum(1).max()) if batch.objs.numel() else 0)
            objs_p, bboxes_p = batch.objs[batch.obj_mask], batch.bboxes[batch.obj_mask]
            if objs_p.numel() == 0:
                continue
            with autocast():
                crops = G.crop(G.to_model_space(batch.imgs), bboxes_p, batch.obj_to_img)
                code = G.crop_encoder(crops, objs_p, sample=False)
            all_objs.append(objs_p.cpu())
            all_mu.append(code.mu.float().cpu())
            all_var.append(code.logvar.float().exp().cpu())
    z = G.cfg.z_dim
    if not all_objs:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, z), torch.zeros(0, z), most
    return torch.cat(all_objs), torch.cat(all_mu), torch.cat(all_var), most


def directions_from_codes(objs: torch.Tensor, mu: torch.Tensor, category_ids, z_dim: int, top_k: int = 8,
                          min_crops: Optional[int] = None, var: Optional[torch.Tensor] = None) -> DirectionSet:
    """Per-category PCA of codes (see module doc): objs [M], mu [M, Z], optional posterior variances
    var [M, Z]. ``min_crops`` (default 16) is raised to 2 at least."""
    d = min(top_k, z_dim)
    min_crops = 16 if min_crops is None else max(2, min_crops)
    rows = []
    for cid in category_ids:
        sel = mu[objs == cid]
        if sel.shape[0] >= min_crops:
            sel_var = None if var is None else var[objs == cid]
            rows.append((*principal_directions(sel, d, sel_var), False, sel.shape[0]))
        else:
            mean = sel.mean(0) if sel.shape[0] else torch.zeros(z_dim)
            rows.append((mean, torch.eye(z_dim)[:d], torch.ones(d), torch.full((d,), 1.0 / z_dim), True,
                         sel.shape[0]))
    if not rows:
        raise ValueError("no categories given")
    return DirectionSet(ids=torch.tensor(list(category_ids), dtype=torch.int64),
                        mean=torch.stack([r[0] for r in rows]), components=torch.stack([r[1] for r in rows]),
                        std=torch.stack([r[2] for r in rows]), explained=torch.stack([r[3] for r in rows]),
                        fallback=torch.tensor([r[4] for r in rows]),
                        counts=torch.tensor([r[5] for r in rows], dtype=torch.int64))


def compute_directions(G: Generator, dataset, top_k: int = 8, min_crops: Optional[int] = None,
                       max_images: int = 0, device=torch.device("cpu"), autocast=contextlib.nullcontext,
                       category_ids=None) -> DirectionSet:
    """Encode the data set's crops and compute every category's directions.

    ``category_ids`` default: every id 1..num_classes-1 (categories absent from the data fall back).
    """
    objs, mu, var, most = encode_crops(G, dataset, max_images, device, autocast)
    ids = range(1, G.cfg.num_classes) if category_ids is None else category_ids
    out = directions_from_codes(objs, mu, ids, G.cfg.z_dim, top_k, min_crops, var=var)
    out.max_objects = most
    return out


def save_directions(d: DirectionSet, path: Path, step: int) -> None:
    """Write a DirectionSet (and the step of the G it was computed with) atomically."""
    buf = io.BytesIO()
    torch.save({"format": "layout2im-directions", "step": int(step), "max_objects": int(d.max_objects),
                **{k: getattr(d, k) for k in ("ids", "mean", "components", "std", "explained", "fallback",
                                              "counts")}}, buf)
    atomic_write(Path(path), buf.getbuffer())


def load_directions(path: Path) -> Tuple[DirectionSet, int]:
    """Read ``save_directions`` output: (DirectionSet, step). Raises ModelFileError if missing, not a
    regular file or unreadable."""
    try:
        check_regular_file(path, "directions file")
    except InputFileError as e:
        raise ModelFileError(str(e)) from None
    try:
        d = torch.load(Path(path), map_location="cpu", weights_only=True)
        fields = {k: d[k] for k in ("ids", "mean", "components", "std", "explained", "fallback", "counts")}
        return DirectionSet(**fields, max_objects=int(d.get("max_objects", 0))), int(d["step"])
    except Exception as e:  # missing, truncated, not a torch file, wrong keys
        raise ModelFileError(f"{path} is not a readable directions file: {exception_reason(e)}") from None
