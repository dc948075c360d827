"""The fast paths (issue 16) compute the same math as the straightforward formulation they replace,
to 1e-5 in fp32: the split, layer-by-layer conv-LSTM; the two-valued composer with c2 as a sum over
taps (train and eval mode, running statistics included); folded batch norm in eval mode; the
discriminators' pooled convs; the matmul form of tiny-output convs. The reference functions below are
the code of the branch's starting point (0c8c566), written against the same modules."""

import copy

import pytest
import torch
import torch.nn.functional as F

from layout2im_core.config import model_preset
from layout2im_core.geometry import bbox_to_mask
from layout2im_core.inference import Layout2ImModel
from layout2im_core.models import fast_conv
from layout2im_core.models.conv_lstm import ConvLSTM
from layout2im_core.models.discriminators import ImageDiscriminator, ObjectDiscriminator, conv3x3_avg_pool
from layout2im_core.models.generator import Generator
from layout2im_core.types import LayoutSpec, ObjectSpec

pytestmark = pytest.mark.usefixtures("one_thread")


# --- today's formulations, for reference ----------------------------------------------------------
def reference_conv_lstm(lstm: ConvLSTM, feats, obj_mask):
    """The per-step conv-LSTM: one conv over concat(x, h) per layer and object (spec §4.4)."""
    b = feats.shape[0]
    state = lstm.initial_state(b, feats.shape[-1], feats.device)
    for t in range(feats.shape[1]):
        inp, new = feats[:, t], []
        for cell, (h, c) in zip(lstm.cell_list, state):
            i, f, o, g = cell.conv(torch.cat([inp, h], 1)).chunk(4, 1)
            c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h2 = torch.sigmoid(o) * torch.tanh(c2)
            m = obj_mask[:, t, None, None, None]
            h2, c2 = torch.where(m, h2, h), torch.where(m, c2, c)
            new.append((h2, c2))
            inp = h2
        state = new
    return state[-1][0]


def reference_object_features(le, objs, bboxes, z):
    """The literal composer: paint v into the box mask, the 1x1 conv c1 (with legacy numerics its
    padding makes the 66x66 map), CBN, then the conv stack."""
    v = torch.cat([le.embedding(objs), z], 1)
    mask = bbox_to_mask(bboxes, 64)
    canvas = v[:, :, None, None] * mask  # [N, E+Z, 64, 64]
    x = F.relu(le.bn1(le.c1(canvas), objs))
    x = F.relu(le.bn2(le.c2(x), objs))
    x = F.relu(le.bn3(le.c3(x), objs))
    return le.bn4(le.c4(x), objs)


def reference_generate(G, objs, bboxes, z, obj_mask):
    le = G.layout_encoder
    feats = reference_object_features(le, objs[obj_mask], bboxes[obj_mask], z[obj_mask])
    h = reference_conv_lstm(le.clstm, le.scatter(feats, obj_mask), obj_mask)
    return G.decode(le.residual(h), objs, bboxes, z, obj_mask)


def assert_grad_close(a, b, rel=1e-4):
    """Gradients agree to ``rel`` of their largest entry (train-mode batch norm makes single entries
    ill-conditioned: a 1e-7 change of the input moves them by more than that)."""
    assert float((a - b).abs().max()) <= rel * float(b.abs().max()) + 1e-12


def _trained_like(G):
    """Non-trivial running statistics, as a trained model has."""
    g = torch.Generator().manual_seed(3)
    for m in G.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return G


