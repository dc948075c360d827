"""Two training steps on every data source through ``build_dataset`` (COCO-Stuff mini from
../shared/data, procedural scenes and a custom COCO folder written here, a small VG h5), and the
``layout2im train | directions | export`` command line end to end."""

import shlex
import sys
from pathlib import Path

import pytest
import torch

from layout2im_core import cli
from layout2im_core.checkpoint import load_model_file
from layout2im_core.training import checkpoints as ckpts
from layout2im_core.training.config import train_preset
from layout2im_core.training.trainer import train

pytestmark = pytest.mark.usefixtures("one_thread")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COCO_MINI = SHARED / "coco-stuff-mini"
VG_VOCAB = SHARED / "vg-meta" / "vocab.json"


@pytest.fixture(scope="module")
def scenes_dir(tmp_path_factory):
    from layout2im_core.data.scenes import make_scenes

    root = tmp_path_factory.mktemp("scenes")
    make_scenes(6, root, seed=0, size=64, progress=False)
    return root


def _source(kind, tmp_path, scenes_dir, write_vg):
    if kind == "coco":
        if not COCO_MINI.is_dir():
            pytest.skip(f"COCO-Stuff mini not found at {COCO_MINI}")
        return str(COCO_MINI), "train"
    if kind in ("scenes", "custom"):
        return str(scenes_dir), "all"
    if not VG_VOCAB.is_file():
        pytest.skip(f"real VG vocabulary not found at {VG_VOCAB}")
    write_vg(tmp_path)
    (tmp_path / "vocab.json").write_text(VG_VOCAB.read_text())
    return str(tmp_path), "train"


@pytest.mark.parametrize("kind", ["coco", "scenes", "custom", "vg"])
def test_two_steps_on_each_source(kind, tmp_path, scenes_dir, write_vg):
    path, split = _source(kind, tmp_path, scenes_dir, write_vg)
    cfg = train_preset("tiny-test").replace(data_kind=kind, data_path=path, split=split, directions_max_images=4)
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.status == "done" and result.step == 2
    ck = ckpts.load_checkpoint(result.checkpoint)
    assert ck["model_config"]["num_classes"] == len(ck["vocabulary"])
    assert all(torch.isfinite(v).all() for v in ck["G"].values() if v.is_floating_point())


def test_command_line_train_resume_directions_export(tmp_path, scenes_dir, capsys):
    run, out = tmp_path / "run", tmp_path / "model.safetensors"
    base = ["train", "--preset", "tiny-test", "--data-kind", "scenes", "--data", str(scenes_dir), "--set",
            "split=all", "--no-progress"]
    assert cli.main(base + ["--run-dir", str(run), "--iterations", "1"]) == 0
    assert cli.main(["train", "--resume", str(run), "--iterations", "2", "--set", "d_warmup=2", "--no-progress"]) == 0
    ck = ckpts.load_checkpoint(ckpts.latest_checkpoint(run))
    assert ck["step"] == 2 and ck["train_config"]["d_warmup"] == 2  # a schedule a resumed run may change
    assert cli.main(["train", "--resume", str(run), "--batch-size", "4"]) == 2  # would change the run
    assert "cannot change ['batch_size']" in capsys.readouterr().err
    assert cli.main(base + ["--run-dir", str(run)]) == 2  # a fresh run into a used directory
    (run / "directions.pt").unlink()
    assert cli.main(["directions", str(run), "--top-k", "2"]) == 0
    assert cli.main(["export", str(run), "--out", str(out), "--dtype", "bf16"]) == 0
    mf = load_model_file(out)
    assert mf.card["steps"] == 2 and mf.card["data"]["kind"] == "scenes" and mf.card["data"]["images"] == 6
    assert mf.card["command"] == shlex.join(sys.argv)  # the process's command line (here: pytest's)
    assert out.with_suffix(".md").is_file()
