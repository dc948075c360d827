"""Named appearance directions: fitting on a case with a known answer, the data readers' factors, the
model-file block and its bad forms, and the app's slider math over non-orthogonal named rows."""

import json

import numpy as np
import pytest
import torch

from layout2im_core.checkpoint import Directions, ModelFile, load_model_file, save_model_file
from layout2im_core.data.coco import CocoDataset
from layout2im_core.data.scenes import appearance_attributes
from layout2im_core.errors import DataError, ModelFileError
from layout2im_core.training.directions import directions_from_codes, fit_named_directions


def _synthetic(n=4000, z=8, seed=0):
    """mu = y1 a1 + y2 a2 + noise, with a1, a2 not orthogonal: moving along a_f changes factor f only."""
    g = torch.Generator().manual_seed(seed)
    a = torch.zeros(2, z)
    a[0, 0], a[0, 1] = 2.0, 1.0
    a[1, 1], a[1, 2] = 1.5, -1.0
    y = torch.rand(n, 2, generator=g)
    mu = y @ a + 0.02 * torch.randn(n, z, generator=g) + 0.5 * torch.randn(n, z, generator=g) * (torch.arange(z) >= 4)
    return mu, y, a


def test_fit_recovers_the_generating_directions():
    mu, y, a = _synthetic()
    noise = torch.rand(mu.shape[0], generator=torch.Generator().manual_seed(9))  # unrelated to mu
    comps, std, r2, valid = fit_named_directions(mu, {"colour": y[:, 0], "shade": y[:, 1], "noise": noise})
    assert valid.tolist() == [True, True, False]
    for f in range(2):
        expect = a[f] / a[f].norm()
        assert float(comps[f] @ expect) > 0.999, (f, comps[f], expect)  # direction and sign
        assert r2[f] > 0.95
    assert r2[2] < 0.2 and float(comps[2].abs().sum()) == 0.0
    # std is the spread of the codes along the direction: |a_f| * std(y_f) plus what the other factor adds
    proj = (mu - mu.mean(0)) @ comps[0]
    assert float(std[0]) == pytest.approx(float(proj.std()), rel=0.02)


def test_missing_values_and_too_few_crops():
    mu, y, _ = _synthetic(n=200)
    col = y[:, 0].clone()
    col[10:] = float("nan")  # only 10 crops carry it
    _, _, _, valid = fit_named_directions(mu, {"colour": col, "shade": y[:, 1]}, min_crops=16)
    assert valid.tolist() == [False, True]


def test_principal_directions_avoid_the_named_span():
    mu, y, _ = _synthetic()
    attrs = [{"colour": float(c), "shade": float(s)} for c, s in y.tolist()]
    objs = torch.ones(mu.shape[0], dtype=torch.int64)
    d = directions_from_codes(objs, mu, [1], z_dim=8, top_k=4, attributes=attrs)
    assert d.names == ("colour", "shade") and d.named_valid[0].tolist() == [True, True]
    overlap = d.components[0] @ d.named_components[0].T  # [4, 2]
    assert float(overlap.abs().max()) < 1e-4


def test_scene_appearance_becomes_named_factors():
    app = {"hue": 0.25, "shade": 0.5, "variant": 2, "texture": 0.1}
    assert appearance_attributes("grass", app) == {"colour": 0.25, "shade": 0.5, "shape": 2.0, "texture": 0.1}
    assert appearance_attributes("car", app)["colour"] == pytest.approx(0.0, abs=1e-9)  # cos(2 pi 0.25)
    with pytest.raises(KeyError):
        appearance_attributes("car", {"hue": 0.2})


def _coco(tmp_path, attributes):
    from PIL import Image

    (tmp_path / "images").mkdir(parents=True)
    Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / "images" / "a.png")
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 20, 20]}
    if attributes is not None:
        ann["attributes"] = attributes
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}], "annotations": [ann],
            "categories": [{"id": 1, "name": "cat"}]}
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return CocoDataset(tmp_path / "annotations.json", tmp_path / "images")


