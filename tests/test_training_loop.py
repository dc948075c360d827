"""The training loop on the tiny preset: run directory contents, exact resume, signals, NaN stop,
atomic checkpoints."""

import json
import math
import os
import signal

import pytest
import torch
from PIL import Image

from layout2im_core.errors import Layout2ImError, ModelFileError
from layout2im_core.training import checkpoints as ckpts
from layout2im_core.training import step as step_mod
from layout2im_core.training.config import train_preset
from layout2im_core.training.step import LOSS_TERMS, NonFiniteLossError
from layout2im_core.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _trainer(data, run_dir, resume=False, **changes):
    ds = data(n=6)
    cfg = train_preset("tiny-test").replace(**changes)
    return Trainer(cfg, run_dir, resume=resume, dataset=ds, vocabulary=ds.vocabulary, progress=False,
                   argv=["layout2im", "train", "--preset", "tiny-test"])


def test_two_steps_fill_the_run_directory(tmp_path, synthetic_layouts):
    run = tmp_path / "run"
    result = _trainer(synthetic_layouts, run).run()
    assert result.status == "done" and result.step == 2
    assert [p.name for p in ckpts.list_checkpoints(run)] == ["step-00000001.pt", "step-00000002.pt"]
    ck = torch.load(result.checkpoint, weights_only=True)  # plain data: no code runs
    assert {"G", "D_img", "D_obj", "optimizers", "rng", "data", "train_config", "model_config", "vocabulary",
            "step"} <= set(ck)
    assert ck["step"] == 2 and ck["train_config"]["model_preset"] == "tiny" and ck["vocabulary"][1] == "cat1"
    assert set(ck["optimizers"]) == {"G", "D_img", "D_obj"}
    assert ck["optimizers"]["G"]["param_groups"][0]["betas"] == (0.5, 0.999)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train_config"]["batch_size"] == 2 and cfg["model_config"]["z_dim"] == 8
    assert json.loads((run / "command.json").read_text())["runs"][0]["argv"][1] == "train"
    grid = Image.open(run / "samples" / "step-00000002.png")
    assert grid.size == (4 * 66 + 2, 2 * 66 + 2)
    assert (run / "directions.pt").is_file()

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run / "tb"))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert {f"loss/{t}" for t in LOSS_TERMS} | {"perf/it_per_s", "perf/img_per_s"} <= tags
    assert all(math.isfinite(e.value) for t in tags for e in ea.Scalars(t))


def _state(path):
    ck = torch.load(path, weights_only=True)
    return {f"{net}.{k}": v for net in ("G", "D_img", "D_obj") for k, v in ck[net].items()}, ck


def test_resume_continues_bit_identically(tmp_path, synthetic_layouts):
    straight = _trainer(synthetic_layouts, tmp_path / "a", iterations=4, keep_last=2).run()
    first = _trainer(synthetic_layouts, tmp_path / "b", iterations=2).run()
    assert first.step == 2
    resumed = _trainer(synthetic_layouts, tmp_path / "b", resume=True, iterations=4).run()
    assert resumed.step == 4
    a, ck_a = _state(straight.checkpoint)
    b, ck_b = _state(resumed.checkpoint)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for net in ("G", "D_img", "D_obj"):
        sa, sb = ck_a["optimizers"][net]["state"], ck_b["optimizers"][net]["state"]
        assert all(torch.equal(sa[i]["exp_avg"], sb[i]["exp_avg"]) for i in sa)
    assert ck_a["data"] == ck_b["data"]
    assert len(ckpts.list_checkpoints(tmp_path / "a")) == 2  # keep_last
    runs = json.loads((tmp_path / "b" / "command.json").read_text())["runs"]
    assert [r["resumed_at_step"] for r in runs] == [None, 2]


def test_sigterm_checkpoints_and_stops(tmp_path, monkeypatch, synthetic_layouts):
    real_step = step_mod.train_step
    calls = []

    def step_then_signal(*a, **kw):
        out = real_step(*a, **kw)
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr("layout2im_core.training.trainer.train_step", step_then_signal)
    result = _trainer(synthetic_layouts, tmp_path / "run", iterations=10, checkpoint_every=100).run()
    assert result.status == "interrupted" and result.step == 2
    assert result.checkpoint == ckpts.checkpoint_path(tmp_path / "run", 2)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_nan_loss_stops_naming_the_term_and_keeps_last_good_checkpoint(tmp_path, monkeypatch, synthetic_layouts):
    real_kl = step_mod.losses.kl_loss
    calls = []

    def kl_nan_at_step_2(mu, logvar):
        calls.append(1)
        return real_kl(mu, logvar) * (float("nan") if len(calls) == 2 else 1.0)

    monkeypatch.setattr(step_mod.losses, "kl_loss", kl_nan_at_step_2)
    with pytest.raises(NonFiniteLossError, match=r"G/kl is nan at step 2") as info:
        _trainer(synthetic_layouts, tmp_path / "run", iterations=5).run()
    assert info.value.term == "G/kl" and info.value.step == 2 and isinstance(info.value, Layout2ImError)
    assert ckpts.latest_checkpoint(tmp_path / "run") == ckpts.checkpoint_path(tmp_path / "run", 1)


