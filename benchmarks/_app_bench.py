"""Shared set-up of the app benchmarks (app_drag.py, app_slider.py): the model, the real window
(offscreen unless QT_QPA_PLATFORM says otherwise) and a layout of N objects in it."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def add_model_args(p, objects: int = 8) -> None:
    """The arguments every app benchmark takes: model, stand-in preset, objects, threads."""
    p.add_argument("--model", help="model file (default: the shipped default model)")
    p.add_argument("--preset", default="lite-masks",
                   help="preset of the stand-in model when none is shipped (scenes64 is lite-masks)")
    p.add_argument("--objects", type=int, default=objects)
    p.add_argument("--threads", type=int, default=2)


def load_model(args):
    """The model file ``args.model``, else the shipped default, else a random-weight ``args.preset``
    model (same architecture cost; images are noise). Returns (model, description)."""
    import torch

    from layout2im_core.inference import Layout2ImModel, default_model_path

    torch.set_num_threads(args.threads)
    path = Path(args.model) if args.model else Path(default_model_path())
    if path.exists():
        return Layout2ImModel.load(path), f"{path} (default model)" if not args.model else str(path)
    return Layout2ImModel.random(args.preset, seed=0, device=None, precision="auto"), \
        f"random-weight '{args.preset}' (no {path.name} in resources/models)"


def open_window(app, model):
    """Show a MainWindow (temporary settings and recovery file) with ``model`` loaded; returns it."""
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow
    from app.selftest import ConsoleDialogs
    from app.settings import AppSettings

    tmp = Path(tempfile.mkdtemp(prefix="l2i_bench_"))
    w = MainWindow(settings=AppSettings(QSettings(str(tmp / "s.ini"), QSettings.IniFormat)),
                   dialogs=ConsoleDialogs(), recovery_path=tmp / "r.json")
    w.resize(1280, 760)
    w.show()
    loaded = []
    w.client.model_loaded.connect(loaded.append)
    w.set_model(model)
    while not loaded:
        app.processEvents()
        time.sleep(0.01)
    return w


def fill_layout(w, model, n, categories):
    """Add ``n`` overlapping boxes of ``categories`` (each with a seeded z) to the window's document;
    returns the LayoutSpec they form."""
    from layout2im_core.types import LayoutSpec, ObjectSpec

    zs = model.sample_z(n, 1)
    specs = []
    for i in range(n):
        x0, y0 = 0.05 + 0.5 * ((i * 37) % 10) / 10, 0.05 + 0.5 * ((i * 53) % 10) / 10
        specs.append(ObjectSpec(categories[(i * 11) % len(categories)], (x0, y0, x0 + 0.35, y0 + 0.35), tuple(zs[i])))
    layout = LayoutSpec(tuple(specs))
    for o in layout.objects:
        w.editor.add_object(o.category, o.bbox)
    for uid, o in zip(w.editor.doc.uids(), layout.objects):
        w.editor.set_z(uid, o.z)
    return layout


def start(args, trained_only: bool = False):
    """A QApplication, the model (``load_model``), the window with it loaded and a layout of
    ``args.objects`` boxes (of the model's trained categories with ``trained_only``, else of all).
    Returns (app, model, description of the model, window, layout)."""
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    model, source = load_model(args)
    w = open_window(app, model)
    layout = fill_layout(w, model, args.objects, model.trained_categories if trained_only else model.categories)
    return app, model, source, w, layout


def model_only_ms(model, layout, change, renders: int = 12) -> float:
    """Median ms of the model alone (no Qt) for edit-path renders of ``layout`` changed by
    ``change(objects, n)`` (a list of its objects, changed in place; n counts the renders from 0)
    each time, the first render (warm-up) left out: the ceiling the app can reach is 1000 / this."""
    import statistics

    times = []
    for n in range(renders + 1):
        objs = list(layout.objects)
        change(objs, n)
        t0 = time.perf_counter()
        model.generate(type(layout)(tuple(objs)), seed=0)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:])
