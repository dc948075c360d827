"""``layout2im-studio --self-test OUT.png``: open the real window, load the default model and an
example layout, render it, save a grab of the window to OUT.png and exit 0 (non-zero with a message
on stderr when any step fails or takes too long)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QTimer

from layout2im_core.model_registry import default_model_path
from layout2im_core.project import Project, ProjectFileError, ProjectObject, load_project

from .dialogs import Dialogs
from .theme import application

EXAMPLE = "beach.json"
BUILTIN = (("sky-other", (0.0, 0.0, 1.0, 0.45)), ("sea", (0.0, 0.45, 1.0, 0.8)),
           ("sand", (0.0, 0.8, 1.0, 1.0)), ("boat", (0.35, 0.42, 0.62, 0.62)))


class ConsoleDialogs(Dialogs):
    """Dialogs that never block: messages go to stderr, questions get the safe answer."""

    def __init__(self):
        super().__init__()
        self.errors = []

    def error(self, title: str, text: str) -> None:
        self.errors.append(f"{title}: {text}")
        print(f"self-test: {title}: {text}", file=sys.stderr)

    def info(self, title, text):
        print(f"self-test: {title}: {text}", file=sys.stderr)

    def ask_yes_no(self, title, text):
        return False

    def ask_save(self, title, text):
        return "discard"


def example_project(categories, layouts_dir: Optional[Path]) -> Project:
    """``layouts_dir/beach.json`` when present and readable, else a small built-in beach (objects the
    model lacks are replaced by its first categories)."""
    if layouts_dir is not None and (layouts_dir / EXAMPLE).exists():
        try:
            return load_project(layouts_dir / EXAMPLE)
        except ProjectFileError as e:
            print(f"self-test: {e}; using the built-in layout", file=sys.stderr)
    known = set(categories)
    objs = [ProjectObject(c if c in known else categories[i % len(categories)], b)
            for i, (c, b) in enumerate(BUILTIN)]
    return Project(tuple(objs))


def run_self_test(window, out_path: str, model_path: Optional[str] = None, timeout_s: float = 120.0,
                  t_launch: Optional[float] = None) -> int:
    """Drive ``window`` (shown, not started) through the self-test; returns the exit code.
    ``t_launch``: ``time.perf_counter()`` at launch, for the reported time to the first image."""
    app = application()
    t0 = time.perf_counter() if t_launch is None else t_launch
    state = {"code": 3, "loaded": False}

    def finish(code: int, message: str = "") -> None:
        state["code"] = code
        if message:
            print(f"self-test: {message}", file=sys.stderr)
        window.files.editor.stack.setClean()
        window.close()
        app.exit(code)

    def on_loaded(info) -> None:
        if state["loaded"]:
            return
        state["loaded"] = True
        layouts = default_model_path().parents[1] / "layouts"
        project = example_project(info.categories, layouts)
        window.editor.doc.load_project(project)
        window.files._after_replace(None)

    def on_image(result) -> None:
        if not state["loaded"] or not window.editor.doc.objects:
            return
        QTimer.singleShot(200, lambda: grab(result))

    def grab(result) -> None:
        if state["code"] != 3:
            return
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out), "PNG"):
            finish(4, f"cannot write {out}")
            return
        print(f"self-test: model {window.model_info.name} on {window.model_info.device}, "
              f"{len(window.editor.doc.objects)} objects, render {result.elapsed_ms:.0f} ms, "
              f"first image {time.perf_counter() - t0:.1f} s after launch; window saved to {out}")
        finish(0)

    window.client.model_loaded.connect(on_loaded)
    window.client.image_ready.connect(on_image)
    window.client.model_failed.connect(lambda msg: finish(2, f"model failed: {msg}"))
    window.client.render_error.connect(lambda msg: finish(5, f"render failed: {msg}"))
    QTimer.singleShot(int(timeout_s * 1000), lambda: finish(3, f"timed out after {timeout_s:.0f} s"))
    QTimer.singleShot(0, lambda: window.start(model_path, recover=False))
    app.exec()
    return state["code"]
