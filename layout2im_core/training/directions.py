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

**Named directions.** Where the data records appearance factors per object (the procedural scenes:
colour, shade, shape, texture; Visual Genome: attributes; custom COCO data: an ``attributes`` object
per annotation; see ``data.coco.parse_attributes``), each category also gets one direction per
factor. First a ridge regression of each factor on the crop encoder's mu over the category's real
crops (``named_directions.factor_map``: the linear map from mu to the factors). Then, in
``compute_directions``, the direction is measured through the generator
(``named_directions.generator_named_directions``: render the category's objects with many z, read the
factors off the renders with that map, regress them on z) and scaled so that one slider step changes
the factor by one standard deviation of its real values. Without a generator
(``directions_from_codes`` alone) the direction is read off the encoder (``fit_named_directions``):
column f of W^T (W W^T)^-1, its std the aggregate posterior's spread along it. Either way a factor
counts (``named_valid``) when at least ``min_crops`` crops carry it and its held-out R^2 (2-fold)
reaches ``MIN_R2``, and the principal directions are computed in the orthogonal complement of the
valid named ones, so the two kinds of sliders do not overlap.

Stored in a run as ``RUN/directions.pt`` (torch.save of plain tensors, weights_only-loadable).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from ..atomic import atomic_write
from ..checkpoint import Directions
from ..data.collate import collate_batch
from ..errors import ModelFileError, exception_reason
from ..input_files import InputFileError, check_regular_file
from ..models.generator import Generator
from ..models.layers import eval_mode
from .loader import SeededObjectOrder
from .named_directions import dual_directions, factor_map, generator_named_directions


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
    names: Tuple[str, ...] = ()  # F named factors; the named_* tensors are None when F == 0
    named_components: Optional[torch.Tensor] = None  # [K, F, Z] unit rows (zeros where not valid)
    named_std: Optional[torch.Tensor] = None  # [K, F]
    named_r2: Optional[torch.Tensor] = None  # [K, F] held-out R^2 of the factor from mu
    named_valid: Optional[torch.Tensor] = None  # [K, F] bool

    def model_directions(self) -> Optional[Directions]:
        """The non-fallback categories as ``checkpoint.Directions`` (None when there are none)."""
        keep = ~self.fallback
        if not bool(keep.any()):
            return None
        named = {}
        if self.names:
            assert self.named_components is not None and self.named_std is not None  # set with names
            assert self.named_r2 is not None and self.named_valid is not None
            named = dict(names=tuple(self.names), named_components=self.named_components[keep],
                         named_std=self.named_std[keep], named_r2=self.named_r2[keep],
                         named_valid=self.named_valid[keep])
        return Directions(self.ids[keep], self.mean[keep], self.components[keep], self.std[keep],
                          self.explained[keep], **named)

    def summary(self) -> Dict:
        """Plain data for the model card."""
        out = {"top_k": int(self.components.shape[1]), "categories": int(self.ids.numel()),
               "fallback_ids": self.ids[self.fallback].tolist(), "crops": int(self.counts.sum())}
        if self.names:
            assert self.named_r2 is not None and self.named_valid is not None  # set with names
            out["named"] = {n: {"categories": int(self.named_valid[:, f].sum()),
                                "median_r2": round(float(self.named_r2[:, f][self.named_valid[:, f]].median()), 3)
                                if bool(self.named_valid[:, f].any()) else None}
                            for f, n in enumerate(self.names)}
        return out


