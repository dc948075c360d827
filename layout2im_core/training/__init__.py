"""Training: config and presets, the D/G step, the loop with run directory, checkpoints and resume,
distributed helpers, appearance directions and export (docs/training.md).

    config.py       TrainConfig, TRAIN_PRESETS, apply_overrides (--set)
    step.py         Networks, Optimizers, train_step (one D step + one G step), NonFiniteLossError
    loader.py       resumable data order (seeded per epoch and per sample)
    trainer.py      Trainer / train(): run directory, logging, samples, checkpoints, signals
    checkpoints.py  training checkpoints (torch.load(weights_only=True)-loadable, atomic, last K)
    samples.py      sample grids (fixed layouts, fixed z)
    distributed.py  device choice, torchrun / DDP helpers
    directions.py   per-category appearance directions (PCA of crop-encoder mu)
    export.py       the inference model file + model card
    commands.py     `layout2im train | directions | export`

Submodules import torch; this package file does not.
"""
