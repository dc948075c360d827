"""Inference API: edit path == full forward, save -> load bit-identical, bad inputs raise."""

import math

import numpy as np
import pytest
import torch

from layout2im_core.errors import LayoutError, ModelFileError, UnknownCategoryError
from layout2im_core.inference import Layout2ImModel, resolve_model
from layout2im_core.types import LayoutSpec, ObjectSpec
from layout2im_core.vocab import Vocabulary


@pytest.fixture(scope="module", params=["tiny", "tiny-masks", "tiny-isla"])
def model(request):
    m = Layout2ImModel.random(request.param, seed=3)  # BN statistics calibrated on random layouts
    return m


def layout(model, n=6, seed=0):
    rng = np.random.default_rng(seed)
    cats = model.categories
    objs = []
    for i in range(n):
        x0, y0 = rng.uniform(0, 0.6, 2)
        w, h = rng.uniform(0.15, 0.4, 2)
        objs.append(ObjectSpec(cats[int(rng.integers(len(cats)))], (x0, y0, x0 + w, y0 + h),
                               tuple(model.sample_z(1, seed * 100 + i)[0])))
    return LayoutSpec(tuple(objs))


def replace(lay, i, obj):
    objs = list(lay.objects)
    objs[i] = obj
    return LayoutSpec(tuple(objs))


def test_generate_shape_dtype_and_repeatability(model):
    lay = layout(model)
    img = model.generate(lay)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert np.array_equal(img, model.generate(lay, use_cache=False))
    assert model.generate_batch([lay, lay]).shape == (2, 64, 64, 3)


@pytest.mark.parametrize("which", ["bbox", "z", "category", "first", "last"])
def test_edit_path_equals_full_forward(model, which):
    model.clear_cache()
    lay = layout(model, seed=1)
    model.render_float(lay)
    i = {"first": 0, "last": 5}.get(which, 3)
    o = lay.objects[i]
    if which == "bbox" or which in ("first", "last"):
        edited = o.with_bbox((0.3, 0.3, 0.95, 0.8))
    elif which == "z":
        edited = o.with_z(np.asarray(o.z) + 1.5)
    else:
        edited = ObjectSpec(model.categories[7], o.bbox, o.z)
    lay2 = replace(lay, i, edited)
    fast = model.render_float(lay2)
    full = model.render_float(lay2, use_cache=False)
    np.testing.assert_allclose(fast, full, atol=1e-5, rtol=0)
    assert np.abs(fast - model.render_float(lay, use_cache=False)).max() > 1e-4  # the edit did something


def test_edit_path_handles_added_removed_and_reordered_objects(model):
    model.clear_cache()
    lay = layout(model, seed=2)
    model.render_float(lay)
    for lay2 in (LayoutSpec(lay.objects[:4]), LayoutSpec(lay.objects + layout(model, 1, seed=9).objects),
                 LayoutSpec(tuple(reversed(lay.objects)))):
        np.testing.assert_allclose(model.render_float(lay2), model.render_float(lay2, use_cache=False),
                                   atol=1e-5, rtol=0)


def test_edit_path_reuses_cached_objects(model, monkeypatch):
    model.clear_cache()
    lay = layout(model, seed=4)
    model.render_float(lay)
    calls = []
    real = model.G.layout_encoder.object_features
    monkeypatch.setattr(model.G.layout_encoder, "object_features", lambda *a: calls.append(a[0].shape[0]) or real(*a))
    steps = []
    first_cell = model.G.layout_encoder.clstm.cell_list[0]
    real_update = first_cell.update  # every step of the first layer ends in it
    monkeypatch.setattr(first_cell, "update", lambda *a: steps.append(1) or real_update(*a))
    parts = []
    if model.config.decoder_kind == "isla":  # the decoder's per-object style and mask are cached too
        dec = model.G.decoder
        real_parts = dec.object_parts
        monkeypatch.setattr(dec, "object_parts", lambda *a: parts.append(a[0].shape[1]) or real_parts(*a))
    edited = replace(lay, 5, lay.objects[5].with_z(np.zeros(model.z_dim)))
    image = model.render_float(edited)
    assert calls == [1] and len(steps) == 1  # one object re-encoded, one conv-LSTM step
    assert parts == ([1] if model.config.decoder_kind == "isla" else [])
    np.testing.assert_allclose(image, model.render_float(edited, use_cache=False), atol=1e-5, rtol=0)


