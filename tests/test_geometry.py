import math

import pytest
import torch

from layout2im_core.errors import LayoutError
from layout2im_core.geometry import bbox_to_mask, check_bbox, crop_bboxes, xywh_px_to_bbox


def test_mask_rule_matches_reference():
    m = bbox_to_mask(torch.tensor([[0.0, 0.0, 0.5, 0.25]]), 64)[0, 0]
    assert m.shape == (64, 64)
    assert m[:16, :32].all() and m.sum() == 16 * 32
    tiny = bbox_to_mask(torch.tensor([[0.5, 0.5, 0.5001, 0.5001]]), 64)
    assert tiny.sum() == 1  # at least one pixel


def test_xywh_conversion():
    assert xywh_px_to_bbox([10, 20, 30, 40], 100, 200) == (0.1, 0.1, 0.4, 0.3)


@pytest.mark.parametrize("bad", [(0, 0, math.nan, 1), (0, 0, math.inf, 1), (0.5, 0, 0.2, 1), (0.2, 0.2, 0.2, 0.5),
                                 (0, 0, 1), "abcd", None])
def test_bad_boxes_raise(bad):
    with pytest.raises(LayoutError):
        check_bbox(bad, 3)


def test_out_of_range_boxes_clamp_or_raise():
    assert check_bbox((-0.5, 0.1, 1.5, 0.9)) == (0.0, 0.1, 1.0, 0.9)
    with pytest.raises(LayoutError, match="outside"):
        check_bbox((-0.5, 0.1, 1.5, 0.9), clamp=False)


def test_crop_of_full_box_is_a_resize():
    img = torch.arange(64.0).view(1, 1, 8, 8).repeat(1, 3, 1, 1)
    crop = crop_bboxes(img, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([0]), 8, align_corners=True)
    torch.testing.assert_close(crop, img)
