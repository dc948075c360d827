"""``layout2im-studio --self-test OUT.png`` end to end, in a subprocess (real window, offscreen)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.gui


def run(args, tmp_path, **env):
    e = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
             XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=180)


def test_self_test_renders_and_saves_the_window(tiny_model, tmp_path):
    model = tmp_path / "tiny.safetensors"
    tiny_model.save(model)
    out = tmp_path / "shot" / "window.png"
    res = run(["--self-test", str(out), "--model", str(model)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "first image" in res.stdout
    img = QImage(str(out))
    assert img.width() >= 800 and img.height() >= 500


@pytest.mark.slow
def test_self_test_fails_clearly_without_a_model(tmp_path):
    res = run(["--self-test", str(tmp_path / "x.png")], tmp_path, LAYOUT2IM_RESOURCES=str(tmp_path / "none"))
    assert res.returncode != 0
    assert "No model loaded" in res.stderr and not (tmp_path / "x.png").exists()
