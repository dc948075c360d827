"""Network contracts: shapes, dtypes, paper parameter counts, batched conv-LSTM == sequential."""

import pytest
import torch

from layout2im_core.config import ModelConfig, model_preset, preset_name
from layout2im_core.models.conv_lstm import ConvLSTM
from layout2im_core.models.discriminators import ImageDiscriminator, ObjectDiscriminator
from layout2im_core.models.generator import Generator


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_paper_parameter_counts_match_the_reference():
    cfg = model_preset("paper", 184)
    G = Generator(cfg)
    assert n_params(G) == 27_684_739
    assert n_params(G.crop_encoder) == 12_011_840
    assert n_params(G.layout_encoder) == 13_810_688
    assert n_params(G.decoder) == 1_862_211
    assert n_params(ImageDiscriminator(cfg)) == 10_141_440
    assert n_params(ObjectDiscriminator(cfg)) == 10_330_041
    assert n_params(G.layout_encoder.clstm) == 10_241_024


def test_presets_differ_only_in_widths():
    paper, lite, tiny = (model_preset(p, 184) for p in ("paper", "lite", "tiny"))
    assert paper.legacy_numerics == lite.legacy_numerics == tiny.legacy_numerics is False
    assert preset_name(lite) == "lite" and preset_name(tiny) == "tiny"
    assert n_params(Generator(lite)) < n_params(Generator(paper)) / 4
    with pytest.raises(KeyError, match="unknown preset"):
        model_preset("huge")
    with pytest.raises(ValueError, match="64"):
        ModelConfig(image_size=128)


def _batch(cfg, b=2, o=4):
    torch.manual_seed(0)
    objs = torch.randint(1, cfg.num_classes, (b, o))
    x0y0 = torch.rand(b, o, 2) * 0.5
    bboxes = torch.cat([x0y0, x0y0 + 0.2 + torch.rand(b, o, 2) * 0.3], -1)
    obj_mask = torch.ones(b, o, dtype=torch.bool)
    obj_mask[1, 2:] = False
    return objs, bboxes, obj_mask


def test_generator_training_forward_shapes_and_dtypes():
    cfg = model_preset("tiny", 184)
    G = Generator(cfg)
    objs, bboxes, obj_mask = _batch(cfg)
    n = int(obj_mask.sum())
    out = G(torch.rand(2, 3, 64, 64) * 2 - 1, objs, bboxes, obj_mask, torch.randn(n, cfg.z_dim))
    assert out.img_rec.shape == out.img_rand.shape == (2, 3, 64, 64)
    assert out.crops_real.shape == out.crops_rec.shape == out.crops_rand.shape == (n, 3, 32, 32)
    assert out.mu.shape == out.logvar.shape == out.z_rand_rec.shape == (n, cfg.z_dim)
    assert out.img_rand.dtype == torch.float32
    assert out.img_rand.abs().max() <= 1.0  # tanh output
    d_obj = ObjectDiscriminator(cfg)(out.crops_rand)
    assert d_obj.src.shape == (n,) and d_obj.cls.shape == (n, 184)
    assert ImageDiscriminator(cfg)(out.img_rec).shape == (2,)


def test_batched_conv_lstm_equals_each_sequence_alone():
    torch.manual_seed(1)
    lstm = ConvLSTM(16, (12, 8, 8), 5)
    b, o = 3, 5
    feats = torch.randn(b, o, 16, 8, 8)
    obj_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]], dtype=torch.bool)
    batched = lstm(feats, obj_mask)
    for i in range(b):
        n = int(obj_mask[i].sum())
        alone = lstm(feats[i:i + 1, :n], torch.ones(1, n, dtype=torch.bool))
        torch.testing.assert_close(batched[i:i + 1], alone, atol=1e-5, rtol=0)


def test_padding_in_the_middle_is_skipped():
    torch.manual_seed(2)
    lstm = ConvLSTM(4, (6,), 3)
    feats = torch.randn(1, 3, 4, 8, 8)
    holey = lstm(feats, torch.tensor([[True, False, True]]))
    packed = lstm(feats[:, [0, 2]], torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(holey, packed, atol=1e-5, rtol=0)


def test_layout_encoder_batched_equals_per_image_in_eval():
    cfg = model_preset("tiny", 184)
    G = Generator(cfg).eval()
    objs, bboxes, obj_mask = _batch(cfg, b=3, o=4)
    z = torch.randn(3, 4, cfg.z_dim)
    with torch.no_grad():
        batched = G.generate(objs, bboxes, z, obj_mask)
        for i in range(3):
            n = int(obj_mask[i].sum())
            alone = G.generate(objs[i:i + 1, :n], bboxes[i:i + 1, :n], z[i:i + 1, :n],
                               torch.ones(1, n, dtype=torch.bool))
            torch.testing.assert_close(batched[i:i + 1], alone, atol=1e-5, rtol=0)


def test_composer_shortcut_equals_painting_the_canvas():
    """c1(v * mask) computed as (W v) * mask equals the literal composer + conv (spec §4.4)."""
    for legacy in (False, True):
        cfg = model_preset("tiny", 184, legacy_numerics=legacy)
        le = Generator(cfg).layout_encoder.eval()
        objs = torch.tensor([3, 5])
        bboxes = torch.tensor([[0.1, 0.2, 0.5, 0.9], [0.0, 0.0, 1.0, 0.3]])
        z = torch.randn(2, cfg.z_dim)
        from layout2im_core.geometry import bbox_to_mask
        v = torch.cat([le.embedding(objs), z], 1)
        canvas = v[:, :, None, None] * bbox_to_mask(bboxes, 64)  # [2, E+Z, 64, 64]
        x = torch.relu(le.bn1(le.c1(canvas), objs))
        x = torch.relu(le.bn2(le.c2(x), objs))
        x = torch.relu(le.bn3(le.c3(x), objs))
        literal = le.bn4(le.c4(x), objs)
        with torch.no_grad():
            torch.testing.assert_close(le.object_features(objs, bboxes, z), literal.detach(), atol=1e-5, rtol=1e-5)
        assert literal.shape[-1] == 8


def test_public_forwards_check_their_input_shapes():
    cfg = model_preset("tiny", 184)
    le = Generator(cfg).layout_encoder.eval()
    objs, bboxes = torch.ones(2, 3, dtype=torch.int64), torch.rand(2, 3, 4)
    z, mask = torch.randn(2, 3, cfg.z_dim), torch.ones(2, 3, dtype=torch.bool)
    for call, words in ((lambda: le(objs, bboxes[:, :2], z, mask), "bboxes"),
                        (lambda: le(objs, bboxes, z[..., 1:], mask), "z_obj"),
                        (lambda: le.object_features(objs[0], bboxes[0], z[0, :2]), "z_obj"),
                        (lambda: le.layout_map(objs, bboxes, mask[:1]), "obj_mask"),
                        (lambda: le.bottleneck(torch.zeros(1, 3, 8, 8)), "h"),
                        (lambda: le.clstm(torch.zeros(2, 3, 5, 8, 8), mask), "feats"),
                        (lambda: le.clstm.cell_list[0](torch.zeros(1, 5, 8, 8), None, None), "x")):
        with pytest.raises(ValueError, match=words):
            call()
