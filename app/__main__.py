"""Entry point ``layout2im-studio [PROJECT] [--model FILE] [--self-test OUT.png]``.

The window is shown before torch is imported: the inference module loads on the worker thread. Only
a frozen (PyInstaller) build imports torch first, because on Windows torch's DLLs must load before
Qt's (torch >= 2.9).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

_T_LAUNCH = time.perf_counter()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="layout2im-studio", description="Layout2Im Studio: sketch labelled "
                                "boxes and watch a Layout2Im model paint them, live.")
    p.add_argument("project", nargs="?", help="a project file to open (.l2i.json)")
    p.add_argument("--model", help="model file to load instead of the shipped default")
    p.add_argument("--self-test", metavar="OUT.png", help="open the window, render an example layout, "
                   "save the window's image to OUT.png and exit (0 = success)")
    p.add_argument("--theme", choices=["system", "light", "dark"], help="colour theme (remembered)")
    return p.parse_args(argv)


def create_application(qt_argv: List[str]):
    """The QApplication, or None after printing one line when Qt cannot open a window (no display,
    missing system libraries): Qt's own plugin dump and abort are replaced by that line."""
    import os

    from .platform_check import display_problem, startup_failure

    problem = display_problem(os.environ, qt_argv)
    if problem:
        print(problem, file=sys.stderr)
        return None
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    said: List[str] = []

    def hold(kind, context, message) -> None:
        said.append(message)
        if kind == QtMsgType.QtFatalMsg:  # Qt aborts after this returns: say it in one line and leave
            print(startup_failure(said, os.environ), file=sys.stderr, flush=True)
            os._exit(2)

    qInstallMessageHandler(hold)
    try:
        app = QApplication(qt_argv)
    finally:
        qInstallMessageHandler(None)
    for message in said:  # start-up went fine: pass on what Qt said meanwhile
        print(message, file=sys.stderr)
    return app


def main(argv: Optional[List[str]] = None) -> int:
    """Run the app; returns the exit code."""
    if getattr(sys, "frozen", False):
        import torch  # noqa: F401  (Windows DLL load order: torch before Qt)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or create_application(sys.argv[:1])
    if not isinstance(app, QApplication):
        return 2
    from .qt_compat import protect_none
    protect_none()  # PySide6 6.12 on Python < 3.12 loses references to None (see qt_compat)
    app.setOrganizationName("Layout2Im")
    app.setApplicationName("Layout2Im Studio")
    app.setDesktopFileName("layout2im-studio")  # Wayland/X11: matches layout2im-studio.desktop
    from .main_window import MainWindow
    from .theme import app_icon

    app.setWindowIcon(app_icon())

    if args.self_test:
        from .selftest import ConsoleDialogs, run_self_test
        window = MainWindow(dialogs=ConsoleDialogs())
        if args.theme:
            window.set_theme(args.theme)
        window.show()
        return run_self_test(window, args.self_test, args.model, t_launch=_T_LAUNCH)
    window = MainWindow()
    if args.theme:
        window.set_theme(args.theme)
    window.show()
    from PySide6.QtCore import QTimer
    QTimer.singleShot(0, lambda: window.start(args.model, args.project))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
