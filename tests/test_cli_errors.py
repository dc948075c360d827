"""``layout2im`` bad arguments and faulty environments (issue 15 item 10): every case exits 2 with one
line on stderr, no traceback, nothing done or half-written; values that used to pass silently are
refused."""

import json
import os
from pathlib import Path

import pytest
from fs_faults import files_under, full_disk, read_only

from layout2im_core.cli import main
from layout2im_core.inference import Layout2ImModel

LAYOUTS = Path(__file__).resolve().parents[1] / "resources" / "layouts"
BEACH = str(LAYOUTS / "beach.json")


def run(argv, capsys):
    """(exit status, stdout, stderr) of ``layout2im argv`` in this process."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean_error(rc, err, *words):
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert rc == 2, err
    assert "Traceback" not in err and "weights_only" not in err, err
    assert len(lines) == 1 and len(lines[0]) < 700, err
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def env(cli_world):
    """A tiny model file, a tiny finished run (with directions) and a small scenes folder (conftest)."""
    return cli_world


# --- bad values: refused before any work ------------------------------------------------------------------
@pytest.mark.parametrize("argv, words", [
    (["generate", "--scale", "0"], ["--scale", "from 1 to 64"]),
    (["generate", "--scale", "-3"], ["--scale"]),
    (["generate", "--scale", "100000"], ["--scale"]),
    (["generate", "--seed", "-1"], ["--seed"]),
    (["generate", "--seed", "1.5"], ["--seed"]),
    (["generate", "--samples", "0"], ["--samples"]),
    (["generate", "--device", "bogus"], ["--device", "bogus"]),
    (["generate", "--samples", "x" * 10000], ["--samples", "chars"]),
])
def test_generate_bad_values(env, tmp_path, capsys, argv, words):
    rc, _, err = run(argv + ["--model", env["model"], "--layout", BEACH, "--out", tmp_path / "o"], capsys)
    assert_clean_error(rc, err, *words)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, words", [
    (["make-scenes", "--n", "0", "--out", "{tmp}/s"], ["--n"]),
    (["make-scenes", "--n", "2", "--size", "0", "--out", "{tmp}/s"], ["--size"]),
    (["make-scenes", "--n", "2", "--size", "30000", "--out", "{tmp}/s"], ["--size"]),
    (["info", "--num-classes", "0"], ["--num-classes"]),
    (["info", "--preset", "nope"], ["unknown preset"]),
    (["directions", "{run}", "--top-k", "-1"], ["--top-k"]),
    (["directions", "{run}", "--top-k", "0"], ["--top-k"]),
    (["eval", "--kind", "bogus", "--model", "{model}", "--data", "{tmp}", "--out", "{tmp}/r.json"], ["--kind"]),
    (["train", "--preset", "tiny-test", "--data", "{scenes}", "--run-dir", "{tmp}/r", "--set",
      "loss_weights.kl=-5"], ["loss_weights.kl", ">= 0"]),
    (["train", "--preset", "tiny-test", "--data", "{scenes}", "--run-dir", "{tmp}/r", "--set", "lr=inf"],
     ["lr", "finite"]),
    (["train", "--preset", "tiny-test", "--data", "{scenes}", "--run-dir", "{tmp}/r", "--set",
      "loss_weights.kl=nan"], ["loss_weights.kl"]),
    (["train", "--preset", "tiny-test", "--device", "bogus", "--run-dir", "{tmp}/r"], ["--device"]),
    (["train", "--preset", "tiny-test", "--batch-size", "0", "--run-dir", "{tmp}/r"], ["--batch-size"]),
    (["export", "{run}", "--out", "{tmp}/m.safetensors", "--name", ""], ["--name"]),
    (["check-scenes", "--model", "{model}", "--n", "1"], ["--n"]),
])
def test_bad_values_exit_2_in_one_line(env, tmp_path, capsys, argv, words):
    argv = [a.format(tmp=tmp_path, run=env["run"], model=env["model"], scenes=env["scenes"]) for a in argv]
    rc, _, err = run(argv, capsys)
    assert_clean_error(rc, err, *words)
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


# --- output that is a folder, read-only or full -------------------------------------------------------------
def test_out_is_a_folder(env, tmp_path, capsys, official_checkpoint):
    ckpt, _ = official_checkpoint(tmp_path)
    (tmp_path / "d.safetensors").mkdir()
    for argv in (["import-official", ckpt, "--out", tmp_path / "d.safetensors"],
                 ["export", env["run"], "--out", tmp_path / "d.safetensors"],
                 ["directions", env["run"], "--out", tmp_path / "d.safetensors"],
                 ["eval", "--model", env["model"], "--data", env["scenes"], "--out", tmp_path]):
        rc, _, err = run(argv, capsys)
        assert_clean_error(rc, err, "is a folder")


def _read_only_cases(env, tmp_path, ckpt):
    ro = tmp_path / "ro"
    ro.mkdir()
    return ro, [
        ["import-official", ckpt, "--out", ro / "m.safetensors"],
        ["make-scenes", "--n", "2", "--size", "32", "--out", ro / "s"],
        ["directions", env["run"], "--out", ro / "d.pt"],
        ["export", env["run"], "--out", ro / "m.safetensors"],
        ["train", "--preset", "tiny-test", "--data", env["scenes"], "--run-dir", ro / "run", "--iterations", "1"],
        ["generate", "--model", env["model"], "--layout", BEACH, "--out", ro / "png"],
    ]


def test_read_only_output_folders(env, tmp_path, capsys, monkeypatch, official_checkpoint):
    ckpt, _ = official_checkpoint(tmp_path)
    ro, cases = _read_only_cases(env, tmp_path, ckpt)
    (ro / "s").mkdir()  # folders that exist already (mkdir of a missing one fails the same way)
    read_only(monkeypatch, ro)
    for argv in cases:
        rc, _, err = run(argv, capsys)
        assert_clean_error(rc, err)
        assert "read-only" in err.lower() or "Read-only" in err, err
    monkeypatch.undo()
    assert files_under(ro) == []


def test_full_disk(env, tmp_path, capsys, monkeypatch, official_checkpoint):
    ckpt, _ = official_checkpoint(tmp_path)
    out = tmp_path / "out"
    full_disk(monkeypatch)
    for argv in (["import-official", ckpt, "--out", out / "m.safetensors"],
                 ["make-scenes", "--n", "2", "--size", "32", "--out", out / "s"],
                 ["export", env["run"], "--out", out / "m.safetensors"],
                 ["train", "--preset", "tiny-test", "--data", env["scenes"], "--run-dir", out / "run"],
                 ["generate", "--model", env["model"], "--layout", BEACH, "--out", out / "png"]):
        rc, _, err = run(argv, capsys)
        assert_clean_error(rc, err, "No space left on device")
    monkeypatch.undo()
    left = [f for f in files_under(out) if not f.startswith("s/images/")]  # (the simulation spares PIL's writes)
    assert not [f for f in left if f.endswith(".png") or f.endswith(".safetensors") or ".l2i-tmp" in f], left
    assert not [f for f in left if f.startswith("png/")]  # generate leaves no empty PNG


# --- hostile input files ---------------------------------------------------------------------------------------
def _nested(depth):
    return "[" * depth + "]" * depth


def test_deeply_nested_inputs(env, tmp_path, capsys, official_checkpoint):
    ckpt, _ = official_checkpoint(tmp_path)
    vocab = tmp_path / "vocab.json"
    vocab.write_text('{"object_idx_to_name": ' + _nested(100000) + "}")
    rc, _, err = run(["import-official", ckpt, "--vocab", vocab, "--out", tmp_path / "m.safetensors"], capsys)
    assert_clean_error(rc, err, "nested too deeply")

    data = tmp_path / "data"
    data.mkdir()
    (data / "annotations.json").write_text('{"images": ' + _nested(5000) + "}")
    rc, _, err = run(["train", "--preset", "tiny-test", "--data", data, "--run-dir", tmp_path / "r"], capsys)
    assert_clean_error(rc, err, "nested too deeply")

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text('{"train_config": ' + _nested(3000) + "}")
    rc, _, err = run(["train", "--resume", run_dir], capsys)
    assert_clean_error(rc, err, "nested too deeply")
    (run_dir / "config.json").write_text('{"train_config": {"batch_size": "abc"}}')
    rc, _, err = run(["train", "--resume", run_dir], capsys)
    assert_clean_error(rc, err)


def test_fifo_inputs_do_not_hang(env, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for argv in (["generate", "--model", env["model"], "--layout", fifo, "--out", tmp_path / "o"],
                 ["generate", "--model", fifo, "--layout", BEACH, "--out", tmp_path / "o"],
                 ["import-official", fifo, "--out", tmp_path / "m.safetensors"],
                 ["import-official", BEACH, "--vocab", fifo, "--out", tmp_path / "m.safetensors"],
                 ["export", fifo, "--out", tmp_path / "m.safetensors"]):
        rc, _, err = run(argv, capsys)
        assert_clean_error(rc, err)


def test_pickle_payload_checkpoint_message(env, tmp_path, capsys):
    import pickle

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    ckpt = tmp_path / "netG.pkl"
    ckpt.write_bytes(pickle.dumps({"x": Payload()}))
    rc, out, err = run(["import-official", ckpt, "--out", tmp_path / "m.safetensors"], capsys)
    assert_clean_error(rc, err, "never run")
    assert "pwned" not in out


def test_a_folder_or_a_training_checkpoint_given_as_a_model_says_what_it_is(env, tmp_path, capsys):
    import glob

    ckpt = sorted(glob.glob(os.path.join(env["run"], "checkpoints", "*.pt")))[-1]
    for model, words in ((tmp_path, ["is a folder", "model file"]),
                         (ckpt, ["training checkpoint", "layout2im export RUN"])):
        rc, _, err = run(["generate", "--model", model, "--layout", BEACH, "--out", tmp_path / "o"], capsys)
        assert_clean_error(rc, err, *words)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_valid_commands_still_work(env, tmp_path, capsys):
    rc, out, _ = run(["generate", "--model", env["model"], "--layout", BEACH, "--samples", "2", "--scale", "1",
                      "--out", tmp_path / "o"], capsys)
    assert rc == 0 and len(list((tmp_path / "o").glob("*.png"))) == 2
    rc, out, _ = run(["export", env["run"], "--out", tmp_path / "m.safetensors"], capsys)
    assert rc == 0 and Layout2ImModel.load(tmp_path / "m.safetensors").z_dim == 8
    rc, out, err = run(["train", "--preset", "tiny-test", "--dry-run", "--set", "loss_weights.kl=0"], capsys)
    assert rc == 0 and "loss_weights.kl = 0.0" in out


def test_internal_errors_are_one_line_and_exit_3(env, tmp_path, capsys, monkeypatch):
    import layout2im_core.commands as commands

    def bug(args):
        raise TypeError("a bug")

    monkeypatch.setattr(commands, "cmd_info", bug)
    rc, _, err = run(["info"], capsys)
    assert rc == 3 and "Traceback" not in err and "internal error" in err and len(err.splitlines()) == 1


def test_usage_errors_are_one_line(capsys):
    rc, _, err = run(["generate"], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--help" in err
    rc, _, err = run(["no-such-command"], capsys)
    assert rc == 2 and len(err.strip().splitlines()) == 1


def test_resume_says_which_checkpoints_it_skipped(env, tmp_path, capsys, caplog):
    import logging
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(env["run"], run_dir)
    (run_dir / "checkpoints" / "step-00000009.pt").write_bytes(b"PK garbage")
    with caplog.at_level(logging.WARNING):
        rc, _, err = run(["train", "--resume", run_dir, "--iterations", "2", "--no-progress"], capsys)
    assert rc == 0, err
    assert "skipping checkpoint step-00000009.pt" in caplog.text
    assert json.loads((run_dir / "command.json").read_text())["runs"][-1]["resumed_at_step"] == 1
