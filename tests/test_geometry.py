import torch

from layout2im_core.geometry import bbox_to_mask, crop_bboxes


def test_mask_rule_matches_reference():
    m = bbox_to_mask(torch.tensor([[0.0, 0.0, 0.5, 0.25]]), 64)[0, 0]
    assert m.shape == (64, 64)
    assert m[:16, :32].all() and m.sum() == 16 * 32
    tiny = bbox_to_mask(torch.tensor([[0.5, 0.5, 0.5001, 0.5001]]), 64)
    assert tiny.sum() == 1  # at least one pixel


def test_crop_of_full_box_is_a_resize():
    img = torch.arange(64.0).view(1, 1, 8, 8).repeat(1, 3, 1, 1)
    crop = crop_bboxes(img, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([0]), 8, align_corners=True)
    torch.testing.assert_close(crop, img)
