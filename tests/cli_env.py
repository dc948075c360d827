"""The small world the CLI tests run in: a tiny model file, a small procedural-scenes folder and a
one-step tiny run (with its directions), built in a few seconds."""

from pathlib import Path

import torch


def build(root: Path) -> dict:
    """Build it under ``root``: ``{"root", "model", "scenes", "run"}``."""
    from layout2im_core.data.scenes import make_scenes
    from layout2im_core.inference import Layout2ImModel
    from layout2im_core.training.config import train_preset
    from layout2im_core.training.trainer import train

    model = root / "tiny.safetensors"
    Layout2ImModel.random("tiny", seed=1).save(model)
    scenes = root / "scenes"
    make_scenes(4, scenes, seed=0, size=64, progress=False)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = train_preset("tiny-test").replace(data_path=str(scenes), split="all", iterations=1)
        train(cfg, root / "run", progress=False, argv=["test"])
    finally:
        torch.set_num_threads(n)
    return {"root": root, "model": model, "scenes": scenes, "run": root / "run"}