def test_save_load_bit_identical(model, tmp_path):
    lay = layout(model, seed=5)
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = Layout2ImModel.load(path, device="cpu", precision="fp32")
    assert np.array_equal(model.render_float(lay, use_cache=False), loaded.render_float(lay, use_cache=False))
    assert loaded.vocabulary == model.vocabulary and loaded.config == model.config


def test_missing_z_is_seeded(model):
    lay = LayoutSpec.of(ObjectSpec(model.categories[0], (0.1, 0.1, 0.6, 0.6)))
    assert np.array_equal(model.generate(lay, seed=7), model.generate(lay, seed=7))
    assert not np.array_equal(model.generate(lay, seed=7), model.generate(lay, seed=8))


def test_bf16_close_to_fp32(model):
    lay = layout(model, seed=6)
    ref = model.render_float(lay, use_cache=False)
    model.set_precision("bf16")
    try:
        assert model.precision == "bf16"
        assert np.abs(model.render_float(lay) - ref).mean() < 0.05
    finally:
        model.set_precision("fp32")


def test_encode_appearance_returns_mu(model):
    img = (np.random.default_rng(0).random((48, 80, 3)) * 255).astype(np.uint8)
    z = model.encode_appearance(img, (0.1, 0.2, 0.6, 0.9), model.categories[2])
    assert z.shape == (model.z_dim,) and z.dtype == np.float32
    np.testing.assert_array_equal(z, model.encode_appearance(img, (0.1, 0.2, 0.6, 0.9), model.categories[2]))
    with pytest.raises(LayoutError):
        model.encode_appearance(np.zeros((4, 4, 7), np.uint8), (0, 0, 1, 1), model.categories[2])


def test_directions_fallback_is_unit_axes(model):
    d = model.directions(model.categories[0], k=6)
    assert d.fallback and d.components.shape == (6, model.z_dim)
    np.testing.assert_array_equal(d.components, np.eye(model.z_dim)[:6])


# --- bad input ---------------------------------------------------------------------------------
def bad(model, objs):
    return LayoutSpec(tuple(objs))


@pytest.mark.parametrize("bbox,match", [((0, 0, math.nan, 1), "NaN"), ((0, 0, math.inf, 1), "NaN"),
                                        ((0.6, 0.1, 0.2, 0.5), "inverted"), ((0.2, 0.2, 0.2, 0.6), "zero area"),
                                        ((1.2, 0.0, 1.5, 1.0), "zero area")])
def test_bad_boxes(model, bbox, match):
    with pytest.raises(LayoutError, match=match):
        model.generate(LayoutSpec.of(ObjectSpec(model.categories[0], bbox)))


def test_out_of_range_boxes_are_clamped(model):
    a = model.generate(LayoutSpec.of(ObjectSpec(model.categories[0], (-0.2, -0.1, 1.4, 0.5), (0.0,) * model.z_dim)))
    b = model.generate(LayoutSpec.of(ObjectSpec(model.categories[0], (0.0, 0.0, 1.0, 0.5), (0.0,) * model.z_dim)))
    assert np.array_equal(a, b)


def test_empty_layout(model):
    with pytest.raises(LayoutError, match="empty"):
        model.generate(LayoutSpec())


def test_unknown_categories_are_all_named(model):
    lay = LayoutSpec.of(ObjectSpec("unicorn", (0, 0, 1, 1)), ObjectSpec("dragon", (0, 0, 1, 1)))
    with pytest.raises(UnknownCategoryError) as e:
        model.generate(lay)
    assert set(e.value.labels) == {"unicorn", "dragon"}
    with pytest.raises(UnknownCategoryError):
        model.generate(LayoutSpec.of(ObjectSpec("__image__", (0, 0, 1, 1))))


def test_too_many_objects(model):
    lay = layout(model, n=model.config.max_objects + 1)
    with pytest.raises(LayoutError, match="at most"):
        model.generate(lay)


def test_wrong_z(model):
    with pytest.raises(LayoutError, match="z has 3 values"):
        model.generate(LayoutSpec.of(ObjectSpec(model.categories[0], (0, 0, 1, 1), (0.0, 1.0, 2.0))))
    with pytest.raises(LayoutError, match="NaN"):
        model.generate(LayoutSpec.of(ObjectSpec(model.categories[0], (0, 0, 1, 1), (math.nan,) * model.z_dim)))


