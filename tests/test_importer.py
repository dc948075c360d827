"""Official checkpoint import: a state dict written in exactly the official layout and format
(PyTorch 1.0 legacy, non-zip serialisation), keys and shapes from the spec's Appendix A."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from layout2im_core.config import model_preset
from layout2im_core.errors import ModelFileError
from layout2im_core.importer import convert_official
from layout2im_core.inference import Layout2ImModel, import_official
from layout2im_core.models.generator import Generator
from layout2im_core.types import LayoutSpec, ObjectSpec

KEYS = Path(__file__).parent / "data" / "official_generator_keys.txt"


def appendix_a():
    """Key -> shape of the official generator (COCO, 184), residual.0 expanded to residual.0..5."""
    out = {}
    for line in KEYS.read_text().splitlines():
        key, shape = line.split(" ", 1)
        dims = tuple(int(v) for v in re.findall(r"\d+", shape))
        if ".residual.0." in key:
            for n in range(6):
                out[key.replace(".residual.0.", f".residual.{n}.")] = dims
        else:
            out[key] = dims
    return out


def test_paper_legacy_state_dict_has_exactly_the_official_keys_and_shapes():
    sd = Generator(model_preset("paper", 184, legacy_numerics=True)).state_dict()
    ref = appendix_a()
    assert set(sd) == set(ref)
    assert {k: tuple(v.shape) for k, v in sd.items()} == ref


def test_import_official_round_trip(tmp_path, official_checkpoint):
    path, sd = official_checkpoint(tmp_path)
    with open(path, "rb") as f:
        assert f.read(2) != b"PK"  # legacy format, not a zip archive
    model = import_official(path, "coco", device="cpu")
    assert model.config.legacy_numerics and model.config.num_classes == 184
    for k, v in model.G.state_dict().items():
        torch.testing.assert_close(v, sd[k].to(v.dtype))
    # the legacy numerics are on: no tanh (ImageNet space), padding-1 conv, align_corners crops
    assert model.G.layout_encoder.c1.padding == (1, 1) and not model.G.decoder.tanh
    lay = LayoutSpec.of(ObjectSpec("sky-other", (0, 0, 1, 0.5), (0.1,) * model.z_dim),
                        ObjectSpec("sea", (0, 0.5, 1, 1), (-0.2,) * model.z_dim))
    model.set_precision("fp32")
    img = model.generate(lay)
    assert img.shape == (64, 64, 3)
    # the converted file saves and loads like any model
    out = tmp_path / "model.safetensors"
    model.save(out)
    again = Layout2ImModel.load(out, device="cpu", precision="fp32")
    assert np.array_equal(again.generate(lay), img)


def test_cli_import_official(tmp_path, official_checkpoint):
    from layout2im_core.cli import main

    path, _ = official_checkpoint(tmp_path)
    out = tmp_path / "m.safetensors"
    assert main(["import-official", str(path), "--vocab", "coco", "--out", str(out)]) == 0
    assert Layout2ImModel.load(out).config.legacy_numerics


def test_import_rejects_bad_files(tmp_path, official_checkpoint):
    path, sd = official_checkpoint(tmp_path)
    with pytest.raises(ModelFileError, match="184 categories"):
        convert_official(path, "vg")
    broken = dict(sd)
    broken.pop("decoder.c4.bias")
    torch.save(broken, tmp_path / "broken.pkl")
    with pytest.raises(ModelFileError, match="missing"):
        convert_official(tmp_path / "broken.pkl", "coco")
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x02junk")
    with pytest.raises(ModelFileError):
        convert_official(tmp_path / "junk.pkl", "coco")
    with pytest.raises(ModelFileError, match="no such"):
        convert_official(tmp_path / "absent.pkl", "coco")


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_import_never_runs_code(tmp_path):
    path = tmp_path / "evil.pkl"
    torch.save({"x": _Evil()}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelFileError):
        convert_official(path, "coco")
