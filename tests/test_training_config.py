"""Training config: presets, --set overrides, --dry-run, and bad input failing before any work."""

import json

import pytest

from layout2im_core import cli
from layout2im_core.config import LossWeights
from layout2im_core.errors import DataError, Layout2ImError
from layout2im_core.training.config import TRAIN_PRESETS, TrainConfig, TrainConfigError, apply_overrides, train_preset
from layout2im_core.training.trainer import RunDirError, Trainer, check_run_dir, open_dataset


def test_presets_exist_and_paper_coco_matches_the_reference():
    assert {"paper-coco", "scenes64", "cocostuff-mini64", "tiny-test"} <= set(TRAIN_PRESETS)
    p = train_preset("paper-coco")
    assert (p.model_preset, p.batch_size, p.iterations, p.precision, p.lr, p.betas) == \
        ("paper", 8, 300_000, "fp32", 1e-4, (0.5, 0.999))
    assert p.loss_weights == LossWeights(img_adv=1, obj_adv=1, obj_cls=1, z_rec=10, img_rec=1, kl=0.01)
    assert train_preset("scenes64").precision == "auto" and train_preset("scenes64").data_kind == "scenes"
    assert train_preset("cocostuff-mini64").data_path.endswith("coco-stuff-mini")


def test_round_trip_through_json():
    cfg = apply_overrides(train_preset("scenes64"), ["loss_weights.kl=0.5", "betas=0.0,0.9", "seed=7"])
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.loss_weights.kl == 0.5 and again.betas == (0.0, 0.9)


@pytest.mark.parametrize("assignment, words", [
    ("no_such_key=1", "no_such_key"), ("batch_size=eight", "batch_size"), ("batch_size=0", "batch_size"),
    ("precision=fp16", "precision"), ("loss_weights.nope=1", "nope"), ("model_preset=huge", "huge"),
    ("novalue", "key=value"),
])
def test_bad_overrides_name_the_key(assignment, words):
    with pytest.raises(TrainConfigError, match=words):
        apply_overrides(train_preset("tiny-test"), [assignment])


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(TrainConfigError, match="paper-coco"):
        train_preset("papr")


def test_dry_run_prints_resolved_config(capsys):
    rc = cli.main(["train", "--preset", "tiny-test", "--iterations", "5", "--set", "loss_weights.z_rec=3",
                   "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0 and "iterations = 5" in out and "loss_weights.z_rec = 3.0" in out and "model_preset = tiny" in out


def test_cli_bad_preset_exits_2(capsys, tmp_path):
    assert cli.main(["train", "--preset", "nope", "--run-dir", str(tmp_path / "r")]) == 2
    assert "unknown training preset 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_missing_data_path_fails_before_work(tmp_path):
    cfg = train_preset("tiny-test").replace(data_kind="coco", data_path=str(tmp_path / "absent"))
    with pytest.raises(DataError, match="absent"):
        open_dataset(cfg)
    with pytest.raises(DataError, match="needs a data path"):
        open_dataset(cfg.replace(data_path=None))
    with pytest.raises(DataError):
        Trainer(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_unwritable_run_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunDirError, match="not writable"):
        check_run_dir(blocker / "run", resume=False)
    with pytest.raises(RunDirError, match="no run there"):
        check_run_dir(tmp_path / "empty", resume=True)
    assert issubclass(RunDirError, Layout2ImError)


def test_auto_precision_resolves_per_device():
    import torch

    from layout2im_core.training.distributed import native_bf16, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if native_bf16(cpu) else "fp32")
    assert resolve_precision("bf16", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"


@pytest.mark.parametrize("precision", ["auto", "fp32", "bf16"])
def test_precision_flag_takes_every_documented_value(capsys, precision):
    rc = cli.main(["train", "--preset", "tiny-test", "--precision", precision, "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0 and f"precision = {precision}\n" in out


def test_every_recipe_field_is_a_config_field_with_the_same_default():
    import dataclasses

    from layout2im_core.training.step import Recipe

    cfg_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for f in dataclasses.fields(Recipe):
        assert f.name in cfg_fields, f"Recipe.{f.name} has no TrainConfig field"
        assert cfg_fields[f.name].default == f.default, f.name
    cfg = TrainConfig(adv_loss="hinge", kl_mode="mean", kl_free_bits=0.5, kl_warmup=7,
                      z_rec_updates_encoder=False, diffaugment="color", locality_pair="eval")
    r = cfg.recipe()
    assert (r.adv_loss, r.kl_mode, r.kl_free_bits, r.kl_warmup, r.z_rec_updates_encoder, r.diffaugment) == \
        ("hinge", "mean", 0.5, 7, False, "color")