def test_custom_attributes_are_read_and_checked(tmp_path):
    ds = _coco(tmp_path / "ok", {"shiny": True, "size": 3})
    assert ds.object_attributes(0) == [{"shiny": 1.0, "size": 3.0}]
    assert _coco(tmp_path / "none", None).object_attributes(0) == [{}]
    for bad, field in (([1, 2], "attributes must be an object"), ({"x": "red"}, "attributes.x"),
                       ({"x": float("inf")}, "attributes.x"), ({"": 1}, "names must be strings")):
        with pytest.raises(DataError, match=field):
            _coco(tmp_path / f"bad{len(field)}{id(bad)}", bad)


def _dirs_file(tmp_path, tiny_model, names, f=None):
    k, z = 2, tiny_model.z_dim
    f = len(names) if f is None else f
    ids = torch.tensor(tiny_model.vocabulary.ids_of(["boat", "sea"]))
    eye = torch.eye(z)
    d = Directions(ids, torch.zeros(k, z), eye[None, :3].repeat(k, 1, 1), torch.ones(k, 3), torch.full((k, 3), 0.1),
                   names=tuple(names), named_components=eye[None, 3:3 + f].repeat(k, 1, 1),
                   named_std=torch.full((k, f), 0.5), named_r2=torch.full((k, f), 0.9),
                   named_valid=torch.tensor([[True] * f, [False] + [True] * (f - 1)]))
    path = tmp_path / "m.safetensors"
    save_model_file(path, ModelFile(tiny_model.config, tiny_model.vocabulary, tiny_model.G.state_dict(), "m", {}, d))
    return path


def test_model_file_round_trip_and_the_api(tmp_path, tiny_model):
    from layout2im_core.inference import Layout2ImModel

    path = _dirs_file(tmp_path, tiny_model, ["colour", "shade"])
    mf = load_model_file(path)
    assert mf.directions.names == ("colour", "shade") and mf.directions.named_valid.dtype == torch.bool
    m = Layout2ImModel.load(path)
    boat, sea = m.directions("boat", 3), m.directions("sea", 3)
    assert boat.names == ("colour", "shade", "", "", "") and boat.named == 2
    assert sea.names == ("shade", "", "", "")  # sea has no colour direction
    assert np.allclose(boat.components[0], np.eye(m.z_dim)[3]) and boat.std[0] == pytest.approx(0.5)


def test_named_block_that_does_not_match_its_names_is_refused(tmp_path, tiny_model):
    path = _dirs_file(tmp_path, tiny_model, ["colour", "shade"])
    from safetensors import safe_open
    from safetensors.torch import save

    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for names, msg in ((["colour"], "direction_names"), ([], "direction_names"), ("x", "direction_names")):
        bad = dict(meta, direction_names=json.dumps(names))
        (tmp_path / "bad.safetensors").write_bytes(save(tensors, metadata=bad))
        with pytest.raises(ModelFileError, match=msg):
            load_model_file(tmp_path / "bad.safetensors")
    partial = {k: v for k, v in tensors.items() if k != "directions.named_std"}
    (tmp_path / "bad.safetensors").write_bytes(save(partial, metadata=meta))
    with pytest.raises(ModelFileError, match="named_std"):
        load_model_file(tmp_path / "bad.safetensors")


def test_slider_math_over_non_orthogonal_named_rows():
    from app.appearance import LookBasis, move_sliders, slider_values

    z = 6
    named = np.array([[1.0, 1.0, 0, 0, 0, 0], [0, 1.0, 1.0, 0, 0, 0]]) / np.sqrt(2)  # 60 degrees apart
    principal = np.eye(z)[3:5]
    comps = np.vstack([named, principal])
    basis = LookBasis(np.zeros(z), comps, np.array([0.5, 0.2, 1.0, 1.0]), np.zeros(4), False,
                      ("colour", "shade", "", ""), np.array([0.9, 0.8, np.nan, np.nan]))
    base = np.random.default_rng(0).standard_normal(z)
    zz = base.copy()
    old = slider_values(zz, base, basis)
    assert np.allclose(old, 0)
    zz = move_sliders(zz, old, [1.5, 0, 0, 0], basis)
    assert np.allclose(slider_values(zz, base, basis), [1.5, 0, 0, 0])  # only its own reading moves
    zz = move_sliders(zz, [1.5, 0, 0, 0], [1.5, -2.0, 0.3, 0], basis)
    assert np.allclose(slider_values(zz, base, basis), [1.5, -2.0, 0.3, 0])
    assert np.allclose(zz, base + 1.5 * 0.5 * named[0] - 2.0 * 0.2 * named[1] + 0.3 * principal[0])


