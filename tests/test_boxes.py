import math

import pytest

from layout2im_core.boxes import (
    area,
    area_in_image,
    check_bbox,
    clamp_bbox,
    clip_px,
    clip_unit,
    contains,
    normalise,
    xywh_px_to_bbox,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from layout2im_core.errors import LayoutError


def test_xywh_conversion():
    assert xywh_px_to_bbox([10, 20, 30, 40], 100, 200) == (0.1, 0.1, 0.4, 0.3)
    assert xywh_px_to_bbox([-10, 20, 130, 40], 100, 200, clip=True) == (0.0, 0.1, 1.0, 0.3)
    assert xyxy_to_xywh(xywh_to_xyxy((1.0, 2.0, 3.0, 4.0))) == (1.0, 2.0, 3.0, 4.0)
    assert normalise((10, 20, 50, 100), 100, 200) == (0.1, 0.1, 0.5, 0.5)
    assert clip_px((-5, 3, 120, 250), 100, 200) == (0.0, 3, 100, 200)


@pytest.mark.parametrize("bad", [(0, 0, math.nan, 1), (0, 0, math.inf, 1), (0.5, 0, 0.2, 1), (0.2, 0.2, 0.2, 0.5),
                                 (0, 0, 1), "abcd", None])
def test_bad_boxes_raise(bad):
    with pytest.raises(LayoutError):
        check_bbox(bad, 3)


def test_out_of_range_boxes_clamp_or_raise():
    assert check_bbox((-0.5, 0.1, 1.5, 0.9)) == (0.0, 0.1, 1.0, 0.9)
    with pytest.raises(LayoutError, match="outside"):
        check_bbox((-0.5, 0.1, 1.5, 0.9), clamp=False)


def test_clamp_area_contains():
    assert clamp_bbox((0.9, -0.2, 1.3, 0.1), 0.02) == pytest.approx((0.6, 0.0, 1.0, 0.3))
    assert clamp_bbox((0.5, 0.5, 0.5, 0.5), 0.02) == pytest.approx((0.5, 0.5, 0.52, 0.52))
    assert clip_unit((-1, 0.5, 2, 0.7)) == (0.0, 0.5, 1.0, 0.7)
    assert area((0.0, 0.0, 0.5, 0.5)) == 0.25 and area((0.5, 0.5, 0.0, 0.0)) == 0.0
    assert area_in_image((-0.5, 0.0, 0.5, 1.0)) == 0.5
    assert area_in_image((0, 0, math.nan, 1)) == 0.0 and area_in_image("abcd") == 0.0
    assert contains((0.1, 0.1, 0.5, 0.5), 0.5, 0.1) and not contains((0.1, 0.1, 0.5, 0.5), 0.51, 0.2)

