"""Shared test set-up: Qt runs offscreen, QSettings and app data go to a temporary folder, and GUI
tests get a tiny random-weight model and dialogs that answer without blocking."""

import json
import os
from pathlib import Path

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


@pytest.fixture(autouse=True)
def _repeatable_looks():
    """New looks take their seeds from Python's ``random`` (``app/appearance.py: random_looks``): seeded
    per test, so a test sees the same looks every run (a slider move on some random looks of the tiny
    model changes no pixel of the 8-bit image: about 1 in 16)."""
    import random

    random.seed(0)


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


# --- shared helpers of the core tests (fixtures; test modules never import each other) --------------
@pytest.fixture
def one_thread():
    """Training and tiny-network tests run single-threaded: small convs on a shared 2-core machine are
    several times faster without intra-op threads contending with other processes."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


class SyntheticLayouts:
    """``n`` images of coloured boxes on grey, 2..max_objects objects from ``categories`` ids: a map-style
    data set (items of the batch contract; objects in a random, stored order)."""

    def __init__(self, n: int = 8, categories: int = 4, max_objects: int = 4, seed: int = 0):
        import torch

        from layout2im_core.vocab import Vocabulary

        g = torch.Generator().manual_seed(seed)
        self.vocabulary = Vocabulary.from_names([f"cat{i}" for i in range(1, categories + 1)])
        self.items = []
        for _ in range(n):
            k = int(torch.randint(2, max_objects + 1, (1,), generator=g))
            objs = torch.randint(1, categories + 1, (k,), generator=g)
            xy = torch.rand(k, 2, generator=g) * 0.6
            wh = 0.2 + torch.rand(k, 2, generator=g) * 0.3
            bboxes = torch.cat([xy, (xy + wh).clamp(max=1.0)], 1)
            img = torch.full((3, 64, 64), 0.5)
            for o, b in zip(objs.tolist(), bboxes.tolist()):
                x0, y0, x1, y1 = (int(round(v * 64)) for v in b)
                img[:, y0:y1, x0:x1] = torch.tensor([o % 2, (o // 2) % 2, 0.8])[:, None, None]
            self.items.append({"img": img, "objs": objs, "bboxes": bboxes.float()})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return dict(self.items[i])


@pytest.fixture(scope="session")
def synthetic_layouts():
    """The class ``SyntheticLayouts(n=8, categories=4, max_objects=4, seed=0)``: the tiny training data
    set the training tests share."""
    return SyntheticLayouts


VG_VOCAB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "vg-meta" / "vocab.json"
SLOTS = 30


def _write_vg(root: Path, name="train.h5", drop_field=None):
    """5 images: 0 has 12 objects, 10 in relationships; 1 has 4 objects, 2 in one relationship;
    2 has 2 objects (too few); 3 has no image file; 4 has 4 objects, one of unknown id 999."""
    import h5py
    import numpy as np
    from PIL import Image

    vocab_size = len(json.loads(VG_VOCAB.read_text())["object_idx_to_name"])
    rng = np.random.default_rng(0)
    (root / "images" / "VG_100K").mkdir(parents=True, exist_ok=True)
    counts = [12, 4, 2, 4, 4]
    sizes = [(200, 100), (120, 160), (100, 100), (100, 100), (80, 80)]
    names = np.full((5, SLOTS), -1, np.int32)
    boxes = np.full((5, SLOTS, 4), -1, np.int32)
    rel_s, rel_o = np.full((5, SLOTS), -1, np.int32), np.full((5, SLOTS), -1, np.int32)
    rel_n = np.array([5, 1, 0, 0, 0], np.int32)
    for i, (n, (w, h)) in enumerate(zip(counts, sizes)):
        names[i, :n] = rng.integers(1, vocab_size, n)
        boxes[i, :n] = [[w // 4, h // 4, w // 2, h // 2]] * n
    boxes[1, 0] = [60, 80, 120, 160]  # reaches outside its 120x160 image: clipped
    names[4, 3] = 999
    rel_s[0, :5], rel_o[0, :5] = [0, 2, 4, 6, 8], [1, 3, 5, 7, 9]
    rel_s[1, 0], rel_o[1, 0] = 2, 3
    paths = [f"VG_100K/{i}.jpg" for i in range(5)]
    for i, (w, h) in enumerate(sizes):
        if i != 3:
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / paths[i])
    fields = {"image_ids": np.arange(5, dtype=np.int32), "object_names": names, "object_boxes": boxes,
              "objects_per_image": np.array(counts, np.int32), "relationship_subjects": rel_s,
              "relationship_objects": rel_o, "relationships_per_image": rel_n,
              "relationship_predicates": np.zeros((5, SLOTS), np.int32)}
    with h5py.File(root / name, "w") as f:
        for k, v in fields.items():
            if k != drop_field:
                f.create_dataset(k, data=v)
        if drop_field != "image_paths":
            f.create_dataset("image_paths", data=np.array(paths, dtype=object), dtype=h5py.string_dtype())
    return root / name


@pytest.fixture(scope="session")
def write_vg():
    """``write_vg(root, name="train.h5", drop_field=None) -> path``: a small Visual Genome h5 file (and
    its images) with the real vocabulary's ids (tests using it skip without ../shared/data)."""
    return _write_vg