def _layouts(cfg, b=2, o=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    objs = torch.randint(1, cfg.num_classes, (b, o), generator=g)
    xy = torch.rand(b, o, 2, generator=g) * 0.6
    bboxes = torch.cat([xy, (xy + 0.1 + torch.rand(b, o, 2, generator=g) * 0.4).clamp(max=1)], -1)
    obj_mask = torch.ones(b, o, dtype=torch.bool)
    obj_mask[0, 3:] = False
    if b > 1:
        obj_mask[1, 1] = False  # padding in the middle
    return objs, bboxes, torch.randn(b, o, cfg.z_dim, generator=g), obj_mask


# --- conv-LSTM --------------------------------------------------------------------------------------
def test_split_conv_lstm_equals_the_per_step_cell_with_gradients(device):
    torch.manual_seed(0)
    lstm = ConvLSTM(24, (16, 8, 8), 5).to(device)
    feats = torch.randn(3, 6, 24, 8, 8, device=device, requires_grad=True)
    obj_mask = torch.ones(3, 6, dtype=torch.bool, device=device)
    obj_mask[1, 4:] = False
    obj_mask[2, 2] = False
    ref = reference_conv_lstm(lstm, feats, obj_mask)
    out = lstm(feats, obj_mask)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    g_ref = torch.autograd.grad(ref.square().sum(), [feats, *lstm.parameters()])
    g_out = torch.autograd.grad(out.square().sum(), [feats, *lstm.parameters()])
    for a, b in zip(g_out, g_ref):
        assert_grad_close(a, b)
    with torch.no_grad():  # the cached-weight inference path
        torch.testing.assert_close(lstm(feats, obj_mask), ref.detach(), atol=1e-5, rtol=0)


def test_conv_lstm_cached_weights_follow_weight_updates(device):
    torch.manual_seed(1)
    lstm = ConvLSTM(8, (8,), 3).to(device)
    feats = torch.randn(1, 3, 8, 8, 8, device=device)
    mask = torch.ones(1, 3, dtype=torch.bool, device=device)
    with torch.no_grad():
        before = lstm(feats, mask)
        lstm.cell_list[0].conv.weight.mul_(0.5)  # an in-place update, as an optimiser step
        after = lstm(feats, mask)
        torch.testing.assert_close(after, reference_conv_lstm(lstm, feats, mask))
    assert not torch.allclose(before, after)


# --- composer and conv stack ------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [False, True])
def test_two_valued_composer_in_train_mode_equals_the_literal_one(legacy, device):
    """Batch statistics, running-statistics updates (momentum and cumulative) and gradients."""
    cfg = model_preset("tiny", 20, legacy_numerics=legacy)
    torch.manual_seed(2)
    le = Generator(cfg).layout_encoder.train().to(device)
    ref_le = copy.deepcopy(le)
    objs, bboxes, z, obj_mask = (t.to(device) for t in _layouts(cfg))
    objs, bboxes, z = objs[obj_mask], bboxes[obj_mask], z[obj_mask].requires_grad_()
    ref = reference_object_features(ref_le, objs, bboxes, z)  # c1's padding paints the 66x66 map if legacy
    out = le.object_features(objs, bboxes, z)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    for a, b in zip(le.buffers(), ref_le.buffers()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    g_out = torch.autograd.grad(out.square().sum(), [z, *le.parameters()], allow_unused=True)
    g_ref = torch.autograd.grad(ref.square().sum(), [z, *ref_le.parameters()], allow_unused=True)
    for a, b in zip(g_out, g_ref):
        if b is not None:
            assert_grad_close(a, b)
    le.bn1.bn.momentum = ref_le.bn1.bn.momentum = None  # the cumulative average (Layout2ImModel.random)
    with torch.no_grad():
        le.object_features(objs, bboxes, z)
        reference_object_features(ref_le, objs, bboxes, z)
    torch.testing.assert_close(le.bn1.bn.running_mean, ref_le.bn1.bn.running_mean, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(le.bn1.bn.running_var, ref_le.bn1.bn.running_var, atol=1e-6, rtol=1e-5)
    assert int(le.bn1.bn.num_batches_tracked) == int(ref_le.bn1.bn.num_batches_tracked) == 2


@pytest.mark.parametrize("preset", ["paper", "lite-masks", "isla"])
def test_eval_fast_path_equals_todays_generate(preset, device):
    """The whole inference path (no gradients: cached, folded, split weights) against the reference
    formulation, with the paper's full widths."""
    cfg = model_preset(preset, 12)
    torch.manual_seed(4)
    G = _trained_like(Generator(cfg)).eval().to(device)
    objs, bboxes, z, obj_mask = (t.to(device) for t in _layouts(cfg, b=2, o=8))
    with torch.no_grad():
        ref = reference_generate(G, objs, bboxes, z, obj_mask)
        out = G.generate(objs, bboxes, z, obj_mask)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
        again = G.generate(objs, bboxes, z, obj_mask)  # cached weights give the same image
    assert torch.equal(out, again)


def test_isla_inference_weight_copies_follow_weight_updates(device):
    """The isla decoder and the bottleneck before it keep channels-last copies of their conv weights
    (and the folded batch norms) for inference; after in-place weight updates, as an optimiser makes,
    inference must still equal the eval-mode form that takes gradients (no cached copies)."""
    cfg = model_preset("isla", 12)
    torch.manual_seed(6)
    G = _trained_like(Generator(cfg)).eval().to(device)
    objs, bboxes, z, obj_mask = (t.to(device) for t in _layouts(cfg, b=1, o=4))

    def both():
        with torch.no_grad():
            fast = G.generate(objs, bboxes, z, obj_mask)
        with torch.enable_grad():
            slow = G.generate(objs, bboxes, z, obj_mask)
        assert slow.requires_grad and not fast.requires_grad
        torch.testing.assert_close(fast, slow.detach(), atol=1e-5, rtol=0)
        return fast

    before = both()
    dec, le = G.decoder, G.layout_encoder
    with torch.no_grad():
        for w in (dec.stem.weight, dec.blocks[0].conv1.weight, dec.blocks[1].conv2.weight,
                  dec.blocks[1].shortcut.weight, dec.conv_out.weight, le.residual[0].main[0].weight):
            w.mul_(1.5)
        le.residual[0].main[1].running_var.mul_(2.0)
    after = both()
    assert (after - before).abs().max() > 1e-3  # the updates reached the image


def test_model_edit_path_equals_the_reference_render():
    m = Layout2ImModel.random("tiny", seed=3)
    _trained_like(m.G)
    m.clear_cache()
    objs = tuple(ObjectSpec(m.categories[i], (0.1 * i, 0.05 * i, 0.4 + 0.1 * i, 0.5 + 0.05 * i),
                            tuple(m.sample_z(1, i)[0])) for i in range(5))
    m.render_float(LayoutSpec(objs))
    edited = LayoutSpec((objs[0].with_z(tuple(m.sample_z(1, 99)[0])),) + objs[1:])
    fast = m.render_float(edited)
    ids = torch.tensor([m.vocabulary.id_of(o.category) for o in edited.objects])[None]
    bboxes = torch.tensor([o.bbox for o in edited.objects], dtype=torch.float32)[None]
    z = torch.tensor([o.z for o in edited.objects], dtype=torch.float32)[None]
    with torch.no_grad():
        ref = m.G.to_unit(reference_generate(m.G, ids, bboxes, z, torch.ones(1, 5, dtype=torch.bool)))
    torch.testing.assert_close(torch.from_numpy(fast), ref[0].permute(1, 2, 0), atol=1e-5, rtol=0)


@pytest.mark.parametrize("preset", ["tiny", "tiny-isla"])
def test_repeated_edits_of_the_last_object_reuse_the_recurrent_share_and_stay_exact(preset):
    m = Layout2ImModel.random(preset, seed=4)
    _trained_like(m.G)
    m.clear_cache()
    objs = tuple(ObjectSpec(m.categories[i], (0.1 * i, 0.05 * i, 0.4 + 0.1 * i, 0.5 + 0.05 * i),
                            tuple(m.sample_z(1, i)[0])) for i in range(4))
    m.render_float(LayoutSpec(objs))
    cells = m.G.layout_encoder.clstm.cell_list
    seen = []
    for k in range(3):  # a slider drag on the last object: the state before it stays the same
        lay = LayoutSpec(objs[:3] + (objs[3].with_z(tuple(m.sample_z(1, 50 + k)[0])),))
        fast = m.render_float(lay)
        seen.append([cell._memo[2] for cell in cells])
        torch.testing.assert_close(torch.from_numpy(fast), torch.from_numpy(m.render_float(lay, use_cache=False)),
                                   atol=1e-5, rtol=0)
    # the first edit computed each layer's share, the second and third reused it
    assert all(a is b is c for a, b, c in zip(*seen))


# --- discriminators and tiny-output convs -------------------------------------------------------------
def test_pooled_conv_equals_conv_then_pool_with_gradients(device):
    torch.manual_seed(5)
    conv = torch.nn.Conv2d(6, 10, 3, 1, 1).to(device)
    for size in (8, 4):  # 4 -> a 2x2 output: the matmul form on CPU
        x = torch.randn(3, 6, size, size, device=device, requires_grad=True)
        ref = F.avg_pool2d(conv(x), 2)
        out = conv3x3_avg_pool(conv, x)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
        for a, b in zip(torch.autograd.grad(out.square().sum(), [x, *conv.parameters()]),
                        torch.autograd.grad(ref.square().sum(), [x, *conv.parameters()])):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_tiny_output_conv_as_matmul_equals_conv():
    torch.manual_seed(6)
    conv = torch.nn.Conv2d(8, 16, 4, 2, 1, bias=False)
    x = torch.randn(5, 8, 4, 4, requires_grad=True)
    out, ref = fast_conv.conv2d_module(conv, x), conv(x)
    assert out.shape == ref.shape == (5, 16, 2, 2)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.autograd.grad(out.sum(), x)[0], torch.autograd.grad(ref.sum(), x)[0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fast_conv.conv2d_module(conv, x).dtype == torch.bfloat16


def test_discriminators_equal_the_plain_blocks(device):
    """D_img and D_obj with pooling after each block's conv2 and shortcut, as the reference."""
    cfg = model_preset("tiny", 7)

    def plain(block, x):
        from layout2im_core.models.discriminators import ResBlock
        if isinstance(block, ResBlock):
            x = F.relu(x)
            r, s = block.conv2(F.relu(block.conv1(x))), block.c_sc(x)
            return (F.avg_pool2d(r, 2) + F.avg_pool2d(s, 2)) if block.downsample else r + s
        r = block.conv2(F.relu(block.conv1(x)))
        return F.avg_pool2d(r, 2) + block.c_sc(F.avg_pool2d(x, 2)) if block.downsample else r + block.c_sc(x)

    for D, size in ((ImageDiscriminator(cfg), 64), (ObjectDiscriminator(cfg), 32)):
        D.eval().to(device)  # eval: no power iteration, both passes see the same normalised weights
        x = torch.randn(3, 3, size, size, device=device)
        a = b = x
        for block in D.blocks:
            a, b = block(a), plain(block, b)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
