"""The isla preset (ISLA decoder): parameter counts and shapes, modulation near the identity at
initialisation, locality by construction at initialisation, the mask composition, model files of
the preset that lack weights, and old model files that must keep loading and rendering identically."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layout2im_core.checkpoint import ModelFile, load_model_file, save_model_file
from layout2im_core.config import model_preset
from layout2im_core.errors import ModelFileError
from layout2im_core.inference import Layout2ImModel
from layout2im_core.metrics.scene_figures import change_share_inside
from layout2im_core.models.generator import Generator
from layout2im_core.models.style_decoder import ISLA_INIT_STD, IslaNorm, compose_masks
from layout2im_core.types import LayoutSpec, ObjectSpec

DATA = Path(__file__).parent / "data"


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _decoder_params(cfg) -> int:
    """The ISLA decoder's parameters by formula (models/style_decoder.py)."""
    s, h, m = cfg.embedding_dim + cfg.z_dim, cfg.isla_hidden, cfg.mask_size
    w = cfg.decoder_widths
    lin = lambda i, o: i * o + o  # noqa: E731
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731
    n = lin(s, h) + lin(h, h)  # style MLP
    n += lin(s, h) + lin(h, m * m)  # mask MLP
    n += conv(cfg.clstm_hidden[-1], w[0], 3)  # stem
    for cin, cout in zip(w[:-1], w[1:]):
        n += lin(h, 2 * cin) + conv(cin, cout, 3) + lin(h, 2 * cout) + conv(cout, cout, 3)
        n += conv(cin, cout, 1) if cin != cout else 0
    return n + lin(h, 2 * w[-1]) + conv(w[-1], 3, 3)


def test_parameter_counts_and_shapes():
    cfg = model_preset("isla", 184)
    G = Generator(cfg)
    assert _count(G.decoder) == _decoder_params(cfg) == 696_579
    lite = Generator(model_preset("lite", 184))  # encoders and fuser are lite's
    assert _count(G.crop_encoder) == _count(lite.crop_encoder)
    assert _count(G.layout_encoder) == _count(lite.layout_encoder)
    assert _count(G) == 2_283_507
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in G.modules())  # no checkerboard-prone layers
    b, o = 2, 5
    objs = torch.randint(1, 184, (b, o))
    xy = torch.rand(b, o, 2) * 0.6
    bboxes = torch.cat([xy, xy + 0.3], -1)
    mask = torch.ones(b, o, dtype=torch.bool)
    mask[1, 3:] = False
    z = torch.randn(b, o, cfg.z_dim)
    with torch.no_grad():
        img = G.eval().generate(objs, bboxes, z, mask)
        lay = G.decoder.style_layout(G.layout_encoder.embedding(objs), z, bboxes, mask)
    assert img.shape == (b, 3, 64, 64) and float(img.abs().max()) <= 1.0
    assert [tuple(w.shape) for w in lay.weights] == [(b, o, r, r) for r in (8, 16, 32, 64)]
    total = lay.weights[-1].sum(1)
    assert float(total.max()) <= 1.0 + 1e-6 and float(lay.weights[-1][1, 3:].abs().max()) == 0.0  # padding: none
    with pytest.raises(ValueError, match="h dimension 1"):
        G.decoder(torch.zeros(1, 5, 8, 8), lay)


def test_compose_masks_stacks_later_objects_on_top():
    masks = torch.zeros(1, 3, 2, 2)
    masks[0, 0] = 1.0  # background everywhere
    masks[0, 1, 0, 0] = 1.0  # an opaque object at (0, 0)
    masks[0, 2, 0, :] = 0.5  # a half-transparent one along the top row
    w = compose_masks(masks)
    assert w[0, :, 0, 0].tolist() == [0.0, 0.5, 0.5]  # (0, 0): object 2 over object 1 over the background
    assert w[0, :, 0, 1].tolist() == [0.5, 0.0, 0.5]
    assert w[0, :, 1, 1].tolist() == [1.0, 0.0, 0.0]


