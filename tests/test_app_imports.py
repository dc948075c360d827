"""Boundaries: the import contracts of pyproject.toml (``[tool.importlinter]``: the core never imports
Qt or the app; the app imports only the core's public API modules; those the GUI thread imports are
torch-free; the core's layers) hold, the app imports torch only lazily, and the window appears before
torch is imported."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Contracts:" in out.stdout and "0 broken" in out.stdout, out.stdout


def test_app_never_imports_torch_at_module_level():
    bad = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:  # top level only: lazy imports are fine
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [(path.name, n) for n in names if n.split(".")[0] == "torch" or n == "layout2im_core.inference"]
    assert not bad, bad


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
