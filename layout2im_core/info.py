"""Model facts for ``layout2im info``: parameter counts per network and module, and forward FLOPs of
the layout-only ``generate`` path for one image with 1..8 objects.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (conv and matmul only, 2 FLOPs
per multiply-add), the convention of the spec's §12.2. Our composer computes the 1x1 conv c1 as a
matmul on the 128-d object vector (same math, fewer FLOPs), so counts are below the reference's.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import ModelConfig, model_preset
from .models.discriminators import ImageDiscriminator, ObjectDiscriminator
from .models.generator import Generator


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_counts(G: Generator, D_img: torch.nn.Module, D_obj: torch.nn.Module) -> Dict:
    """Nested dict of parameter counts (ints) per network and per direct submodule."""
    def tree(m):
        return {"total": _count(m), **{name: _count(c) for name, c in m.named_children() if _count(c)}}

    return {"generator": {"total": _count(G), "crop_encoder": tree(G.crop_encoder),
                          "layout_encoder": tree(G.layout_encoder), "decoder": tree(G.decoder)},
            "D_img": tree(D_img), "D_obj": tree(D_obj)}


@torch.no_grad()
def generate_flops(G: Generator, n_objects: int) -> int:
    """Forward FLOPs of G.generate for 1 image with ``n_objects`` objects (eval mode)."""
    G.eval()
    cfg = G.cfg
    objs = torch.ones(1, n_objects, dtype=torch.int64)
    bboxes = torch.tensor([0.1, 0.1, 0.7, 0.8]).repeat(1, n_objects, 1)
    z = torch.zeros(1, n_objects, cfg.z_dim)
    with FlopCounterMode(display=False) as fc:
        G.generate(objs, bboxes, z, torch.ones(1, n_objects, dtype=torch.bool))
    return int(fc.get_total_flops())


def model_info(preset: str, num_classes: int = 184) -> Dict:
    """JSON-able dict: preset, config, parameter counts, GFLOPs of generate for 1..8 objects.

    Raises:
        KeyError: unknown preset.
    """
    return config_info(model_preset(preset, num_classes), preset)


def config_info(cfg: ModelConfig, preset: str) -> Dict:
    """``model_info`` of a given config (a model file's): preset name, num_classes, config, parameter
    counts of G, D_img and D_obj, GFLOPs of one inference-form render for 1..8 objects."""
    G = Generator(cfg)
    info = {"preset": preset, "num_classes": cfg.num_classes, "config": cfg.to_dict(),
            "parameters": parameter_counts(G, ImageDiscriminator(cfg), ObjectDiscriminator(cfg)),
            "generate_gflops_1_image": {str(n): round(generate_flops(G, n) / 1e9, 4) for n in range(1, 9)}}
    return info