def aggregate_covariance(mu: torch.Tensor, var: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Covariance [Z, Z] float64 of the aggregate posterior: Cov(mu) + diag(mean of var) (module doc)."""
    mu = mu.double()
    centred = mu - mu.mean(0)
    cov = centred.T @ centred / max(mu.shape[0] - 1, 1)
    if var is not None:
        cov = cov + torch.diag(var.double().mean(0))
    return cov


def principal_directions(mu: torch.Tensor, k: int, var: Optional[torch.Tensor] = None,
                         exclude: Optional[torch.Tensor] = None
                         ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of codes ``mu`` [n, Z] (n >= 2): mean [Z], components [k, Z] (orthonormal; sign fixed so the
    largest-magnitude entry is positive), std [k] (sample std along each), explained [k] (variance share).

    With ``var`` [n, Z] (each code's posterior variance sigma^2), the PCA is of the aggregate posterior:
    covariance Cov(mu) + diag(mean of var) (see the module doc). With ``exclude`` [F, Z] (e.g. the named
    directions) the PCA is of the covariance projected onto the orthogonal complement of their span,
    so the components are orthogonal to them; ``explained`` stays a share of the full variance.
    """
    mean = mu.double().mean(0)
    cov = aggregate_covariance(mu, var)
    total_var = torch.trace(cov)
    if exclude is not None and exclude.numel():
        q, _ = torch.linalg.qr(exclude.double().T)  # [Z, F] orthonormal basis of their span
        proj = torch.eye(cov.shape[0], dtype=cov.dtype) - q @ q.T
        cov = proj @ cov @ proj
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, comps = evals.flip(0).clamp_min(0), evecs.T.flip(0)
    comps = comps[:k]
    sign = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * torch.where(sign == 0, torch.ones_like(sign), sign)
    total = total_var
    explained = evals[:k] / total if total > 0 else torch.zeros(k, dtype=evals.dtype)
    return mean.float(), comps.float(), evals[:k].sqrt().float(), explained.float()


NAMED_KEYS = ("named_components", "named_std", "named_r2", "named_valid")
MIN_R2 = 0.2  # a named factor whose held-out R^2 from mu is lower gets no slider


def fit_named_directions(mu: torch.Tensor, factors: Dict[str, torch.Tensor], var: Optional[torch.Tensor] = None,
                         min_crops: int = 16, min_r2: float = MIN_R2):
    """Directions in z along which named appearance factors change, read off the encoder alone (module
    doc, "Named directions"); ``compute_directions`` measures them through the generator instead
    (``named_directions.generator_named_directions``) when it has one.

    Args:
        mu: [n, Z] crop-encoder means of one category's crops. var: [n, Z] posterior variances or None.
        factors: name -> [n] float values, NaN where a crop lacks the factor.
        min_crops: fewest crops carrying a factor (and with it varying) for a direction.
        min_r2: lowest held-out R^2 for a direction.

    Returns:
        (components [F, Z] float32 unit rows, zeros where not valid; std [F] float32; r2 [F] float32;
        valid [F] bool), F = len(factors), in the order of ``factors``.
    """
    fmap = factor_map(mu, factors, min_crops, min_r2)
    f_n, z = fmap.weights.shape
    comps = torch.zeros(f_n, z, dtype=torch.float64)
    std = torch.zeros(f_n, dtype=torch.float64)
    if bool(fmap.valid.any()):
        d, _ = dual_directions(fmap.weights[fmap.valid])  # w_f . d_f > 0 by construction
        cov = aggregate_covariance(mu, var)
        comps[fmap.valid] = d
        std[fmap.valid] = torch.einsum("vz,zy,vy->v", d, cov, d).clamp_min(0).sqrt()
    return comps.float(), std.float(), fmap.r2.float(), fmap.valid


class CropCodes(NamedTuple):
    """What ``encode_crops`` returns (a tuple: ``objs, mu, var, most, attributes, where``)."""

    objs: torch.Tensor
    mu: torch.Tensor
    var: torch.Tensor
    most: int
    attributes: List[Dict[str, float]]
    where: List[Tuple[int, int]]


@torch.no_grad()
def encode_crops(G: Generator, dataset, max_images: int = 0, device=torch.device("cpu"),
                 autocast=contextlib.nullcontext, batch_size: int = 32):
    """Crop-encoder posterior of every object of (up to ``max_images``, evenly spread) images, G in
    eval mode, objects in the reader's order.

    Returns:
        ``CropCodes``: objs [M] int64, mu [M, Z] float32, var [M, Z] float32 (sigma^2 = exp(logvar)), the
        most objects seen in one image, each object's named factors (a list of M dicts; empty dicts
        when the data set records none: ``object_attributes``) and where each crop is (item index,
        object position).
    """
    n = len(dataset)
    take = n if max_images <= 0 or max_images >= n else max_images
    indices = torch.linspace(0, n - 1, take).round().long().unique().tolist()
    keyed = SeededObjectOrder(dataset, seed=0, order="file")
    attrs_of = getattr(dataset, "object_attributes", None)
    all_objs, all_mu, all_var, most = [], [], [], 0
    all_attrs: List[Dict[str, float]] = []
    where: List[Tuple[int, int]] = []  # (item index, object position) of every crop
    with eval_mode(G):
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            batch = collate_batch([keyed[(0, i)] for i in chunk]).to(device)
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
            counts = batch.obj_mask.sum(1).tolist()
            for i, k in zip(chunk, counts):
                all_attrs += attrs_of(i) if attrs_of is not None else [{} for _ in range(int(k))]
                where += [(i, pos) for pos in range(int(k))]
    z = G.cfg.z_dim
    if not all_objs:
        return CropCodes(torch.zeros(0, dtype=torch.int64), torch.zeros(0, z), torch.zeros(0, z), most, [], [])
    objs = torch.cat(all_objs)
    if len(all_attrs) != objs.shape[0]:  # a reader whose items drop objects: no named factors
        all_attrs = [{} for _ in range(objs.shape[0])]
    return CropCodes(objs, torch.cat(all_mu), torch.cat(all_var), most, all_attrs, where)


def directions_from_codes(objs: torch.Tensor, mu: torch.Tensor, category_ids, z_dim: int, top_k: int = 8,
                          min_crops: Optional[int] = None, var: Optional[torch.Tensor] = None,
                          attributes: Optional[Sequence[Dict[str, float]]] = None,
                          named_through: Optional[Callable] = None) -> DirectionSet:
    """Per-category named directions and PCA of codes (see module doc): objs [M], mu [M, Z], optional
    posterior variances var [M, Z] and per-object named factors ``attributes`` (M dicts).
    ``min_crops`` (default 16) is raised to 2 at least. ``named_through(cid, rows, fmap)`` (rows: bool
    [M] of the category's crops; fmap: its ``named_directions.FactorMap``) measures the named directions
    through a generator; without it they are read off the encoder (``fit_named_directions``)."""
    d = min(top_k, z_dim)
    min_crops = 16 if min_crops is None else max(2, min_crops)
    names: List[str] = sorted({k for a in (attributes or []) for k in a})
    table = None
    if names:
        assert attributes is not None  # names come from them
        table = torch.full((len(attributes), len(names)), float("nan"), dtype=torch.float64)
        for r, a in enumerate(attributes):
            for f, name in enumerate(names):
                if name in a:
                    table[r, f] = a[name]
    rows, named_rows = [], []
    for cid in category_ids:
        sel_rows = objs == cid
        sel = mu[sel_rows]
        sel_var = None if var is None else var[sel_rows]
        exclude = None
        if names:
            assert table is not None  # made with names
            factors = {name: table[sel_rows, f] for f, name in enumerate(names)}
            if sel.shape[0] < min_crops:
                nc, ns, nr, nv = (torch.zeros(len(names), z_dim), torch.zeros(len(names)), torch.zeros(len(names)),
                                  torch.zeros(len(names), dtype=torch.bool))
            elif named_through is not None:
                nc, ns, nr, nv = named_through(cid, sel_rows, factor_map(sel, factors, min_crops))
            else:
                nc, ns, nr, nv = fit_named_directions(sel, factors, sel_var, min_crops)
            named_rows.append((nc, ns, nr, nv))
            exclude = nc[nv]
        if sel.shape[0] >= min_crops:
            rows.append((*principal_directions(sel, d, sel_var, exclude=exclude), False, sel.shape[0]))
        else:
            mean = sel.mean(0) if sel.shape[0] else torch.zeros(z_dim)
            rows.append((mean, torch.eye(z_dim)[:d], torch.ones(d), torch.full((d,), 1.0 / z_dim), True,
                         sel.shape[0]))
    if not rows:
        raise ValueError("no categories given")
    named = {}
    if names:
        named = dict(names=tuple(names), named_components=torch.stack([r[0] for r in named_rows]),
                     named_std=torch.stack([r[1] for r in named_rows]),
                     named_r2=torch.stack([r[2] for r in named_rows]),
                     named_valid=torch.stack([r[3] for r in named_rows]))
    return DirectionSet(ids=torch.tensor(list(category_ids), dtype=torch.int64),
                        mean=torch.stack([r[0] for r in rows]), components=torch.stack([r[1] for r in rows]),
                        std=torch.stack([r[2] for r in rows]), explained=torch.stack([r[3] for r in rows]),
                        fallback=torch.tensor([r[4] for r in rows]),
                        counts=torch.tensor([r[5] for r in rows], dtype=torch.int64), **named)


def compute_directions(G: Generator, dataset, top_k: int = 8, min_crops: Optional[int] = None,
                       max_images: int = 0, device=torch.device("cpu"), autocast=contextlib.nullcontext,
                       category_ids=None) -> DirectionSet:
    """Encode the data set's crops and compute every category's directions (named ones where the data
    records appearance factors).

    ``category_ids`` default: every id 1..num_classes-1 (categories absent from the data fall back).
    """
    codes = encode_crops(G, dataset, max_images, device, autocast)
    ids = range(1, G.cfg.num_classes) if category_ids is None else category_ids

    def through_g(cid, rows, fmap):
        where = [w for w, r in zip(codes.where, rows.tolist()) if r]
        return generator_named_directions(G, dataset, where, fmap, seed=int(cid), device=device, autocast=autocast)

    out = directions_from_codes(codes.objs, codes.mu, ids, G.cfg.z_dim, top_k, min_crops, var=codes.var,
                                attributes=codes.attributes, named_through=through_g)
    out.max_objects = codes.most
    return out


def save_directions(d: DirectionSet, path: Path, step: int) -> None:
    """Write a DirectionSet (and the step of the G it was computed with) atomically."""
    buf = io.BytesIO()
    named = {}
    if d.names:
        named = {"names": list(d.names), **{k: getattr(d, k) for k in NAMED_KEYS}}
    torch.save({"format": "layout2im-directions", "step": int(step), "max_objects": int(d.max_objects),
                **{k: getattr(d, k) for k in ("ids", "mean", "components", "std", "explained", "fallback",
                                              "counts")}, **named}, buf)
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
        if d.get("names"):
            fields.update(names=tuple(str(n) for n in d["names"]), **{k: d[k] for k in NAMED_KEYS})
        return DirectionSet(**fields, max_objects=int(d.get("max_objects", 0))), int(d["step"])
    except Exception as e:  # missing, truncated, not a torch file, wrong keys
        raise ModelFileError(f"{path} is not a readable directions file: {exception_reason(e)}") from None
