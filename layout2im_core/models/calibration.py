"""Batch-norm calibration of a random-weight generator (``Layout2ImModel.random``: tests, demos)."""

from __future__ import annotations

from typing import Sequence

import torch

from .generator import Generator


@torch.no_grad()
def calibrate_batch_norm(G: Generator, category_ids: Sequence[int], gen: torch.Generator, rounds: int = 4) -> None:
    """Set BN running statistics of a random-weight G from random layouts of ``category_ids``
    (train-mode forwards with momentum None = cumulative average), so its eval-mode images respond to
    the layout. Leaves G in eval mode."""
    ids = torch.tensor(list(category_ids))
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    for _ in range(rounds):
        b, o = 8, 6
        objs = ids[torch.randint(len(ids), (b, o), generator=gen)]  # [B, O]
        x0y0 = torch.rand(b, o, 2, generator=gen) * 0.6
        bboxes = torch.cat([x0y0, x0y0 + 0.15 + torch.rand(b, o, 2, generator=gen) * 0.25], -1).clamp(0, 1)
        z = torch.randn(b, o, G.cfg.z_dim, generator=gen)  # [B, O, Z]
        G.generate(objs, bboxes, z, torch.ones(b, o, dtype=torch.bool))
    for m in bns:
        m.momentum = 0.1
    G.eval()