def test_layout_warnings(model):
    lay = LayoutSpec(tuple(ObjectSpec(model.categories[0], (0, 0, 0.1, 0.1)) for _ in range(9)))
    w = " ".join(model.layout_warnings(lay))
    assert "at most 8" in w and "2%" in w
    big = ObjectSpec(model.categories[0], (0, 0, 1, 1))
    small = ObjectSpec(model.categories[1], (0, 0, 0.1, 0.1))
    (w,) = model.layout_warnings(LayoutSpec((big, small)))
    assert w.endswith(f"objects 2 ({model.categories[1]})")  # counted from 1, as the objects are listed


# --- bad model files ---------------------------------------------------------------------------
def test_bad_model_files(model, tmp_path):
    path = tmp_path / "m.safetensors"
    model.save(path)
    data = path.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.safetensors").write_text("hello, not a model")
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    for name in ("trunc", "text", "foreign"):
        with pytest.raises(ModelFileError):
            Layout2ImModel.load(tmp_path / f"{name}.safetensors")
    with pytest.raises(ModelFileError, match="shipped models"):
        Layout2ImModel.load(tmp_path / "missing.safetensors")
    with pytest.raises(ModelFileError):
        resolve_model("no-such-model")


def test_model_of_another_vocabulary_or_preset_does_not_load(model, tmp_path):
    from layout2im_core.checkpoint import ModelFile, load_model_file, save_model_file
    from layout2im_core.config import model_preset

    path = tmp_path / "m.safetensors"
    model.save(path)
    mf = load_model_file(path)
    # weights of the tiny preset under a lite config
    save_model_file(tmp_path / "preset.safetensors", ModelFile(model_preset("lite", 184), mf.vocabulary, mf.state_dict))
    with pytest.raises(ModelFileError, match="do not fit"):
        Layout2ImModel.load(tmp_path / "preset.safetensors")
    # a vocabulary of another size than the weights
    vg = Vocabulary.builtin("vg")
    save_model_file(tmp_path / "vocab.safetensors", ModelFile(model_preset("tiny", len(vg)), vg, mf.state_dict))
    with pytest.raises(ModelFileError, match="do not fit"):
        Layout2ImModel.load(tmp_path / "vocab.safetensors")


def test_trained_categories_come_from_the_card(model, tmp_path):
    assert model.trained_categories == model.categories  # random model: no card entry, no directions
    path = tmp_path / "m.safetensors"
    ids = [model.vocabulary.id_of(n) for n in ("sea", "boat", "sky-other")]
    model.save(path, card={"trained_categories": ids})
    assert Layout2ImModel.load(path).trained_categories == ["boat", "sea", "sky-other"]  # id order


# --- issue 15 item 9: hostile layouts and arguments get documented errors with short messages ------------
SEA = (0.0, 0.5, 1.0, 1.0)


def _z(model, v):
    return tuple([v] + [0.0] * (model.z_dim - 1))


@pytest.mark.parametrize("make, words", [
    (lambda m: ObjectSpec("sea", SEA, _z(m, 3e38)), "within"),          # float32-finite, renders black otherwise
    (lambda m: ObjectSpec("sea", SEA, _z(m, 1e39)), "NaN or infinite"),
    (lambda m: ObjectSpec("sea", SEA, "0.1 0.2"), "list of"),
    (lambda m: ObjectSpec("sea", SEA, {"a": 1}), "list of"),
    (lambda m: ObjectSpec("sea", SEA, [[0.0], [1.0, 2.0]]), "ragged"),
    (lambda m: ObjectSpec("sea", SEA, ["a"] * m.z_dim), "numbers only"),
    (lambda m: ObjectSpec("sea", SEA, [True] * m.z_dim), "numbers only"),
    (lambda m: ObjectSpec("sea", SEA, [0.0] * (m.z_dim + 1)), "values"),
    (lambda m: ObjectSpec("sea", "0011"), "bbox must be 4 numbers"),
    (lambda m: ObjectSpec("sea", b"0011"), "bbox must be 4 numbers"),
    (lambda m: ObjectSpec("sea", (0, 0, "1", 1)), "bbox must be 4 numbers"),
    (lambda m: ObjectSpec("sea", (0, 0, True, 1)), "bbox must be 4 numbers"),
    (lambda m: ObjectSpec("sea", {"x": 1}), "bbox must be 4 numbers"),
    (lambda m: ObjectSpec("sea", (0, 0, [1], 1)), "bbox must be 4 numbers"),
    (lambda m: ObjectSpec(7, SEA), "category must be a name"),
    (lambda m: ObjectSpec(None, SEA), "category must be a name"),
])
def test_bad_objects_are_layout_errors(model, make, words):
    with pytest.raises(LayoutError) as e:
        model.generate(LayoutSpec.of(make(model)), seed=0)
    assert words in str(e.value) and len(str(e.value)) < 300, str(e.value)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True, 2 ** 64, float("nan")])