class _PaintG(torch.nn.Module):
    """A generator whose object k brightness is z[k, 0] / 4 + 0.5 inside its box, and an encoder whose
    mu[0] is 4 * (the crop's centre - 0.5) = z[k, 0]: the factor 'shade' moves along z[0]."""

    def __init__(self, z_dim=6):
        super().__init__()
        self.cfg = type("Cfg", (), {"z_dim": z_dim})()
        outer = self

        class Enc(torch.nn.Module):
            def forward(self, crops, objs, sample=True):
                m = torch.zeros(crops.shape[0], outer.cfg.z_dim)
                m[:, 0] = 4 * (crops[:, :, 4, 4].mean(1) - 0.5)  # the crop's centre: inside the box
                return type("Code", (), {"mu": m})()

        self.crop_encoder = Enc()

    def generate(self, objs, bboxes, z, mask):
        from layout2im_core.geometry import bbox_to_mask
        img = torch.full((objs.shape[0], 3, 64, 64), 0.5)
        masks = bbox_to_mask(bboxes, 64)[:, :, 0]  # [B, O, H, W]
        for o in range(objs.shape[1]):
            m = (masks[:, o] > 0) & mask[:, o, None, None]
            img = torch.where(m[:, None], (z[:, o, 0] / 4 + 0.5)[:, None, None, None], img)
        return img

    def crop(self, imgs, bboxes, rows):
        from layout2im_core.geometry import crop_bboxes
        return crop_bboxes(imgs, bboxes, rows, 8)


def test_directions_through_the_generator_find_where_it_paints_the_factor():
    from layout2im_core.training.named_directions import MAX_STD, FactorMap, generator_named_directions

    items = []
    for _ in range(20):  # one object per image, nothing on top of it
        items.append({"img": torch.zeros(3, 64, 64), "objs": torch.tensor([1]),
                      "bboxes": torch.tensor([[0.2, 0.2, 0.7, 0.7]])})
    z = 6
    # the encoder side: shade = 0.5 + 0.2 * mu[0]; mu[1] carries another factor the generator never paints
    fmap = FactorMap(weights=torch.tensor([[0.2] + [0.0] * (z - 1), [0.0, 1.0] + [0.0] * (z - 2)], dtype=torch.float64),
                     mu_mean=torch.zeros(z, dtype=torch.float64), f_mean=torch.tensor([0.5, 0.0], dtype=torch.float64),
                     f_std=torch.tensor([0.2, 1.0], dtype=torch.float64),
                     r2=torch.tensor([0.9, 0.9], dtype=torch.float64),
                     valid=torch.tensor([True, True]))
    comps, std, r2, valid = generator_named_directions(_PaintG(z), items, [(i, 0) for i in range(20)], fmap,
                                                      layouts=20, samples=4)
    assert valid.tolist() == [True, False]  # the generator never moves mu[1]: no slider for it
    assert float(comps[0] @ torch.eye(z)[0]) > 0.999 and float(r2[0]) > 0.99
    # shade moves by 0.2 per unit of z[0]: one std of real shade (0.2) is 1 unit of z
    assert float(std[0]) == pytest.approx(1.0, rel=0.02)
    fmap.weights[0, 0] = 0.05  # a generator 4x less sensitive: the unit would be 4, beyond MAX_STD
    _, std, _, _ = generator_named_directions(_PaintG(z), items, [(i, 0) for i in range(20)], fmap, layouts=20)
    assert float(std[0]) == pytest.approx(MAX_STD)
    assert float(comps[1].abs().sum()) == 0.0
