"""``layout2im`` core commands: info, generate (with its bad inputs), make-scenes."""

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from layout2im_core.cli import main
from layout2im_core.inference import Layout2ImModel
from layout2im_core.project import Project, ProjectObject, save_project

LAYOUTS = Path(__file__).resolve().parents[1] / "resources" / "layouts"


@pytest.fixture(scope="module")
def model_file(cli_world):
    """A tiny random-weight model file (conftest's CLI world)."""
    return cli_world["model"]


def test_info_prints_counts_and_flops(capsys):
    assert main(["info", "--preset", "tiny", "--num-classes", "184"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"]["generator"]["total"] > 0
    flops = info["generate_gflops_1_image"]
    assert list(flops) == [str(n) for n in range(1, 9)] and flops["8"] > flops["1"] > 0


def test_info_of_a_model_file_describes_that_model(tmp_path, capsys):
    """``info --model`` reports the file's own architecture (it once printed the paper preset's)."""
    path = tmp_path / "mine.safetensors"
    Layout2ImModel.random("tiny-isla", name="mine").save(path)
    assert main(["info", "--model", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "mine" and info["preset"] == "tiny-isla" and info["config"]["decoder_kind"] == "isla"
    assert main(["info", "--preset", "tiny-isla"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"] == info["parameters"]
    assert main(["info", "--model", str(path), "--preset", "paper"]) == 2
    assert "give --preset or --model, not both" in capsys.readouterr().err
    assert main(["info", "--model", str(tmp_path / "gone.safetensors")]) == 2
    # --device reports on the same file, by the same rules
    assert main(["info", "--device", "cpu", "--model", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == {"name": "mine", "preset": "tiny-isla"}
    assert main(["info", "--device", "cpu", "--model", str(path), "--preset", "paper"]) == 2
    assert "give --preset or --model, not both" in capsys.readouterr().err


def test_generate_renders_samples(model_file, tmp_path):
    out = tmp_path / "out"
    assert main(["generate", "--model", str(model_file), "--layout", str(LAYOUTS / "beach.json"),
                 "--samples", "3", "--out", str(out)]) == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3
    imgs = [Image.open(p) for p in pngs]
    assert imgs[0].size == (256, 256)
    assert imgs[0].tobytes() != imgs[1].tobytes()  # re-drawn z


def test_generate_unknown_model_lists_shipped(tmp_path, capsys):
    assert main(["generate", "--model", "no-such-model", "--layout", str(LAYOUTS / "beach.json"),
                 "--out", str(tmp_path)]) == 2
    assert "shipped models" in capsys.readouterr().err


def test_generate_names_labels_the_model_lacks(model_file, tmp_path, capsys):
    lay = tmp_path / "l.json"
    save_project(Project(objects=(ProjectObject("sea", (0, 0, 1, 1)), ProjectObject("unicorn", (0, 0, .5, .5)))), lay)
    assert main(["generate", "--model", str(model_file), "--layout", str(lay), "--out", str(tmp_path / "o")]) == 2
    assert "unicorn" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_generate_unwritable_out_fails_first(model_file, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    assert main(["generate", "--model", str(model_file), "--layout", str(LAYOUTS / "beach.json"),
                 "--out", str(ro / "x")]) == 2


def test_generate_out_is_a_file_fails_before_work(model_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["generate", "--model", "no-such-model", "--layout", str(LAYOUTS / "beach.json"),
                 "--out", str(blocker / "sub")]) == 2
    assert "output directory" in capsys.readouterr().err  # checked before the model is looked up


def test_make_scenes(tmp_path):
    assert main(["make-scenes", "--n", "3", "--out", str(tmp_path / "s"), "--seed", "4", "--size", "64"]) == 0
    ann = json.loads((tmp_path / "s" / "annotations.json").read_text())
    assert len(ann["images"]) == 3 and len(list((tmp_path / "s" / "images").glob("*.png"))) == 3


def test_make_scenes_leaves_no_half_written_image(tmp_path, monkeypatch):
    """An image write that fails part-way (disk full, a stopped run) leaves no truncated PNG behind
    for a later training run to trip over: each image is written atomically."""
    from layout2im_core.data.scenes import make_scenes

    def broken(self, fp, *args, **kwargs):
        if isinstance(fp, (str, os.PathLike)):  # a write straight to the final name
            fp = open(fp, "wb")
        fp.write(b"\x89PNG\r\n\x1a\n half an image")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError, match="No space left"):
        make_scenes(2, tmp_path / "s", seed=0, size=64, progress=False)
    assert list((tmp_path / "s" / "images").iterdir()) == []


def test_generate_without_model_uses_the_projects_model(tmp_path, monkeypatch, capsys):
    models = tmp_path / "res" / "models"
    models.mkdir(parents=True)
    for seed, name in ((1, "scenes64"), (2, "other")):
        Layout2ImModel.random("tiny", seed=seed, name=name).save(models / f"{name}.safetensors")
    monkeypatch.setenv("LAYOUT2IM_RESOURCES", str(tmp_path / "res"))
    objs = (ProjectObject("sky-other", (0, 0, 1, 0.5), (0.5,) * 8), ProjectObject("sea", (0, 0.5, 1, 1), (-0.5,) * 8))

    def render(recorded, *model):
        lay = tmp_path / f"{recorded or 'none'}.l2i.json"
        save_project(Project(objs, recorded), lay)
        out = tmp_path / f"out_{recorded}_{len(model)}"
        assert main(["generate", *model, "--layout", str(lay), "--out", str(out)]) == 0
        (png,) = out.glob("*.png")
        return Image.open(png).tobytes()

    assert render("other") == render("other", "--model", "other") != render("other", "--model", "scenes64")
    capsys.readouterr()
    assert render("gone") == render("gone", "--model", "scenes64")
    assert "made with the model 'gone', which is not installed; using scenes64" in capsys.readouterr().err
    assert render("") == render("", "--model", "scenes64")