def test_modulation_starts_near_the_identity():
    torch.manual_seed(0)
    norm = IslaNorm(16, 32).eval()
    norm.bn.running_mean.normal_()
    norm.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, 16, 8, 8)
    style = torch.randn(4, 3, 32)  # unit-scale styles
    weights = torch.rand(4, 3, 8, 8)
    weights = weights / weights.sum(1, keepdim=True)
    out, plain = norm(x, style, weights), norm.bn(x)
    gb = norm.proj(style)  # the modulation: |gamma|, |beta| of the order of ISLA_INIT_STD * sqrt(32)
    assert float(gb.detach().abs().max()) < 6 * ISLA_INIT_STD * 32 ** 0.5 < 0.2
    assert float((out - plain).abs().mean()) < 0.05 * float(plain.abs().mean())
    assert float(norm.proj.bias.abs().max()) == 0.0
    with torch.no_grad():
        norm.proj.weight.zero_()
    assert torch.equal(norm(x, style, weights), plain)  # zero projection: exactly the plain normalisation


def test_one_objects_z_changes_pixels_near_its_box_at_initialisation():
    """At initialisation z reaches the image only through the ISLA decoder (the composer's z weights are
    zero), so a re-drawn z changes pixels inside its object's mask, plus what the decoder's convolutions
    spread: the 8 and 16 px stages are modulated through masks pooled to 8- and 4-pixel cells and then
    pass through 3x3 convolutions at 8, 16 and 32 px, which reach up to 8 px beyond a box at 64x64. So the
    tolerance: >= 95 % of the change within the box + 8 px (on average), >= 75 % within + 2 px."""
    from layout2im_core.data.scenes import sample_scene

    m = Layout2ImModel.random("isla", seed=0)
    near, close = [], []
    for i in range(12):
        lay = sample_scene(1000 + i).to_layout_spec()
        z = m.sample_z(len(lay), i)
        k = i % len(lay)
        z2 = z.copy()
        z2[k] = np.random.default_rng([i, 99]).standard_normal(m.z_dim)
        a = m.render_float(LayoutSpec(tuple(o.with_z(z[j]) for j, o in enumerate(lay.objects))), use_cache=False)
        b = m.render_float(LayoutSpec(tuple(o.with_z(z2[j]) for j, o in enumerate(lay.objects))), use_cache=False)
        assert np.abs(a - b).max() > 0  # z does something
        near.append(change_share_inside(a, b, lay.objects[k].bbox, 8))
        close.append(change_share_inside(a, b, lay.objects[k].bbox, 2))
    assert np.mean(near) >= 0.95 and np.mean(close) >= 0.75, (np.mean(near), np.mean(close))
    G = Generator(model_preset("isla", 184))
    assert float(G.layout_encoder.c1.weight[:, G.cfg.embedding_dim:].abs().max()) == 0.0


def test_isla_file_missing_modulation_weights_is_refused_whole(tmp_path):
    m = Layout2ImModel.random("tiny-isla", seed=1)
    sd = {k: v for k, v in m.G.state_dict().items() if "norm_out.proj" not in k}
    path = tmp_path / "broken.safetensors"
    save_model_file(path, ModelFile(m.config, m.vocabulary, sd, "broken"))
    with pytest.raises(ModelFileError, match=r"weights do not fit its config \(missing \['decoder\.norm_out\.proj"):
        Layout2ImModel.load(path)


