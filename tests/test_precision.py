"""The device and precision policy (layout2im_core.precision, issue 16): the decision rule with
injected timings, the per-machine cache, the once-only warning for emulated bf16, and the bad-input
cases of the command line (``--device cuda`` without CUDA, ``--precision bf16`` without native bf16)."""

import json
import logging

import pytest
import torch

from layout2im_core import precision as policy
from layout2im_core.cli import main
from layout2im_core.errors import DeviceError
from layout2im_core.inference import Layout2ImModel

NATIVE = (True, "AVX512-BF16")
EMULATED = (False, "AVX2 only, no AVX512-BF16/AMX")
CPU = torch.device("cpu")
LAYOUTS = __import__("pathlib").Path(__file__).resolve().parents[1] / "resources" / "layouts"


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    """Each test with an empty cache and no earlier warnings."""
    monkeypatch.setenv(policy.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(policy, "_WARNED", set())
    return tmp_path / "cache" / policy.CACHE_FILE


class Timings:
    """Injected (fp32_ms, bf16_ms), counting how often the policy asks."""

    def __init__(self, fp32_ms, bf16_ms):
        self.value, self.calls = (fp32_ms, bf16_ms), 0

    def __call__(self):
        self.calls += 1
        return self.value


# --- the rule ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("native, fp32_ms, bf16_ms, want", [
    (NATIVE, 139.0, 84.0, "bf16"),     # the figures: 1.65x faster
    (NATIVE, 10.0, 9.6, "fp32"),       # 4% faster: below MIN_SPEEDUP, noise
    (NATIVE, 10.0, 9.5, "bf16"),       # exactly 1.05x
    (NATIVE, 10.0, 12.0, "fp32"),      # native but slower (small models: autocast overhead)
    (EMULATED, 139.0, 84.0, "fp32"),   # never bf16 without native support, whatever a timing says
])
def test_decide_uses_native_support_and_the_measured_speedup(native, fp32_ms, bf16_ms, want):
    precision, reason = policy.decide(*native, fp32_ms, bf16_ms, "render:paper")
    assert precision == want
    assert reason.startswith(want + ":") and native[1] in reason
    if native[0]:
        assert f"{fp32_ms:.1f} ms fp32" in reason and "paper renders" in reason


def test_auto_measures_once_per_machine_and_workload_then_uses_the_cache(fresh_cache):
    t = Timings(139.0, 84.0)
    first = policy.choose_precision("auto", CPU, "render:paper", timings=t, native=NATIVE)
    assert (first.precision, first.source, first.fp32_ms, first.bf16_ms) == ("bf16", "measured", 139.0, 84.0)
    again = policy.choose_precision("auto", CPU, "render:paper", timings=t, native=NATIVE)
    assert (again.precision, again.source, t.calls) == ("bf16", "cached", 1)
    assert "measured earlier" in again.reason
    other = Timings(10.0, 11.0)
    assert policy.choose_precision("auto", CPU, "render:tiny", timings=other, native=NATIVE).precision == "fp32"
    assert other.calls == 1
    entries = json.loads(fresh_cache.read_text())
    assert len(entries) == 2 and all(k.startswith(policy.machine_key(CPU)) for k in entries)
    choice = policy.choose_precision("auto", CPU, "render:paper", timings=t, native=NATIVE, use_cache=False)
    assert choice.source == "measured"


def test_explicit_requests_and_non_native_auto_never_time():
    t = Timings(139.0, 84.0)
    assert policy.choose_precision("fp32", CPU, "render:paper", timings=t, native=NATIVE).precision == "fp32"
    assert policy.choose_precision("bf16", CPU, "render:paper", timings=t, native=NATIVE).precision == "bf16"
    auto = policy.choose_precision("auto", CPU, "render:paper", timings=t, native=EMULATED)
    assert (auto.precision, auto.source) == ("fp32", "no native bf16") and "5x slower" in auto.reason
    assert t.calls == 0


