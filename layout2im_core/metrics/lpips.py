"""ST-LPIPS-alex: shift-tolerant LPIPS with an AlexNet trunk (Ghildyal & Liu, ECCV 2022).

Our own network carrying the weights shipped inside ``stlpips-pytorch==0.0.2``
(``weights/vST0.0/alex_shift_tolerant.pth``, loaded with ``torch.load(weights_only=True)``). That
package imports torchvision, which does not import beside our torch, so it is never imported; this
file re-implements exactly the path ``stlpips.LPIPS(net="alex", variant="shift_tolerant")`` takes
(package files ``stlpips.py``, ``invariant_networks.py`` class ``alexnet`` variant
``shift_tolerant``, ``models_lpf/downsample.py``, ``utils.normalize_tensor``):

    x in [-1, 1] -> (x - shift) / scale  (ScalingLayer; the package keeps version "0.1", so it scales)
    slice1: conv 3->64 k11 s1 p2, BlurPool(64), ReLU                       -> relu1
    slice2: MaxPool k3 s1, BlurPool(64), conv 64->192 k5 p2, ReLU          -> relu2
    slice3: MaxPool k3 s1, BlurPool(192), conv 192->384 k3 p1, ReLU        -> relu3
    slice4: conv 384->256 k3 p1, ReLU                                      -> relu4
    slice5: conv 256->256 k3 p1, ReLU                                      -> relu5
    d = sum_l mean_hw( lin_l( (f0_l / (|f0_l| + 1e-10) - f1_l / (|f1_l| + 1e-10))^2 ) )

BlurPool = reflect-pad 2 on every side (``pad_more=True``), then depthwise conv with the stored
[1, 2, 1] x [1, 2, 1] / 16 filter, stride 2. Module names mirror the package's, so the file loads
with ``strict=True``. A test checks that the package's own values are reproduced.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import Layout2ImError, ModelFileError
from . import package_file

LPIPS_PACKAGE = "stlpips_pytorch"
LPIPS_FILE = "weights/vST0.0/alex_shift_tolerant.pth"
CHANNELS = (64, 192, 384, 256, 256)


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling (``models_lpf.Downsample``, filt_size 3, pad_more).

    Args:
        channels: C. The [C, 1, 3, 3] filter is a buffer ``filt`` (stored in the weights file).
    """

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([1.0, 2.0, 1.0])
        filt = a[:, None] * a[None, :]
        self.register_buffer("filt", (filt / filt.sum())[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, H, W] -> [B, C, (H + 1) // 2 + 1, ...]
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


def _seq(*named) -> nn.Sequential:
    """Sequential whose child names are given indices (the package's flat ``features`` numbering)."""
    return nn.Sequential(OrderedDict((str(i), m) for i, m in named))


class _AlexTrunk(nn.Module):
    """AlexNet ``shift_tolerant`` trunk: five slices, returns the five ReLU outputs."""

    def __init__(self):
        super().__init__()
        self.slice1 = _seq((0, nn.Conv2d(3, 64, 11, stride=1, padding=2)), (1, BlurPool(64)), (2, nn.ReLU()))
        self.slice2 = _seq((3, nn.MaxPool2d(3, stride=1)), (4, BlurPool(64)),
                           (5, nn.Conv2d(64, 192, 5, padding=2)), (6, nn.ReLU()))
        self.slice3 = _seq((7, nn.MaxPool2d(3, stride=1)), (8, BlurPool(192)),
                           (9, nn.Conv2d(192, 384, 3, padding=1)), (10, nn.ReLU()))
        self.slice4 = _seq((11, nn.Conv2d(384, 256, 3, padding=1)), (12, nn.ReLU()))
        self.slice5 = _seq((13, nn.Conv2d(256, 256, 3, padding=1)), (14, nn.ReLU()))

    def forward(self, x: torch.Tensor):
        feats = []
        for s in (self.slice1, self.slice2, self.slice3, self.slice4, self.slice5):
            x = s(x)
            feats.append(x)
        return feats


class _ScalingLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450])[None, :, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class _NetLin(nn.Module):
    """1x1 conv to one channel, no bias (the package's ``NetLinLayer``; its dropout is a no-op in eval)."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = _seq((1, nn.Conv2d(channels, 1, 1, bias=False)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class STLPIPSAlex(nn.Module):
    """ST-LPIPS distance with the AlexNet trunk. Build with :func:`load_st_lpips_alex`."""

    def __init__(self):
        super().__init__()
        self.scaling_layer = _ScalingLayer()
        self.net = _AlexTrunk()
        for i, c in enumerate(CHANNELS):
            self.add_module(f"lin{i}", _NetLin(c))

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        """Distance per image pair.

        Args:
            img0, img1: [B, 3, H, W] float RGB in [-1, 1], H, W >= 32.
        Returns:
            [B] float.
        """
        if img0.shape != img1.shape or img0.ndim != 4 or img0.shape[1] != 3:
            raise Layout2ImError(f"LPIPS needs two [B, 3, H, W] batches of one shape, got "
                                 f"{list(img0.shape)} and {list(img1.shape)}")
        f0 = self.net(self.scaling_layer(img0))
        f1 = self.net(self.scaling_layer(img1))
        terms = []
        for i, (a, b) in enumerate(zip(f0, f1)):
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)  # [B, C_l, H_l, W_l]
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            terms.append(getattr(self, f"lin{i}")((a - b) ** 2).mean((2, 3)))  # [B, 1]
        d = terms[0]
        for t in terms[1:]:  # summed in layer order
            d = d + t
        return d[:, 0]


@functools.lru_cache(maxsize=2)
def load_st_lpips_alex(device: str = "cpu") -> STLPIPSAlex:
    """The ST-LPIPS-alex network with the package's weights, in eval mode, cached per device.

    Raises:
        ModelFileError: stlpips-pytorch is not installed (names ``pip install
            layout2im-studio[eval]``) or its weights file does not fit the network.
    """
    path = package_file(LPIPS_PACKAGE, LPIPS_FILE)
    net = STLPIPSAlex()
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    except (RuntimeError, KeyError) as e:
        raise ModelFileError(f"{path} does not fit the ST-LPIPS-alex network: {e}") from None
    net.eval().requires_grad_(False)
    return net.to(device)


def uint8_to_lpips_input(images: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in [-1, 1] (x / 127.5 - 1, the package's ``im2tensor``)."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise Layout2ImError(f"images must be uint8 [N, H, W, 3], got {images.dtype} {list(images.shape)}")
    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


def lpips_distances(images0: np.ndarray, images1: np.ndarray, batch_size: int = 50,
                    device: str = "cpu") -> np.ndarray:
    """ST-LPIPS-alex distance of each pair (images0[i], images1[i]).

    Args:
        images0, images1: uint8 [N, H, W, 3] RGB, same shape.
    Returns:
        float64 [N].
    Raises:
        Layout2ImError: arrays of different shapes or not uint8 [N, H, W, 3];
        ModelFileError: package absent.
    """
    if np.shape(images0) != np.shape(images1):
        raise Layout2ImError(f"LPIPS pairs need equal shapes, got {np.shape(images0)} and {np.shape(images1)}")
    net = load_st_lpips_alex(str(device))
    out = []
    with torch.inference_mode():
        for i in range(0, len(images0), batch_size):
            a = uint8_to_lpips_input(images0[i:i + batch_size], device)
            b = uint8_to_lpips_input(images1[i:i + batch_size], device)
            out.append(net(a, b).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)
