"""The CPU-side pieces of ``benchmarks/gpu_check.sh`` (issue 16): the ``--device cuda`` pytest option
skips cleanly without CUDA, the script parses, and its Python driver runs on the CPU (the whole driver
with ``-m slow``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_script_parses():
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")]).returncode == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_option_skips_cleanly_without_cuda():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--device", "cuda",
                        "tests/test_on_device.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "CUDA is not available" in p.stdout and " skipped" in p.stdout.splitlines()[-1]
    assert "passed" not in p.stdout.splitlines()[-1] and "failed" not in p.stdout


def test_driver_times_a_training_step_on_cpu(tmp_path):
    import gpu_check

    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--sections", "train_step", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["device"] == "cpu" and "native_bf16" in report["machine"]
    rows = report["sections"]["train_step"]
    assert set(rows) >= {"tiny/bf16", "tiny/fp32"} and rows["tiny/fp32"]["s_per_iter"] > 0


@pytest.mark.slow
def test_whole_driver_on_cpu(tmp_path):
    """All sections (pytest, generate, train_step, 2-process gloo DDP) through the shell script."""
    env = dict(os.environ, OUT=str(tmp_path), DEVICE="cpu", QUICK="1", OMP_NUM_THREADS="1", PYTHON=sys.executable)
    p = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    sections = report["sections"]
    assert not [name for name, s in sections.items() if "error" in s], sections
    assert sections["pytest"]["returncode"] == 0 and sections["ddp"]["ok"]
    assert sections["generate"]["tiny"]["bf16"]["full_1"]["median_ms"] > 0
