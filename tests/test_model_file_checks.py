"""Model-file validation (issue 15 items 6 and 8): every malformed metadata field, inconsistent
directions and non-finite weights are a ModelFileError at load; a config claiming huge widths is
refused before anything of that size exists."""

import json
import struct

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from layout2im_core.checkpoint import load_model_file
from layout2im_core.errors import ModelFileError
from layout2im_core.inference import Layout2ImModel
from layout2im_core.models import generator as generator_mod
from layout2im_core.types import LayoutSpec, ObjectSpec


def _read(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8:8 + n])["__metadata__"]
    return dict(st_load(data)), dict(meta)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """(tensors, metadata) of a valid tiny model file with appearance directions for 3 categories."""
    path = tmp_path_factory.mktemp("mf") / "m.safetensors"
    model = Layout2ImModel.random("tiny", seed=0)
    model.save(path)
    tensors, meta = _read(path)
    ids = [model.vocabulary.id_of(c) for c in ("sea", "boat", "sky-other")]
    k, d, z = 3, 4, model.z_dim
    comp = torch.linalg.qr(torch.randn(z, d))[0].T  # [D, Z] orthonormal
    tensors.update({"directions.ids": torch.tensor(ids), "directions.mean": torch.zeros(k, z),
                    "directions.components": comp.expand(k, d, z).contiguous(), "directions.std": torch.ones(k, d),
                    "directions.explained": torch.full((k, d), 0.2)})
    return tensors, meta


def _write(tmp_path, tensors, meta, name="m.safetensors"):
    path = tmp_path / name
    path.write_bytes(st_save(tensors, metadata=meta))
    return path


def _with_json(meta, key, fn):
    out = dict(meta)
    value = json.loads(out[key])
    out[key] = json.dumps(fn(value)) if not isinstance(fn, str) else fn
    return out


def test_the_valid_base_loads_and_renders(base, tmp_path):
    m = Layout2ImModel.load(_write(tmp_path, *base))
    assert m.has_directions and not m.directions("sea").fallback
    img = m.generate(LayoutSpec.of(ObjectSpec("sea", (0, 0.5, 1, 1))), seed=0)
    assert img.shape == (64, 64, 3)


def _cfg(change):
    return lambda c: {**c, **change}


METADATA_CASES = [
    ("config", "[]", "config must be a JSON object"),
    ("config", "{", "broken metadata"),
    ("config", _cfg({"z_dim": 32.0}), "config z_dim must be an integer"),
    ("config", _cfg({"z_dim": "8"}), "config z_dim must be an integer"),
    ("config", _cfg({"z_dim": True}), "config z_dim must be an integer"),
    ("config", _cfg({"z_dim": -3}), "config z_dim must be an integer"),
    ("config", _cfg({"wings": 2}), "unknown config keys"),
    ("config", _cfg({"layout_widths": ["a", 8, 8, 8]}), "layout_widths must be a list"),
    ("config", _cfg({"layout_widths": 8}), "layout_widths must be a list"),
    ("config", _cfg({"crop_encoder_widths": [4, 8]}), "invalid config"),
    ("config", _cfg({"num_classes": 10}), "vocabulary has 184 entries"),
    ("config", _cfg({"decoder_kind": 5}), "decoder_kind must be a short string"),
    ("config", _cfg({"legacy_numerics": "yes"}), "legacy_numerics must be true or false"),
    ("config", _cfg({"decoder_widths": [20000, 20000, 20000, 20000]}), "decoder_widths must be a list"),
    ("config", _cfg({"max_objects": 10 ** 9}), "max_objects must be an integer"),
    ("config", "[" * 500 + "]" * 500, "nested too deeply"),
    ("vocabulary", lambda v: [v[0], 5] + v[2:], "vocabulary entry 1"),
    ("vocabulary", lambda v: [v[0], None] + v[2:], "vocabulary entry 1"),
    ("vocabulary", "{}", "vocabulary must be a list"),
    ("vocabulary", lambda v: ["sky"] + v[1:], "invalid vocabulary"),
    ("vocabulary", lambda v: [v[0], "x" * 1_000_000] + v[2:], "vocabulary entry 1"),
    ("card", "[1, 2]", "the card must be a JSON object"),
    ("card", "\"text\"", "the card must be a JSON object"),
    ("card", lambda c: {**c, "trained_max_objects": "abc"}, "trained_max_objects"),
    ("card", lambda c: {**c, "trained_max_objects": 2.5}, "trained_max_objects"),
    ("card", lambda c: {**c, "trained_categories": "sea"}, "trained_categories"),
    ("card", lambda c: {**c, "trained_categories": [[1]]}, "trained_categories"),
    ("card", "NaN", "broken metadata"),
]


@pytest.mark.parametrize("key, change, words", METADATA_CASES)
def test_malformed_metadata_is_a_model_file_error(base, tmp_path, key, change, words):
    tensors, meta = base
    path = _write(tmp_path, tensors, _with_json(meta, key, change))
    with pytest.raises(ModelFileError) as e:
        load_model_file(path)
    msg = str(e.value)
    assert words in msg and "m.safetensors" in msg and len(msg) < 400, msg