@pytest.mark.parametrize("preset", ["tiny", "tiny-masks"])
def test_old_model_files_load_and_render_identically(preset):
    """Files written by the code before the isla preset (tests/data/old-*.safetensors, with renders made
    by that code) load with today's code and give the same image."""
    # fp32, as the renders were made: with "auto" the precision policy may pick bf16 on a CPU with
    # AVX512-BF16 when its timing says bf16 is faster (seen on such a host: differences up to 0.024)
    m = Layout2ImModel.load(DATA / f"old-{preset}.safetensors", precision="fp32")
    assert m.config.decoder_kind == "paper" and "decoder_kind" not in load_model_file(
        DATA / f"old-{preset}.safetensors").card
    objs = [("sky-other", (0, 0, 1, .45)), ("sea", (0, .45, 1, 1)), ("boat", (.3, .35, .6, .6)),
            ("clouds", (.1, .05, .4, .2))]
    z = m.sample_z(len(objs), 5)
    spec = LayoutSpec(tuple(ObjectSpec(c, b, tuple(map(float, z[i]))) for i, (c, b) in enumerate(objs)))
    expect = np.load(DATA / "old-renders.npz")[preset.replace("-", "_")]
    # float32 rounding: oneDNN picks other kernels (sums in another order) on other CPUs; the renders
    # were made on an AVX512 EPYC and differ by up to 1.2e-6 on an AVX2 one (1/255 is 3.9e-3)
    np.testing.assert_allclose(m.render_float(spec, use_cache=False), expect, atol=1e-5, rtol=0)
    np.testing.assert_allclose(m.render_float(spec), expect, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cin,cout,size", [(6, 4, 5), (8, 8, 8), (3, 5, 1)])
def test_the_fused_upsample_conv_is_the_two_step_function(cin, cout, size):
    """Inference runs nearest x2 + conv3x3 as one stride-2 transposed conv with a derived kernel; it must
    be the same function (float32 rounding), including the borders, and the shortcut's broadcast add
    must equal adding the up-sampled copy."""
    from layout2im_core.models.style_decoder import add_upsampled, upsample_conv3x3

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, 3, 1, 1)
    x = torch.randn(2, cin, size, size)
    ref = conv(F.interpolate(x, scale_factor=2, mode="nearest"))
    out = upsample_conv3x3(x, conv)
    assert out.shape == ref.shape == (2, cout, 2 * size, 2 * size)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)
    r, s = torch.randn(2, cout, 2 * size, 2 * size), torch.randn(2, cout, size, size)
    assert torch.equal(add_upsampled(r, s), r + F.interpolate(s, scale_factor=2, mode="nearest"))
    cl = r.contiguous(memory_format=torch.channels_last)
    assert torch.equal(add_upsampled(cl, s), r + F.interpolate(s, scale_factor=2, mode="nearest"))


def test_an_upblock_in_eval_mode_computes_what_it_trained_as():
    from layout2im_core.models.style_decoder import UpBlock

    torch.manual_seed(1)
    block = UpBlock(8, 4, 6)
    x, style = torch.randn(1, 8, 4, 4), torch.randn(1, 2, 6)
    w_in, w_out = torch.rand(1, 2, 4, 4), torch.rand(1, 2, 8, 8)
    block.train()
    block(x, style, w_in, w_out)  # running statistics move off their initial values
    block.eval()
    with torch.no_grad():
        fused = block(x, style, w_in, w_out)
        block.training = True  # the two-step path, with the same (eval) statistics
        for m in block.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
        two_step = block(x, style, w_in, w_out)
    assert torch.allclose(fused, two_step, atol=1e-5)


