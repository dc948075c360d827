"""Shared test set-up: Qt runs offscreen, QSettings and app data go to a temporary folder, and GUI
tests get a tiny random-weight model and dialogs that answer without blocking."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import pytest


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu",
                     help="device for the device-aware tests (those using the ``device`` fixture): cpu (default) "
                          "or cuda / cuda:<i>; with a GPU device the other tests are skipped, and without CUDA "
                          "every test is skipped with the reason")


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--device")
    if wanted == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason=f"--device {wanted}: CUDA is not available on this machine")
    else:
        skip = pytest.mark.skip(reason=f"CPU-only test (not device-aware); run without --device {wanted}")
    for item in items:
        if not torch.cuda.is_available() or "device" not in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def device(request):
    """The torch device of ``--device`` (default cpu) for device-aware tests. On CUDA, TF32 is off so
    fp32 results can be compared to 1e-5."""
    import torch

    dev = torch.device(request.config.getoption("--device"))
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return dev


@pytest.fixture(scope="session", autouse=True)
def _isolated_precision_cache(tmp_path_factory):
    """The precision policy's per-machine timing cache goes to a temporary folder."""
    os.environ["LAYOUT2IM_CACHE_DIR"] = str(tmp_path_factory.mktemp("layout2im_cache"))
    yield


@pytest.fixture(scope="session", autouse=True)
def _isolated_qt_settings(tmp_path_factory):
    """Point every QSettings and QStandardPaths location at a temporary folder."""
    try:
        from PySide6.QtCore import QSettings, QStandardPaths
    except ImportError:  # core-only environments
        yield
        return
    root = tmp_path_factory.mktemp("qt_settings")
    for fmt in (QSettings.NativeFormat, QSettings.IniFormat):
        QSettings.setPath(fmt, QSettings.UserScope, str(root))
        QSettings.setPath(fmt, QSettings.SystemScope, str(root / "system"))
    QStandardPaths.setTestModeEnabled(True)
    yield


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny random-weight model (COCO-Stuff vocabulary), shared by the GUI tests."""
    from layout2im_core.inference import Layout2ImModel
    return Layout2ImModel.random("tiny", seed=0)


@pytest.fixture
def app_settings(tmp_path):
    """AppSettings backed by an ini file in the test's temporary folder."""
    from PySide6.QtCore import QSettings

    from app.settings import AppSettings
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))


class RecordingDialogs:
    """Stand-in for app.dialogs.Dialogs: records messages, answers questions from attributes."""

    def __init__(self):
        self.parent = None
        self.errors, self.infos, self.questions = [], [], []
        self.save_answer = "discard"       # ask_save
        self.yes_no_answer = False         # ask_yes_no
        self.open_answer = None            # open_file
        self.open_files_answer = None      # open_files (None: [open_answer] when that is set)
        self.save_file_answer = None       # save_file
        self.int_answer = 4                # get_int
        self.choose_answer = None          # choose

    def error(self, title, text):
        self.errors.append((title, text))

    def info(self, title, text):
        self.infos.append((title, text))

    def ask_yes_no(self, title, text):
        self.questions.append(title)
        return self.yes_no_answer

    def ask_save(self, title, text):
        self.questions.append(title)
        return self.save_answer

    def open_file(self, title, filters, directory=""):
        return self.open_answer

    def open_files(self, title, filters, directory=""):
        if self.open_files_answer is not None:
            return list(self.open_files_answer)
        return [self.open_answer] if self.open_answer else []

    def save_file(self, title, filters, directory=""):
        return self.save_file_answer

    def get_int(self, title, label, value, lo, hi):
        return self.int_answer

    def choose(self, title, label, items):
        return self.choose_answer


@pytest.fixture
def dialogs():
    """Non-blocking dialogs with canned answers."""
    return RecordingDialogs()