def test_auto_without_a_timing_is_bf16_where_native():
    c = policy.choose_precision("auto", CPU, "", timings=None, native=NATIVE)
    assert (c.precision, c.source) == ("bf16", "not measured")


def test_bf16_without_native_support_warns_once_naming_the_slowdown(caplog):
    with caplog.at_level(logging.WARNING, logger="layout2im_core.precision"):
        for _ in range(3):
            c = policy.choose_precision("bf16", CPU, "render:paper", native=EMULATED)
    assert c.precision == "bf16" and "emulated" in c.reason
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "no native bf16" in warnings[0].getMessage() and "slower than fp32" in warnings[0].getMessage()


def test_bad_precision_name():
    with pytest.raises(ValueError, match="precision must be one of"):
        policy.choose_precision("fp16", CPU)


def test_unreadable_or_unwritable_cache_still_decides(fresh_cache, tmp_path, monkeypatch):
    fresh_cache.parent.mkdir(parents=True)
    fresh_cache.write_text("{not json")
    t = Timings(139.0, 84.0)
    assert policy.choose_precision("auto", CPU, "render:paper", timings=t, native=NATIVE).precision == "bf16"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(policy.CACHE_ENV, str(blocker / "sub"))  # cannot be created
    assert policy.choose_precision("auto", CPU, "render:x", timings=t, native=NATIVE).source == "measured"


def test_time_alternating_alternates_and_takes_medians():
    clock = {"t": 0.0}
    cost = {"fp32": [0.010, 0.012, 0.011, 0.030], "bf16": [0.005, 0.006, 0.007, 0.005]}  # warm-up first
    order = []

    def run(p):
        order.append(p)
        clock["t"] += cost[p].pop(0)

    fp32_ms, bf16_ms = policy.time_alternating(run, rounds=3, clock=lambda: clock["t"])
    assert order == ["fp32", "bf16", "fp32", "bf16", "bf16", "fp32", "fp32", "bf16"]
    assert fp32_ms == pytest.approx(12.0) and bf16_ms == pytest.approx(6.0)