def test_isla_norm_with_its_batch_norm_folded_is_the_same_function():
    """In inference the batch norm's running statistics are folded into the style projection (one
    linear map, one batched matmul, one multiply-add); it must equal bn(x) * (1 + gamma) + beta."""
    torch.manual_seed(2)
    norm = IslaNorm(6, 5)
    with torch.no_grad():
        norm.proj.weight.normal_(0, 0.3)
        norm.proj.bias.normal_(0, 0.3)
        norm.bn.running_mean.normal_(0, 1)
        norm.bn.running_var.uniform_(0.2, 3)
    norm.eval()
    x, style, w = torch.randn(2, 6, 8, 8), torch.randn(2, 3, 5), torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        fast = norm(x, style, w)
    with torch.enable_grad():  # gradients wanted: the unfolded form
        ref = norm(x, style, w)
    assert ref.requires_grad and not fast.requires_grad
    assert torch.allclose(fast, ref.detach(), atol=1e-5)
    with torch.no_grad():  # the decoder passes each resolution's pixel-major weights once, for all its norms
        from layout2im_core.models.style_decoder import pixel_major

        assert pixel_major(w).shape == (2, 64, 4)
        assert torch.equal(norm(x, style, w, pixel_major(w)), fast)
        assert torch.equal(norm(x.contiguous(memory_format=torch.channels_last), style, w), fast)
    with torch.no_grad():  # a weight update invalidates the folded copy
        norm.proj.bias.add_(1.0)
        gamma, beta = torch.einsum("bohw,boc->bchw", w, norm.proj(style)).chunk(2, 1)
        assert torch.allclose(norm(x, style, w), norm.bn(x) * (1 + gamma) + beta, atol=1e-5)


def test_decode_takes_a_composed_style_layout_only_for_the_isla_decoder():
    """``Generator.decode(..., style_layout=)`` (the edit path's cached parts) renders the given styles
    and masks, not ones computed from the layout arguments; a decoder without styles refuses one by
    name, as does a layout of another batch size."""
    torch.manual_seed(3)
    G = Generator(model_preset("tiny-isla", 9)).eval()
    objs, obj_mask = torch.tensor([[1, 4]]), torch.ones(1, 2, dtype=torch.bool)
    bboxes, z = torch.tensor([[[0.1, 0.1, 0.6, 0.5], [0.3, 0.4, 0.9, 0.9]]]), torch.randn(1, 2, G.cfg.z_dim)
    with torch.no_grad():
        h = G.layout_encoder(objs, bboxes, z, obj_mask)
        other_z = G.decoder.object_parts(G.layout_encoder.embedding(objs), z + 2, bboxes, obj_mask)
        given = G.decoder.compose_layout(*other_z)
        out = G.decode(h, objs, bboxes, z, obj_mask, style_layout=given)
        assert torch.equal(out, G.decoder(h, given))
        assert (out - G.decode(h, objs, bboxes, z, obj_mask)).abs().max() > 1e-4  # not the layout's own styles
        with pytest.raises(ValueError, match="style_layout is of 1 layouts, h of 2"):
            G.decode(h.repeat(2, 1, 1, 1), objs.repeat(2, 1), bboxes.repeat(2, 1, 1), z.repeat(2, 1, 1),
                     obj_mask.repeat(2, 1), style_layout=given)
    plain = Generator(model_preset("tiny", 9)).eval()
    with pytest.raises(ValueError, match="style_layout"):
        plain.decode(plain.layout_encoder(objs, bboxes, z, obj_mask), objs, bboxes, z, obj_mask, style_layout=given)


def test_the_cached_upsampling_kernel_does_not_keep_the_precision_it_was_first_made_in():
    """A bf16 render first, then fp32: the inference kernel cache holds the weight's own dtype (it
    once kept bf16 and the fp32 render failed with a dtype mismatch)."""
    torch.manual_seed(4)
    G = Generator(model_preset("tiny-isla", 9)).eval()
    objs, obj_mask = torch.tensor([[1, 4]]), torch.ones(1, 2, dtype=torch.bool)
    bboxes, z = torch.tensor([[[0.1, 0.1, 0.6, 0.5], [0.3, 0.4, 0.9, 0.9]]]), torch.randn(1, 2, G.cfg.z_dim)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = G.generate(objs, bboxes, z, obj_mask)
        full = G.generate(objs, bboxes, z, obj_mask)
        with torch.enable_grad():
            ref = G.generate(objs, bboxes, z, obj_mask).detach()  # no cached kernel
    assert full.dtype == torch.float32
    torch.testing.assert_close(full, ref, atol=1e-5, rtol=0)
    assert (low.float() - full).abs().max() < 0.1  # bf16 is close, not equal
