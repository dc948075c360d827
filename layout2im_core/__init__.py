"""Layout2Im core: the model, its losses, data readers, trainer, metrics and inference API.

Importing this package is cheap: it does not import torch. Submodules that need torch import it
themselves, so the app can show its window before torch loads.

Shape legend used in every docstring of this package:
    B  images in a batch          O  objects per image (padded to the batch maximum)
    N  real objects in a batch (packed, ``obj_mask.sum()``)
    Z  z dimension (``z_obj``)    E  category embedding dimension (``obj_emb``)
    C, H, W  channels, height, width      S  object crop size (32 in the paper)
Images inside networks are float NCHW; they become uint8 HWC only at the edge (inference API).
"""

__version__ = "0.1.0"