def test_bad_seeds_are_layout_errors(model, seed):
    lay = LayoutSpec.of(ObjectSpec("sea", SEA))
    for call in (lambda: model.generate(lay, seed=seed), lambda: model.sample_z(2, seed),
                 lambda: model.generate_batch([lay], seed=seed)):
        with pytest.raises(LayoutError, match="seed"):
            call()


def test_unknown_categories_are_named_briefly(model):
    huge = "x" * 1_000_000
    with pytest.raises(UnknownCategoryError) as e:
        model.generate(LayoutSpec.of(ObjectSpec("sea", SEA), ObjectSpec(huge, SEA), ObjectSpec("unicorn", SEA)))
    assert len(str(e.value)) < 400 and "unicorn" in str(e.value) and huge in e.value.labels
    with pytest.raises(UnknownCategoryError):
        model.vocabulary.ids_of([3, "unicorn", 4.5])  # mixed types: no TypeError while sorting
    many = [f"c{i}" for i in range(50)]
    with pytest.raises(UnknownCategoryError, match="and 40 more"):
        model.vocabulary.ids_of(many)


def test_bad_containers_and_arguments(model):
    with pytest.raises(LayoutError):
        model.generate([ObjectSpec("sea", SEA)])
    with pytest.raises(LayoutError, match="ObjectSpec"):
        model.generate(LayoutSpec((("sea", SEA),)))
    with pytest.raises(LayoutError, match="list of layouts"):
        model.generate_batch("layouts")
    with pytest.raises(LayoutError, match="at most"):
        model.generate_batch([LayoutSpec.of(ObjectSpec("sea", SEA))] * 5000)
    for n in (-1, 2.0, "3", 10 ** 9):
        with pytest.raises(LayoutError, match="n must be"):
            model.sample_z(n)
    for k in (0, -2, 1.5):
        with pytest.raises(LayoutError, match="k must be"):
            model.directions("sea", k)
    with pytest.raises(LayoutError, match="category must be a name"):
        model.directions(5)
    img = np.zeros((8, 8, 3), np.uint8)
    for bad in (np.full((8, 8, 3), np.nan), np.array([["a"]]), np.zeros((8, 8, 5))):
        with pytest.raises(LayoutError):
            model.encode_appearance(bad, (0, 0, 1, 1), "sea")
    with pytest.raises(LayoutError, match="bbox"):
        model.encode_appearance(img, "0011", "sea")


def test_non_finite_output_is_an_error_not_a_black_image(model, monkeypatch):
    lay = LayoutSpec.of(ObjectSpec("sea", SEA, _z(model, 1.0)))
    monkeypatch.setattr(model.G, "to_unit", lambda img: img * float("nan"))
    model.clear_cache()
    with pytest.raises(LayoutError, match="NaN or infinite pixels"):
        model.generate(lay)
    monkeypatch.undo()
    model.clear_cache()
    assert model.generate(lay).shape == (64, 64, 3)


def test_bad_device_names(model):
    from layout2im_core.errors import DeviceError

    for dev in ("bogus", "cuda:x", 5, "cpu:0"):
        with pytest.raises(DeviceError):
            model.set_device(dev)
    assert model.device == "cpu"


def test_a_render_flushes_float32_subnormals_on_its_thread(tiny_model):
    """Subnormal activations cost the trained scenes64 ~40 % of an edit on x86 (docs/benchmarks.md); a
    render turns flush-to-zero on for the thread it runs on, and leaves normal floats alone."""
    torch.set_flush_denormal(False)
    try:
        sub = torch.tensor([1e-39], dtype=torch.float32)
        if float(sub * 1.0) == 0.0:
            pytest.skip("this CPU flushes subnormals already")
        tiny_model.generate(LayoutSpec((ObjectSpec("sky-other", (0.0, 0.0, 1.0, 0.5)),)), seed=0)
        assert float(sub * 1.0) == 0.0
        assert float(torch.tensor([1e-30]) * 1.0) == pytest.approx(1e-30)
    finally:
        torch.set_flush_denormal(False)