@pytest.mark.parametrize("change, words", [
    (lambda m: {k: v for k, v in m.items() if k != "config"}, "no 'config'"),
    (lambda m: {k: v for k, v in m.items() if k != "vocabulary"}, "no 'vocabulary'"),
    (lambda m: {**m, "format_version": "2"}, "unsupported model format version"),
    (lambda m: {**m, "format": "other"}, "not a Layout2Im model"),
    (lambda m: {**m, "name": "n" * 300}, "model name"),
])
def test_missing_or_bad_metadata_fields(base, tmp_path, change, words):
    tensors, meta = base
    with pytest.raises(ModelFileError, match=words):
        load_model_file(_write(tmp_path, tensors, change(meta)))


TENSOR_CASES = [
    (lambda t: t.pop("directions.std"), "incomplete (missing std)"),
    (lambda t: t.pop("directions.ids"), "incomplete (missing ids)"),
    (lambda t: t.__setitem__("directions.components", t["directions.components"][:2]), "directions.components"),
    (lambda t: t.__setitem__("directions.mean", t["directions.mean"][:, :3].contiguous()), "directions.mean"),
    (lambda t: t.__setitem__("directions.std", t["directions.std"][:, :2].contiguous()), "directions.std"),
    (lambda t: t["directions.std"].__setitem__((0, 0), float("nan")), "directions.std holds NaN"),
    (lambda t: t["directions.std"].__setitem__((1, 2), 0.0), "std must be > 0"),
    (lambda t: t["directions.mean"].__setitem__((0, 0), float("inf")), "directions.mean holds NaN"),
    (lambda t: t["directions.explained"].__setitem__((0, 0), 2.0), "explained must lie in [0, 1]"),
    (lambda t: t["directions.ids"].__setitem__(0, 9999), "not categories"),
    (lambda t: t["directions.ids"].__setitem__(0, 0), "not categories"),
    (lambda t: t["directions.ids"].__setitem__(1, t["directions.ids"][0]), "twice"),
    (lambda t: t.__setitem__("directions.ids", t["directions.ids"].float()), "1-D integer"),
    (lambda t: t["G.decoder.c0.weight" if "G.decoder.c0.weight" in t else
                 sorted(k for k in t if k.endswith("weight"))[0]].view(-1).__setitem__(0, float("nan")), "NaN"),
    (lambda t: t[sorted(k for k in t if k.startswith("G.") and k.endswith("bias"))[0]].view(-1).__setitem__(
        0, float("inf")), "NaN or infinite"),
    (lambda t: t[sorted(k for k in t if k.startswith("G.") and k.endswith("weight"))[0]].view(-1).__setitem__(
        0, 3e38), "beyond"),
    (lambda t: t[sorted(k for k in t if k.endswith("running_var"))[0]].view(-1).__setitem__(0, -1.0), "negative"),
    (lambda t: t.pop(sorted(k for k in t if k.startswith("G."))[0]), "missing"),
    (lambda t: t.__setitem__("G.extra.weight", torch.zeros(2)), "unexpected"),
    (lambda t: t.__setitem__((k := sorted(x for x in t if x.startswith("G.") and x.endswith("weight"))[0]),
                             t[k].to(torch.int32)), "dtype"),
    (lambda t: t.__setitem__((k := sorted(x for x in t if x.startswith("G.") and x.endswith("weight"))[0]),
                             t[k][:1].contiguous()), "do not fit"),
]


@pytest.mark.parametrize("change, words", TENSOR_CASES)
def test_bad_tensors_are_a_model_file_error(base, tmp_path, change, words):
    tensors, meta = base
    tensors = {k: v.clone() for k, v in tensors.items()}
    change(tensors)
    with pytest.raises(ModelFileError) as e:
        load_model_file(_write(tmp_path, tensors, meta))
    assert words in str(e.value) and len(str(e.value)) < 400, str(e.value)


def test_header_problems(base, tmp_path):
    tensors, meta = base
    data = st_save(tensors, metadata=meta)
    for name, blob in [("short", data[:5]), ("hdr", struct.pack("<Q", 10 ** 12) + data[8:]),
                       ("json", struct.pack("<Q", 4) + b"{{{{" + data[12:]), ("list", struct.pack("<Q", 2) + b"[]"),
                       ("trunc", data[: len(data) - 100])]:
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(blob)
        with pytest.raises(ModelFileError, match="not a readable model file"):
            load_model_file(path)


def test_huge_widths_are_refused_before_anything_is_built(base, tmp_path, monkeypatch):
    """A 4096-wide config (within the width limit) whose tensors are the tiny ones: refused from the
    shapes of a generator built on the meta device; no real generator is ever constructed."""
    built = []
    real_init = generator_mod.Generator.__init__

    def spy(self, cfg):
        built.append(str(torch.get_default_device()))
        real_init(self, cfg)

    monkeypatch.setattr(generator_mod.Generator, "__init__", spy)
    tensors, meta = base
    wide = _with_json(meta, "config", _cfg({"decoder_widths": [4096] * 4, "layout_widths": [4096] * 4,
                                             "clstm_hidden": [4096] * 3}))
    with pytest.raises(ModelFileError, match="do not fit"):
        Layout2ImModel.load(_write(tmp_path, tensors, wide))
    assert built == ["meta"]


def test_non_regular_and_oversized_model_files(tmp_path, monkeypatch):
    import os

    import layout2im_core.model_file_checks as checks

    fifo = tmp_path / "m.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="FIFO"):
        load_model_file(fifo)
    with pytest.raises(ModelFileError, match="character device"):
        load_model_file("/dev/zero")
    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:
        f.truncate(1000)
    monkeypatch.setattr(checks, "MAX_MODEL_FILE_BYTES", 999)
    with pytest.raises(ModelFileError, match="too large"):
        load_model_file(big)
