"""Boundaries: the app reaches the core only through its public inference API and plain modules; the
core never imports Qt or the app; the window appears before torch is imported."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_CORE = {"layout2im_core.inference", "layout2im_core.types", "layout2im_core.project",
                "layout2im_core.errors", "layout2im_core.vocab",
                "layout2im_core.resources_path",  # torch-free: where the icons and models are
                "layout2im_core.atomic", "layout2im_core.input_files",
                "layout2im_core.boxes", "layout2im_core.model_api", "layout2im_core.model_registry"}  # torch-free: file writing and reading
QT = ("PySide6", "PyQt5", "PyQt6", "PySide2", "qtawesome", "shiboken6")


def imports(package: str):
    """(file, imported module) for every import statement under ``package``."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    yield path, a.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "layout2im_core":  # from layout2im_core import inference
                    for a in node.names:
                        yield path, f"layout2im_core.{a.name}"
                else:
                    yield path, node.module


def test_app_imports_only_the_core_inference_api():
    bad = [(p.relative_to(ROOT), m) for p, m in imports("app")
           if m.split(".")[0] == "layout2im_core" and m not in ALLOWED_CORE]
    assert not bad, f"app imports core modules outside the inference API: {bad}"


def test_app_never_imports_torch_at_module_level():
    bad = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:  # top level only: lazy imports are fine
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [(path.name, n) for n in names if n.split(".")[0] == "torch" or n == "layout2im_core.inference"]
    assert not bad, bad


def test_core_never_imports_qt_or_app():
    bad = [(p.relative_to(ROOT), m) for p, m in imports("layout2im_core") if m.split(".")[0] in QT + ("app",)]
    assert not bad, f"layout2im_core imports Qt or the app: {bad}"


def test_window_shows_before_torch_is_imported(tmp_path):
    code = f"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.main_window import MainWindow
from app.settings import AppSettings
w = MainWindow(settings=AppSettings(QSettings(r"{tmp_path / 's.ini'}", QSettings.IniFormat)),
               recovery_path=r"{tmp_path / 'r.json'}")
w.show()
app.processEvents()
assert w.isVisible()
assert "torch" not in sys.modules, "torch was imported before the window showed"
w.editor.stack.setClean()
w.close()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
