"""The eval's baselines on a hand-made case where the answer is known: two training images, two
categories."""

import numpy as np
import pytest
import torch

from layout2im_core.errors import DataError
from layout2im_core.metrics.baselines import ColourBoxes, CopyNearest, baseline_images

RED, BLUE, GREEN, WHITE = (1, 0, 0), (0, 0, 1), (0, 1, 0), (1, 1, 1)


def _item(halves, boxes):
    img = torch.zeros(3, 64, 64)
    for colour, (x0, y0, x1, y1) in zip(halves, boxes):
        rgb = torch.tensor(colour, dtype=torch.float32)[:, None, None]
        img[:, int(y0 * 64):int(y1 * 64), int(x0 * 64):int(x1 * 64)] = rgb
    return {"img": img, "objs": torch.tensor([1, 2]), "bboxes": torch.tensor(boxes, dtype=torch.float32)}


LEFT_RIGHT = [(0, 0, 0.5, 1), (0.5, 0, 1, 1)]
TOP_BOTTOM = [(0, 0, 1, 0.5), (0, 0.5, 1, 1)]
TRAIN = [_item((RED, BLUE), LEFT_RIGHT), _item((GREEN, WHITE), TOP_BOTTOM)]  # category 1 red | green, 2 blue | white


def test_colour_boxes_paints_each_category_in_its_mean_colour():
    cb = ColourBoxes.fit(TRAIN)
    assert np.allclose(cb.colours[1], (0.5, 0.5, 0.0)) and np.allclose(cb.colours[2], (0.5, 0.5, 1.0))
    assert np.allclose(cb.background, (0.5, 0.5, 0.5))  # the mean of all training pixels
    img = cb.render([1, 3], torch.tensor([(0, 0, 0.5, 1), (0.5, 0.5, 1, 1)]))  # 3: never seen
    assert img.dtype == np.uint8 and img.shape == (64, 64, 3)
    assert (img[:, :32] == (128, 128, 0)).all() and (img[:, 32:] == 128).all()
    over = cb.render([1, 2], torch.tensor([(0, 0, 1, 1), (0.25, 0.25, 0.75, 0.75)]))  # layout order: 2 on top
    assert (over[32, 32] == (128, 128, 255)).all() and (over[0, 0] == (128, 128, 0)).all()


def test_copy_nearest_picks_the_layout_with_the_highest_summed_category_iou():
    cn = CopyNearest.fit(TRAIN)
    assert cn.nearest([1, 2], torch.tensor(LEFT_RIGHT)) == 0  # IoU 1 + 1 against 1/3 + 1/3
    assert cn.nearest([1, 2], torch.tensor(TOP_BOTTOM)) == 1
    assert cn.nearest([1], torch.tensor([(0, 0, 1, 0.45)])) == 1  # category 1 on top: image 2's region
    swapped = cn.nearest([2, 1], torch.tensor(LEFT_RIGHT))  # 2 left, 1 right: IoU 0 with image 1, 1/3 + 1/3 with 2
    assert swapped == 1
    assert (cn.render([1, 2], torch.tensor(LEFT_RIGHT)) == cn.images[0]).all()
    assert (cn.images[0][0, 0] == (255, 0, 0)).all()


def test_baseline_images_and_empty_training_data():
    out = baseline_images(TRAIN, [TRAIN[1]])
    assert set(out) == {"colour-boxes", "copy-nearest"} and out["copy-nearest"].shape == (1, 64, 64, 3)
    assert (out["copy-nearest"][0, 0, 0] == (0, 255, 0)).all()
    with pytest.raises(DataError):
        ColourBoxes.fit([])
    with pytest.raises(DataError):
        CopyNearest.fit([])