def _official_file(tmp_path, preset="tiny", n=184, seed=0):
    """An official-layout generator state dict in the PyTorch 1.0 legacy format: (path, state dict)."""
    import torch

    from layout2im_core.config import model_preset
    from layout2im_core.models.generator import Generator

    torch.manual_seed(seed)
    G = Generator(model_preset(preset, n, legacy_numerics=True))
    sd = G.state_dict()
    for k, v in sd.items():  # non-trivial running statistics, as a trained checkpoint has
        if "running_var" in k:
            v.uniform_(0.5, 1.5)
        elif "running_mean" in k:
            v.normal_(0, 0.1)
    path = tmp_path / "netG_coco.pkl"
    torch.save(sd, path, _use_new_zipfile_serialization=False)  # the PyTorch 1.0 legacy format
    return path, sd


@pytest.fixture(scope="session")
def official_checkpoint():
    """``official_checkpoint(folder, preset="tiny", n=184, seed=0) -> (path, state dict)``: a
    ``netG_coco.pkl`` written as the official code wrote them."""
    return _official_file


def _build_cli_world(root: Path) -> dict:
    """The small world the CLI tests run in, under ``root``: a tiny model file, a small
    procedural-scenes folder and a one-step tiny run with its directions: ``{"root", "model", "scenes",
    "run"}``."""
    import torch

    from layout2im_core.data.scenes import make_scenes
    from layout2im_core.inference import Layout2ImModel
    from layout2im_core.training.config import train_preset
    from layout2im_core.training.trainer import train

    model = root / "tiny.safetensors"
    Layout2ImModel.random("tiny", seed=1).save(model)
    scenes = root / "scenes"
    make_scenes(4, scenes, seed=0, size=64, progress=False)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = train_preset("tiny-test").replace(data_path=str(scenes), split="all", iterations=1)
        train(cfg, root / "run", progress=False, argv=["test"])
    finally:
        torch.set_num_threads(n)
    return {"root": root, "model": model, "scenes": scenes, "run": root / "run"}


@pytest.fixture(scope="session")
def cli_world(tmp_path_factory):
    """One CLI world for the session (``_build_cli_world``): tests may read it and write beside it,
    never into it (the fuzz builds its own: ``make_cli_world``)."""
    return _build_cli_world(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="session")
def make_cli_world():
    """``make_cli_world(root) -> dict``: a private CLI world (for tests that may write into it)."""
    return _build_cli_world


# --- interpreter teardown ---------------------------------------------------------------------------
def pytest_sessionfinish(session, exitstatus):
    """Empty the clipboard while Python is still alive. Qt's offscreen platform (these tests) keeps the
    clipboard's QMimeData in a C++ global static (``q_clipboardData`` in qplatformclipboard.cpp) that
    the C runtime destroys at exit, after the interpreter has finalised; the app's copy commands put a
    Python-made QMimeData there, and its wrapper's destructor then called into the finalised interpreter
    and segfaulted (docs/architecture.md, "Qt object lifetimes")."""
    import sys

    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if isinstance(app, QApplication):
        app.clipboard().clear()