@pytest.fixture
def make_window(qtbot, app_settings, dialogs, tmp_path):
    """Factory: a shown MainWindow (no default-model load) with recording dialogs; ``model`` given ->
    it is loaded and the first model_loaded awaited."""
    from app.main_window import MainWindow

    windows = []

    def make(model=None, recovery_path=None):
        w = MainWindow(settings=app_settings, dialogs=dialogs,
                       recovery_path=recovery_path or tmp_path / "recovery.l2i.json")
        qtbot.addWidget(w)
        w.resize(1200, 700)
        w.show()
        if model is not None:
            with qtbot.waitSignal(w.client.model_loaded, timeout=20000):
                w.set_model(model)
        windows.append(w)
        return w

    yield make
    from PySide6.QtCore import QCoreApplication, QEvent

    for w in windows:
        w.editor.stack.setClean()
        w.close()
        w.client.shutdown()
        w.deleteLater()  # destroy the C++ side now, while the Python side is intact, not in a later GC pass
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


class Mouse:
    """Sends mouse and drop events straight to a view's viewport (positions in viewport pixels)."""

    def __init__(self, view):
        self.view = view

    def at(self, x, y):
        """Viewport pixel (rounded) of normalised canvas point (x, y)."""
        from PySide6.QtCore import QPointF
        p = self.view.to_viewport(x, y)
        return QPointF(round(p.x()), round(p.y()))

    def send(self, kind, pos, button=None, modifiers=None):
        from PySide6.QtCore import QEvent, QPointF, Qt
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication
        button = Qt.LeftButton if button is None else button
        modifiers = Qt.NoModifier if modifiers is None else modifiers
        vp = self.view.viewport()
        etype = {"press": QEvent.MouseButtonPress, "move": QEvent.MouseMove,
                 "release": QEvent.MouseButtonRelease}[kind]
        buttons = Qt.NoButton if kind == "release" else button
        ev = QMouseEvent(etype, QPointF(pos), vp.mapToGlobal(QPointF(pos)),
                         Qt.NoButton if kind == "move" else button, buttons, modifiers)
        QApplication.sendEvent(vp, ev)

    def drag(self, a, b, steps=4, button=None, modifiers=None):
        """Press at a, move in ``steps`` to b, release at b (QPointF viewport pixels)."""
        from PySide6.QtCore import QPointF
        self.send("press", a, button, modifiers)
        for i in range(1, steps + 1):
            t = i / steps
            self.send("move", QPointF(a.x() + (b.x() - a.x()) * t, a.y() + (b.y() - a.y()) * t), button, modifiers)
        self.send("release", b, button, modifiers)

    def drop(self, mime, pos):
        """Drag-enter, drag-move and drop ``mime`` at ``pos``; returns whether the drop was accepted."""
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
        from PySide6.QtWidgets import QApplication
        vp = self.view.viewport()
        ipos = pos.toPoint() if hasattr(pos, "toPoint") else pos  # enter/move take QPoint before Qt 6.12
        enter = QDragEnterEvent(ipos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(vp, enter)
        move = QDragMoveEvent(ipos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(vp, move)
        drop = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        QApplication.sendEvent(vp, drop)
        return drop.isAccepted()


@pytest.fixture
def canvas(qtbot):
    """(editor, view, mouse): a bare canvas (no window, no model) 600x600, fitted, category "sky"."""
    from app.canvas.view import CanvasView
    from app.editor import Editor
    editor = Editor()
    view = CanvasView(editor)
    qtbot.addWidget(view)
    view.resize(600, 600)
    view.show()
    qtbot.waitExposed(view)
    view.fit()
    editor.set_current_category("sky")
    return editor, view, Mouse(view)


# --- interpreter teardown -----------------------------------------------------------------------
# After the whole suite, CPython's final teardown can segfault while destroying the Qt application
# together with libtorch's globals (seen on a fresh clone: every test passed, then "Segmentation
# fault" at exit, which would turn a green run red). Once pytest has printed its summary, leave
# with the session's exit status without running that teardown.
_EXIT_STATUS = {"code": None}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    code = _EXIT_STATUS["code"]
    if code is None or os.environ.get("LAYOUT2IM_NORMAL_EXIT"):
        return
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
