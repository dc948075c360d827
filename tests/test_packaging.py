"""Desktop packaging: the launcher file, the PyInstaller spec, and (slow) the built bundle's self-test."""

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "layout2im-studio.spec"
DESKTOP = PACKAGING / "layout2im-studio.desktop"
BUNDLE_EXE = ROOT / "dist" / "layout2im-studio" / "layout2im-studio"


def _desktop_entry() -> dict:
    lines = DESKTOP.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    return dict(line.split("=", 1) for line in lines[1:] if "=" in line and not line.startswith("#"))


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate not installed (apt-get install desktop-file-utils)")
def test_desktop_file_validates():
    res = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_desktop_file_names_the_app_and_its_icon():
    entry = _desktop_entry()
    assert entry["Type"] == "Application" and entry["Name"] == "Layout2Im Studio"
    assert entry["Exec"].split()[0] == "layout2im-studio" and entry["Icon"] == "layout2im-studio"
    assert "Graphics" in entry["Categories"].split(";")


def test_icon_exists_as_svg_and_pngs():
    icons = ROOT / "resources" / "icons"
    assert "<svg" in (icons / "layout2im-studio.svg").read_text(encoding="utf-8")
    for size in (48, 128, 256):
        head = (icons / f"layout2im-studio-{size}.png").read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", head[16:24]) == (size, size)


def test_install_launcher_installs_and_removes_for_the_current_user(tmp_path):
    exe = tmp_path / "my apps" / "layout2im-studio"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    data = tmp_path / "share"
    env = dict(os.environ, HOME=str(tmp_path), XDG_DATA_HOME=str(data))
    script = str(PACKAGING / "install-launcher.sh")
    res = subprocess.run(["bash", script, "--exec", str(exe)], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    desktop = data / "applications" / "layout2im-studio.desktop"
    text = desktop.read_text(encoding="utf-8")
    assert f'Exec="{exe}" %f' in text and f"TryExec={exe}" in text
    for size in (48, 128, 256):
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "layout2im-studio.png").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "layout2im-studio.svg").is_file()
    assert (data / "mime" / "packages" / "layout2im-studio.xml").is_file()
    if shutil.which("desktop-file-validate"):
        assert subprocess.run(["desktop-file-validate", str(desktop)]).returncode == 0
    res = subprocess.run(["bash", script, "--uninstall"], env=env, capture_output=True, text=True)
    assert res.returncode == 0 and not desktop.exists()
    assert not (data / "icons" / "hicolor" / "48x48" / "apps" / "layout2im-studio.png").exists()


def test_spec_names_the_entry_point_and_resources():
    spec = SPEC.read_text(encoding="utf-8")
    assert 'ENTRY = ROOT / "packaging" / "entry.py"' in spec and "[str(ENTRY)]" in spec
    assert (PACKAGING / "entry.py").is_file()
    assert 'tree(RESOURCES, "resources")' in spec
    assert '"layout2im_core/resources"' in spec
    assert "strip=True" not in spec and "strip=False" in spec
    assert "console=False" in spec and "exclude_binaries=True" in spec  # windowed, onedir


def test_entry_imports_torch_before_qt_and_calls_main():
    entry = (PACKAGING / "entry.py").read_text(encoding="utf-8")
    assert 'if __name__ == "__main__":' in entry and "freeze_support()" in entry
    code = [line.strip() for line in entry.split('"""', 2)[2].splitlines()]
    i_torch = next(i for i, line in enumerate(code) if line.startswith("import torch"))
    i_main = code.index("from app.__main__ import main")
    assert i_torch < i_main and not any("PySide6" in line for line in code[:i_torch])


@pytest.mark.slow
def test_bundle_builds_and_passes_its_self_test(tmp_path):
    """Build dist/layout2im-studio with packaging/build.sh (minutes) and run its --self-test."""
    build = subprocess.run(["bash", str(PACKAGING / "build.sh")], cwd=ROOT, capture_output=True, text=True,
                           timeout=3600, env=dict(os.environ, PYTHON=sys.executable))
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert BUNDLE_EXE.is_file() and os.access(BUNDLE_EXE, os.X_OK)
    internal = BUNDLE_EXE.parent / "_internal"
    assert (internal / "layout2im_core" / "resources" / "vocab_coco_stuff.json").is_file()
    assert not (internal / "torch" / "include").exists() and not (internal / "torch" / "test").exists()

    args = [str(BUNDLE_EXE), "--self-test", str(tmp_path / "shot" / "window.png")]
    default_model = ROOT / "resources" / "models" / "scenes64.safetensors"
    if not default_model.exists():  # the shipped model is not trained yet: use a tiny random one
        from layout2im_core.inference import Layout2ImModel
        Layout2ImModel.random("tiny", seed=0).save(tmp_path / "tiny.safetensors")
        args += ["--model", str(tmp_path / "tiny.safetensors")]
    # A clean environment: no Python, no venv, only what the bundle carries.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "LANG": "C.UTF-8"}
    res = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = tmp_path / "shot" / "window.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", out.read_bytes()[16:24])
    assert width >= 800 and height >= 500
