"""Does the generated image keep up with a drag? Drives the real window (offscreen): a layout of N
objects, one box dragged by mouse events at 60 Hz for a few seconds, and counts the images that
reach the screen per second (worker thread, coalescing and GUI included). Target (issue #5): >= 15
renders/s with the default model on 2 CPU cores.

    python benchmarks/app_drag.py [--model FILE] [--preset lite] [--objects 8] [--seconds 5] [--threads 2]

Without a shipped default model (resources/models/scenes64.safetensors) a random-weight model of
``--preset`` stands in (same architecture cost; the images are noise).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _app_bench import add_model_args, model_only_ms, start  # noqa: E402

TARGET_RPS = 15.0
MOUSE_HZ = 60.0


def move_box(moving: int):
    """A ``model_only_ms`` change: box ``moving`` at a new mask position every time."""
    def change(objs, n) -> None:
        x0, y0, x1, y1 = objs[moving].bbox
        dx = 0.02 * (n + 1) * (-1) ** n
        objs[moving] = objs[moving].with_bbox((x0 + dx, y0, x1 + dx, y1))
    return change


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(p)
    p.add_argument("--seconds", type=float, default=5.0)
    args = p.parse_args()

    from PySide6.QtCore import QCoreApplication, QEvent, QPointF, Qt, QTimer
    from PySide6.QtGui import QMouseEvent

    app, model, source, w, layout = start(args)
    ed = w.editor
    moving = args.objects // 2
    uid = ed.doc.uids()[moving]
    ed.selection.set([uid])
    # settle: first full render
    while w._render_timer.isActive() or w.client.busy or w.last_result is None:
        app.processEvents()
        time.sleep(0.005)

    shown, render_ms = [], []
    w.client.image_ready.connect(lambda r: (shown.append(time.perf_counter()), render_ms.append(r.elapsed_ms)))
    vp = w.canvas.viewport()
    b = ed.doc.get(uid).bbox
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2

    def send(kind, x, y):
        pos = w.canvas.to_viewport(x, y)
        pos = QPointF(round(pos.x()), round(pos.y()))
        etype = {"press": QEvent.MouseButtonPress, "move": QEvent.MouseMove, "release": QEvent.MouseButtonRelease}[kind]
        btn = Qt.NoButton if kind == "move" else Qt.LeftButton
        QCoreApplication.sendEvent(vp, QMouseEvent(etype, pos, vp.mapToGlobal(pos), btn,
                                                   Qt.NoButton if kind == "release" else Qt.LeftButton,
                                                   Qt.NoModifier))

    send("press", cx, cy)
    t0 = time.perf_counter()
    moves = [0]

    def tick():
        t = time.perf_counter() - t0
        if t >= args.seconds:
            timer.stop()
            send("release", cx + 0.25 * math.sin(moves[0] / 20), cy)
            app.quit()
            return
        moves[0] += 1
        send("move", cx + 0.25 * math.sin(moves[0] / 20), cy + 0.1 * math.sin(moves[0] / 31))

    timer = QTimer()
    timer.setTimerType(Qt.PreciseTimer)
    timer.setInterval(int(1000 / MOUSE_HZ))
    timer.timeout.connect(tick)
    timer.start()
    app.exec()
    elapsed = time.perf_counter() - t0
    rps = len(shown) / elapsed
    out = []  # on a thread of its own, like the app's worker (the main thread times differently)
    th = threading.Thread(target=lambda: out.append(model_only_ms(model, layout, move_box(moving))))
    th.start()
    th.join()
    ref_ms = out[0]
    w.editor.stack.setClean()
    w.close()

    print(f"model: {source}, preset {getattr(model, 'preset', '?')}, device {model.device}, "
          f"precision {getattr(model, 'precision', '?')}, torch threads {args.threads}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (others' work slows this down)")
    print(f"drag: {args.objects} objects, {moves[0]} mouse moves in {elapsed:.1f} s ({moves[0] / elapsed:.0f}/s)")
    print(f"images on screen during the drag: {len(shown)} -> {rps:.1f} renders/s "
          f"(target {TARGET_RPS:.0f}/s, ratio {rps / TARGET_RPS:.2f}); "
          f"median model time {statistics.median(render_ms) if render_ms else float('nan'):.1f} ms")
    print(f"model alone, edit path, one box moving: {ref_ms:.1f} ms per render -> at most "
          f"{1000 / ref_ms:.1f} renders/s; the app delivered {rps * ref_ms / 10:.0f}% of that")
    return 0


if __name__ == "__main__":
    sys.exit(main())