def test_interrupted_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, synthetic_layouts):
    trainer = _trainer(synthetic_layouts, tmp_path / "run", iterations=1)
    first = trainer.run().checkpoint
    before = first.read_bytes()

    class Killed(BaseException):
        pass

    real_fdopen = os.fdopen

    def fdopen_dying_midway(fd, *a, **kw):
        f = real_fdopen(fd, *a, **kw)
        real_write = f.write

        def write(data):
            real_write(data[:len(data) // 2])
            raise Killed("killed during the write")

        f.write = write
        return f

    monkeypatch.setattr("layout2im_core.atomic.os.fdopen", fdopen_dying_midway)
    trainer.step = 2
    with pytest.raises(Killed):
        trainer.save_checkpoint()
    monkeypatch.undo()
    assert not ckpts.checkpoint_path(tmp_path / "run", 2).exists()
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == [first.name]  # no temp left
    assert first.read_bytes() == before and ckpts.load_checkpoint(first)["step"] == 1
    # a damaged newer file (e.g. a disk error) is skipped when resuming
    ckpts.checkpoint_path(tmp_path / "run", 3).write_bytes(before[:1000])
    assert ckpts.latest_checkpoint(tmp_path / "run") == first


def test_bf16_autocast_steps_on_cpu(tmp_path, synthetic_layouts):
    result = _trainer(synthetic_layouts, tmp_path / "run", precision="bf16").run()
    ck = ckpts.load_checkpoint(result.checkpoint)
    assert result.status == "done" and ck["train_config"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in ck["G"].values() if v.is_floating_point())  # fp32 master weights
    assert all(torch.isfinite(v).all() for v in ck["G"].values() if v.is_floating_point())


# --- issue 15 item 4: non-finite weights never become "the last good checkpoint" -----------------------
def test_nan_gradient_with_finite_losses_writes_no_checkpoint(tmp_path, caplog, synthetic_layouts):
    trainer = _trainer(synthetic_layouts, tmp_path / "run", iterations=4, checkpoint_every=1)
    calls = []
    param = next(trainer.raw.G.parameters())

    def nan_grad_at_step_2(grad):
        calls.append(1)
        return grad * float("nan") if len(calls) == 2 else grad

    param.register_hook(nan_grad_at_step_2)
    with pytest.raises(ckpts.NonFiniteStateError, match="at step 2") as info:
        trainer.run()
    assert isinstance(info.value, Layout2ImError) and info.value.names
    assert [p.name for p in ckpts.list_checkpoints(tmp_path / "run")] == ["step-00000001.pt"]
    assert "last good checkpoint is" in caplog.text and "step-00000001.pt" in caplog.text


def test_resume_skips_non_finite_and_unreadable_checkpoints_and_says_so(tmp_path, caplog, synthetic_layouts):
    import logging

    run = tmp_path / "run"
    _trainer(synthetic_layouts, run, iterations=2).run()
    good = ckpts.checkpoint_path(run, 2)
    ck = torch.load(good, weights_only=True)
    name = next(iter(ck["G"]))
    ck["G"][name] = ck["G"][name] * float("nan")
    ck["step"] = 3
    torch.save(ck, ckpts.checkpoint_path(run, 3))  # as written before the guard existed
    ckpts.checkpoint_path(run, 4).write_bytes(good.read_bytes()[:500])  # a damaged newest file
    with caplog.at_level(logging.WARNING):
        assert ckpts.latest_checkpoint(run) == good
    assert "step-00000004.pt" in caplog.text and "not a readable" in caplog.text
    assert "step-00000003.pt" in caplog.text and "NaN" in caplog.text
    assert "weights_only" not in caplog.text
    nan_copy = _nan_copy(good, tmp_path)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        resumed = _trainer(synthetic_layouts, run, resume=True, iterations=3).run()
    assert resumed.step == 3 and "skipping checkpoint step-00000003.pt" in caplog.text
    from layout2im_core.training.export import export_run

    with pytest.raises(ckpts.NonFiniteStateError):
        export_run(nan_copy, tmp_path / "m.safetensors")


def _nan_copy(good, tmp_path):
    ck = torch.load(good, weights_only=True)
    name = next(iter(ck["G"]))
    ck["G"][name] = ck["G"][name] * float("inf")
    path = tmp_path / "bad" / "checkpoints" / "step-00000009.pt"
    path.parent.mkdir(parents=True)
    torch.save(ck, path)
    return path


def test_checkpoint_messages_never_advise_weights_only_false(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "step-00000001.pt"
    path.write_bytes(pickle.dumps({"format": "x", "evil": Evil()}))
    with pytest.raises(ModelFileError) as e:
        ckpts.load_checkpoint(path)
    assert "weights_only" not in str(e.value) and "never run" in str(e.value) and len(str(e.value)) < 400


def test_resume_may_lower_the_learning_rate(tmp_path, synthetic_layouts):
    from layout2im_core.training.trainer import resume_config

    _trainer(synthetic_layouts, tmp_path / "r", iterations=2).run()
    cfg = resume_config(tmp_path / "r", {"lr": 5e-5, "iterations": 3})
    ds = synthetic_layouts(n=6)
    t = Trainer(cfg, tmp_path / "r", resume=True, dataset=ds, vocabulary=ds.vocabulary, progress=False)
    assert {g["lr"] for o in (t.opts.G, t.opts.D_img, t.opts.D_obj) for g in o.param_groups} == {5e-5}
    assert t.step == 2