# --- devices ------------------------------------------------------------------------------------------
def test_resolve_device():
    assert policy.resolve_device(None) == policy.resolve_device("auto") == (
        torch.device("cuda:0") if torch.cuda.is_available() else CPU)
    assert policy.resolve_device("cpu") == CPU
    with pytest.raises(DeviceError, match="not a device"):
        policy.resolve_device("gpu please")
    for name in ("meta", "cpu:0", 5):  # only auto, cpu, cuda and cuda:<index>
        with pytest.raises(DeviceError, match="not a device"):
            policy.resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_device_error():
    with pytest.raises(DeviceError, match="CUDA is not available.*--device cpu"):
        policy.resolve_device("cuda")
    with pytest.raises(DeviceError):
        Layout2ImModel.random("tiny", device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("argv", [
    ["generate", "--model", "scenes64", "--layout", str(LAYOUTS / "beach.json"), "--out", "OUT", "--device", "cuda"],
    ["info", "--device", "cuda"],
    ["train", "--preset", "scenes64", "--data", "OUT", "--run-dir", "OUT/run", "--device", "cuda"],
    ["eval", "--model", "scenes64", "--data", "SCENES", "--train-split", "all", "--eval-split", "all", "--n", "2",
     "--out", "OUT/e.json", "--device", "cuda"],
    ["check-scenes", "--model", "scenes64", "--device", "cuda"],
])
def test_cli_cuda_without_cuda_is_one_line_exit_2(argv, tmp_path, capsys):
    if "SCENES" in argv:
        from layout2im_core.data.scenes import make_scenes
        make_scenes(4, tmp_path / "scenes", 0)
    argv = [a.replace("SCENES", str(tmp_path / "scenes")).replace("OUT", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"layout2im {argv[0]}: error: device 'cuda'") and "CUDA is not available" in err[-1]
    assert not any("Traceback" in line for line in err)


# --- the model and the CLI ----------------------------------------------------------------------------
def test_model_auto_precision_follows_the_policy(monkeypatch):
    monkeypatch.setattr(policy, "native_bf16", lambda device: EMULATED)
    m = Layout2ImModel.random("tiny", precision="auto")
    assert m.precision == "fp32" and "no native bf16" in m.precision_reason
    monkeypatch.setattr(policy, "native_bf16", lambda device: NATIVE)
    monkeypatch.setattr(policy, "time_alternating", lambda run, **kw: (run("fp32"), run("bf16"), (20.0, 10.0))[-1])
    m.set_precision("auto")
    assert m.precision == "bf16" and m.precision_choice.workload == "render:tiny"
    assert m.precision_choice.label == "CPU · bf16"
    m.set_precision("fp32")
    assert m.precision == "fp32" and m.precision_reason == "fp32: requested"


def test_cli_generate_bf16_without_native_warns_once(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(policy, "native_bf16", lambda device: EMULATED)
    path = tmp_path / "tiny.safetensors"
    Layout2ImModel.random("tiny", seed=1).save(path)
    with caplog.at_level(logging.WARNING):
        for i in range(2):
            assert main(["generate", "--model", str(path), "--layout", str(LAYOUTS / "beach.json"),
                         "--out", str(tmp_path / f"o{i}"), "--precision", "bf16"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "bf16" in r.getMessage()]
    assert len(warnings) == 1 and "emulated" in warnings[0] and "5x slower" in warnings[0]


def test_cli_info_device_reports_the_choice_and_why(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(policy, "native_bf16", lambda device: EMULATED)
    assert main(["info", "--device", "cpu", "--preset", "tiny"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cpu" and report["native_bf16"] is False
    assert report["choice"]["precision"] == "fp32" and "no native bf16" in report["choice"]["reason"]
    assert set(report["cpu_features"]) == {"avx2", "avx512", "avx512_bf16", "amx"}
    assert report["model"]["preset"] == "tiny"


def test_training_precision_is_measured_per_preset_and_skipped_under_ddp(monkeypatch):
    from layout2im_core.training.distributed import choose_train_precision, resolve_precision

    monkeypatch.setattr(policy, "native_bf16", lambda device: NATIVE)
    calls = []
    monkeypatch.setattr(policy, "time_alternating", lambda run, **kw: calls.append(run) or (100.0, 60.0))
    c = choose_train_precision("auto", CPU, "tiny")
    assert (c.precision, c.workload, c.source, len(calls)) == ("bf16", "train:tiny", "measured", 1)
    assert resolve_precision("auto", CPU, "tiny") == "bf16" and len(calls) == 1  # cached
    ddp = choose_train_precision("auto", CPU, "paper", world_size=2)
    assert (ddp.precision, ddp.source, len(calls)) == ("bf16", "not measured", 1)
    assert resolve_precision("fp32", CPU, "tiny") == "fp32"


def test_train_probe_runs_both_precisions():
    from layout2im_core.training.distributed import train_probe

    run = train_probe("tiny", CPU, batch=2, objects=2)
    state = torch.random.get_rng_state()
    run("fp32")
    run("bf16")
    assert torch.equal(state, torch.random.get_rng_state())  # the trainer's seeding is untouched


def test_flush_subnormals_reaches_the_threads_started_after_it():
    """Torch's OpenMP workers and the app's render thread are started after the call: a new thread
    copies its creator's floating-point control register, so they flush too (docs/benchmarks.md)."""
    import threading

    seen = {}

    def check(key):
        seen[key] = float(torch.tensor([1e-39], dtype=torch.float32) * 1.0)

    def creator():
        torch.set_flush_denormal(False)
        check("before")
        seen["supported"] = policy.flush_subnormals()
        child = threading.Thread(target=check, args=("child",))
        child.start()
        child.join()
        check("self")
        torch.set_flush_denormal(False)

    t = threading.Thread(target=creator)
    t.start()
    t.join()
    if not seen["supported"] or seen["before"] == 0.0:
        pytest.skip("this CPU has no flush-to-zero control, or flushes already")
    assert seen["self"] == 0.0 and seen["child"] == 0.0
