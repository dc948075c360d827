"""The main window: composes canvas, image, palette, object list, appearance panel, status bar,
actions, file commands, look and photo commands, and the inference client. No geometry and no model
calls live here: it routes signals."""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QProgressBar, QSplitter, QVBoxLayout, QWidget

from layout2im_core.types import LayoutSpec

from .actions import ActionSet
from .canvas.view import CanvasView
from .dialogs import Dialogs
from .editor import Editor
from .files import FileController
from .image_view import ImageView
from .inference_worker import InferenceClient, ModelInfo, RenderResult
from .layout_checks import check_layout
from .library import Library
from .look_editor import LookEditor
from .panels import AppearancePanel, ObjectList, Palette
from .photo_tools import PhotoTools
from .qt_compat import protect_none
from .settings import AppSettings
from .theme import app_icon, apply_theme
from .variation_grid import VariationDialog, Variations

APP_NAME = "Layout2Im Studio"
RENDER_SEED = 0   # seed for objects without a z (a project written by hand)
NEW_BOX = (0.375, 0.375, 0.625, 0.625)  # where a double-clicked palette category lands


def format_ms(ms: float) -> str:
    """A render time for the status bar: "12 ms", "0.4 ms", "<0.1 ms" (never a bare "0 ms")."""
    return "<0.1 ms" if ms < 0.05 else f"{ms:.1f} ms" if ms < 9.95 else f"{ms:.0f} ms"


class MainWindow(QMainWindow):
    """The Layout2Im Studio window. ``dialogs`` and ``settings`` are injectable (tests).
    ``action_set``: every menu action by name (``ActionSet``)."""

    action_set: ActionSet

    def __init__(self, settings: Optional[AppSettings] = None, dialogs: Optional[Dialogs] = None,
                 recovery_path=None):
        super().__init__()
        protect_none()  # PySide6 6.12 on Python < 3.12 (see qt_compat)
        self.settings = settings or AppSettings()
        self.dialogs = dialogs or Dialogs()
        self.dialogs.parent = self
        self.editor = Editor(parent=self)
        self.client = InferenceClient(self)
        self.looks = LookEditor(self.editor, self.client, self)
        self.editor.look_source = self.looks.new_looks  # new objects get a look of the loaded model
        self.variations = Variations(self.looks, self.client, lambda: self.model_info, self)
        self.model_info: Optional[ModelInfo] = None
        self.last_result: Optional[RenderResult] = None
        self._notes: List[str] = []
        self._render_error = ""       # the last render's failure, shown in the banner until one succeeds
        self._requested: Optional[Tuple[LayoutSpec, int]] = None  # the newest render request of this epoch
        self._user_model_load = False
        self.setWindowIcon(app_icon())
        self._build_widgets()
        self.files = FileController(self.editor, self.settings, self.dialogs, self._identity,
                                    lambda: self.image_view.image, lambda: self.image_view.smooth,
                                    recovery_path, self)
        self.photos = PhotoTools(self.looks, self.dialogs, self.settings, self.files, self)
        self._build_actions()
        self.library = Library(self.settings, self.dialogs, self.files, self.client, self.action_set,
                               lambda path, user: self.load_model(path, user=user), lambda: self.model_info,
                               parent=self)
        self._connect()
        self.set_theme(self.settings.theme)
        self.action_set["overlay"].setChecked(self.settings.flag("view/overlay", False))
        self.action_set["smooth"].setChecked(self.settings.flag("view/smooth", False))
        geometry, state = self.settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 760)
        if state is not None:
            self.restoreState(state)
        self._update_title()
        self._show_model_state()

    # ---- construction --------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.canvas = CanvasView(self.editor)
        self.image_view = ImageView()
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #fff3c4; color: #5a4500; border: 1px solid #e0c060;"
                                  " border-radius: 4px; padding: 4px 8px; }")
        self.banner.hide()
        right = QWidget()
        lay = QVBoxLayout(right)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        lay.addWidget(self.image_view, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(right)
        self.splitter.setSizes([560, 560])
        self.setCentralWidget(self.splitter)
        self.palette_panel = Palette()
        self.object_list = ObjectList(self.editor)
        self.appearance = AppearancePanel(self.looks)
        self._docks: Dict[str, QDockWidget] = {}
        left_area, right_area = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        docks = (("Categories", self.palette_panel, left_area, "palette"),
                 ("Objects (fusion order)", self.object_list, right_area, "objects"),
                 ("Appearance", self.appearance, right_area, "appearance"))
        for title, widget, area, name in docks:
            dock = self._docks[name] = QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(area, dock)
        self.resizeDocks([self._docks["palette"]], [230], Qt.Orientation.Horizontal)
        sb = self.statusBar()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedSize(QSize(70, 12))
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setToolTip("Rendering…")
        self.busy_bar.setVisible(False)
        self.model_label, self.device_label, self.render_label = QLabel(), QLabel(), QLabel("—")
        self.tool_label = QLabel()
        for w in (self.tool_label, self.busy_bar, self.render_label, self.device_label, self.model_label):
            sb.addPermanentWidget(w)
        self._show_tool(self.canvas.tool)

    def _build_actions(self) -> None:
        ed, files = self.editor, self.files
        slots: Dict[str, Callable[..., Any]] = {
            "new": files.new, "open": files.open, "save": files.save, "save_as": files.save_as,
            "export_png": files.export_png, "copy_image": files.copy_image, "quit": self.close,
            "open_model": self.open_model, "import_official": self.import_official,
            "cut": self._cut, "copy": ed.copy_selected, "paste": ed.paste,
            "duplicate": ed.duplicate_selected, "delete": ed.delete_selected, "select_all": ed.select_all,
            "change_category": lambda: ed.set_category_of_selected(ed.current_category),
            "toggle_lock": ed.toggle_lock_selected,
            "reroll": self.looks.reroll_selected, "reroll_all": self.looks.reroll_all,
            "look_reset": self.looks.reset, "look_typical": self.looks.typical,
            "copy_look": self.looks.copy_look, "paste_look": self.looks.paste_look,
            "variations": self.show_variations, "look_from_photo": self.photos.look_from_photo,
            "import_annotation": self.photos.import_annotation,
            "fuse_later": lambda: ed.shift_selected(1), "fuse_earlier": lambda: ed.shift_selected(-1),
            "zoom_in": self.canvas.zoom_in, "zoom_out": self.canvas.zoom_out, "zoom_fit": self.canvas.fit,
            "overlay": self._set_overlay, "smooth": self._set_smooth,
            "draw_tool": lambda on: self.canvas.set_tool("draw" if on else "select"),
            "shortcuts": lambda: self.dialogs.info("Keyboard shortcuts", self.action_set.shortcut_text()),
            "about": lambda: self.dialogs.info("About", f"{APP_NAME}: sketch labelled boxes and watch a "
                                                        "Layout2Im model paint them, live on a CPU."),
        }
        undo = self.editor.stack.createUndoAction(self, "&Undo")
        redo = self.editor.stack.createRedoAction(self, "&Redo")
        self.action_set = ActionSet(self, slots, undo, redo)
        self.action_set.build_menus()
        self.action_set.theme_group.triggered.connect(lambda a: self.set_theme(a.data()))
        self.action_set.set_recent(self.settings.recent_files(), self.open_recent)
        self.canvas.context_actions = [None if n is None else self.action_set[n] for n in (
            "change_category", "toggle_lock", "reroll", "copy_look", "paste_look", "look_from_photo", None,
            "duplicate", "copy", "delete", None, "fuse_earlier", "fuse_later")]
        self.appearance.set_actions(self.action_set.by_name)
        for i in range(1, 10):
            a = QAction(f"Recent category {i}", self)
            a.setShortcut(QKeySequence(str(i)))
            a.triggered.connect(lambda _=False, i=i: self.editor.pick_recent(i - 1))
            self.addAction(a)

    def _connect(self) -> None:
        ed, c = self.editor, self.client
        ed.doc.subscribe(lambda ev: self.schedule_render())
        ed.stack.cleanChanged.connect(self._update_title)
        ed.message.connect(self.show_message)
        self.looks.message.connect(self.show_message)
        self.photos.message.connect(self.show_message)
        self.library.message.connect(lambda text: self.show_message(text, 8000))
        ed.current_category_changed.connect(self.palette_panel.select)
        ed.recent_changed.connect(self.palette_panel.set_recent)
        self.palette_panel.category_picked.connect(ed.set_current_category)
        self.palette_panel.category_activated.connect(lambda n: ed.add_object(n, NEW_BOX))
        self.canvas.tool_changed.connect(self._show_tool)
        ed.current_category_changed.connect(lambda _: self._show_tool(self.canvas.tool))
        self.files.path_changed.connect(self._update_title)
        self.files.message.connect(self.show_message)
        self.files.recent_changed.connect(lambda paths: self.action_set.set_recent(paths, self.open_recent))
        self.files.document_replaced.connect(self._on_document_replaced)
        c.image_ready.connect(self._on_image)
        c.busy_changed.connect(self._on_busy)
        c.render_error.connect(self._on_render_error)
        c.model_loaded.connect(self._on_model_loaded)
        c.model_failed.connect(self._on_model_failed)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)  # several changes in one event-loop turn -> one request
        self._render_timer.timeout.connect(self.request_render)
        QGuiApplication.styleHints().colorSchemeChanged.connect(
            lambda *_: self.set_theme("system") if self.settings.theme == "system" else None)

    # ---- start-up ------------------------------------------------------------------------------
    def start(self, model_path: Optional[str] = None, project: Optional[str] = None, recover: bool = True) -> None:
        """After the window shows: offer a crash recovery, else open ``project``, else the last
        project, else an example of the model; load the model on the worker thread (torch is imported
        there). See ``library.py``."""
        self.library.start(model_path, project, recover)

    def load_model(self, path: Optional[str] = None, user: bool = True, official_vocabulary: Optional[str] = None):
        """Load a model file on the worker thread (None: the default model)."""
        self._user_model_load = user
        self.show_message("Loading model…", 0)
        self.client.load(path, official_vocabulary)

    def set_model(self, model) -> None:
        """Use an already built model object (tests)."""
        self._user_model_load = True
        self.client.set_model(model)

    def open_model(self) -> None:
        """Model > Open Model File…"""
        path = self.dialogs.open_file("Open model", "Layout2Im models (*.safetensors);;All files (*)",
                                      self.settings.last_dir("model"))
        if path:
            self.settings.set_last_dir("model", path)
            self.library.remember_file(path)
            self.load_model(path)

    def import_official(self) -> None:
        """Model > Import Official Checkpoint…: an official Layout2Im .pkl / .pt generator."""
        path = self.dialogs.open_file("Import official Layout2Im checkpoint",
                                      "Official checkpoints (*.pkl *.pt *.pth);;All files (*)",
                                      self.settings.last_dir("model"))
        if not path:
            return
        vocab = self.dialogs.choose("Vocabulary", "The checkpoint was trained on:", ["coco", "vg"])
        if vocab:
            self.settings.set_last_dir("model", path)
            self.load_model(path, official_vocabulary=vocab)

    def open_recent(self, path: str) -> None:
        """File > Open Recent > path."""
        self.files.open_path(path)

    # ---- model ---------------------------------------------------------------------------------
    def _identity(self):
        info = self.model_info
        return (info.name, info.vocabulary_digest) if info else ("", "")

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        self.editor.known = set(info.categories)
        self.editor.trained = set(info.limits.trained) or None
        self._requested = None
        self.palette_panel.set_categories(info.categories, trained=info.trained)
        if self.editor.current_category not in self.editor.known and info.categories:
            self.editor.set_current_category((info.trained or info.categories)[0])
        self.palette_panel.select(self.editor.current_category)
        self.action_set.set_devices(info.devices, info.device, self.client.set_device)
        self.canvas.refresh()
        self.object_list.rebuild()
        self.looks.fill_missing()
        self.appearance.refresh()
        self._show_model_state()
        self.show_message(f"Model {info.name} loaded ({len(info.categories)} categories, {info.device})")
        self.library.on_model_loaded(info)
        self.schedule_render()

    def _on_model_failed(self, message: str) -> None:
        self.library.on_model_failed()
        self.show_message(message.splitlines()[0], 8000)
        # a frozen bundle without its default model is broken: say so in a window, not only the status bar
        if self._user_model_load or self.model_info is not None or getattr(sys, "frozen", False):
            self.dialogs.error("Cannot load the model", message)
        self._show_model_state()

    def _show_model_state(self) -> None:
        info = self.model_info
        self.model_label.setText(f"Model: {info.name}" if info else "No model loaded")
        self.device_label.setText(f"Device: {info.device.upper()} · {info.precision}" if info else "Device: —")
        self.device_label.setToolTip(info.precision_reason if info else "")
        if info is None:
            self.image_view.set_placeholder("No model loaded\n(Model menu: pick a model)")

    # ---- rendering -----------------------------------------------------------------------------
    def schedule_render(self) -> None:
        """Ask for a render after the current event (changes in one turn make one request)."""
        self._render_timer.start()

    def request_render(self) -> Optional[int]:
        """Send the document's renderable layout to the worker; returns the request id, or None when
        nothing is sent: no model, an empty layout, one the model cannot take (too many objects: the
        banner says so and the last good image stays), or the layout asked for last (its image is
        shown or on its way)."""
        ed = self.editor
        self.image_view.set_boxes([(o.bbox, o.category, ed.is_unknown(o.category)) for o in ed.doc.objects])
        info = self.model_info
        if info is None:
            return None
        check = check_layout(ed.doc.objects, info.limits)
        self._notes = check.lines
        build = ed.doc.to_layout(ed.known, info.z_dim)
        if not build.layout.objects:
            self._requested = None
            self.last_result = None
            self.image_view.set_image(None)
            self.image_view.set_placeholder("Drag a category from the palette onto the canvas,\n"
                                            "or draw a box on it")
            self._render_error = ""
            self._update_banner()
            return None
        if check.blocking:
            self._update_banner()
            return None
        key = (build.layout, RENDER_SEED)
        if key == self._requested:  # same layout as the newest request (e.g. a lock toggled): no render
            self._update_banner()
            return None
        self._requested = key
        self._update_banner()
        return self.client.request(build.layout, RENDER_SEED)

    def _on_image(self, result: RenderResult) -> None:
        self.last_result = result
        self._render_error = ""
        self.image_view.set_image(result.image)
        self.render_label.setText(f"Render: {format_ms(result.elapsed_ms)}")
        self._update_banner()

    def _on_busy(self, busy: bool) -> None:
        self.busy_bar.setVisible(busy)
        self.image_view.set_busy(busy)

    def _on_render_error(self, message: str) -> None:
        """A render failed: said once in the banner (non-modal) while the last good image stays."""
        self._render_error = message
        self._requested = None  # the same layout may be asked again (e.g. after a model change)
        self._update_banner()

    def _update_banner(self) -> None:
        lines = list(self._notes)
        if self._render_error:
            lines.insert(0, f"Rendering failed: {self._render_error}" +
                         (" (showing the last image that rendered)" if self.last_result is not None else ""))
        self._set_banner(lines)

    def _set_banner(self, lines: List[str]) -> None:
        self.banner.setText("\n".join(f"⚠ {line}" for line in lines))
        self.banner.setVisible(bool(lines))

    # ---- view ----------------------------------------------------------------------------------
    def _set_overlay(self, on: bool) -> None:
        self.image_view.set_overlay(on)
        self.settings.set_flag("view/overlay", on)

    def _set_smooth(self, on: bool) -> None:
        self.image_view.set_smooth(on)
        self.settings.set_flag("view/smooth", on)

    def set_theme(self, mode: str) -> None:
        """Light, dark or system."""
        self.settings.theme = mode
        apply_theme(mode)
        for a in self.action_set.theme_group.actions():
            a.setChecked(a.data() == mode)
        self.action_set.refresh_icons()
        self.appearance.refresh_icons()
        self.object_list.viewport().update()  # padlocks in the new colours
        self.setWindowIcon(app_icon())
        self.canvas.resetCachedContent()  # the background is cached in the old colours
        self.canvas.viewport().update()

    def _show_tool(self, tool: str) -> None:
        """The status bar's tool indicator (and the Draw Boxes action's check mark)."""
        if tool == "draw":
            cat = self.editor.current_category or "the current category"
            self.tool_label.setText(f"<b>Draw tool</b>: drag to add a '{cat}' box, over others too "
                                    "(B or Esc: select)")
            self.tool_label.setStyleSheet("QLabel { background: #d8ecff; color: #0b3d6b; border-radius: 3px;"
                                          " padding: 0 6px; }")
        else:
            self.tool_label.setText("Select tool (B: draw boxes)")
            self.tool_label.setStyleSheet("")
        actions: Optional[ActionSet] = getattr(self, "action_set", None)  # None until _build_actions ran
        if actions is not None and actions["draw_tool"].isChecked() != (tool == "draw"):
            actions["draw_tool"].setChecked(tool == "draw")

    def show_message(self, text: str, timeout_ms: int = 4000) -> None:
        """A status bar message."""
        self.statusBar().showMessage(text, timeout_ms)

    def _cut(self) -> None:
        if self.editor.copy_selected():
            self.editor.delete_selected()

    # ---- document ------------------------------------------------------------------------------
    def _on_document_replaced(self) -> None:
        self.client.new_epoch()  # images of the old document are stale
        self._requested = None
        self.looks.fill_missing()
        self.canvas.refresh()
        self.schedule_render()

    # ---- variation grid ------------------------------------------------------------------------
    def show_variations(self) -> VariationDialog:
        """Look > Variations…: the grid (non-modal), with fresh samples (``variation_grid.py``)."""
        return self.variations.show()

    def _update_title(self, *_) -> None:
        modified = self.files.modified
        self.setWindowTitle(f"{self.files.display_name()}{'*' if modified else ''} — {APP_NAME}")

    def closeEvent(self, event) -> None:
        if not self.files.maybe_save():
            event.ignore()
            return
        self.files.close_recovery()
        self.files.autosave_timer.stop()
        self.settings.set_window_state(self.saveGeometry(), self.saveState())
        self.client.shutdown()
        # Delete the undo commands now, while everything they refer to is alive. Left to the garbage
        # collector, the stack's C++ destructor (via the window's) could run after the collector had
        # already cleared the commands' Python wrappers, and QUndoStack::clear() then crashed (seen
        # in the test suite and at interpreter exit; docs/architecture.md, "Qt object lifetimes").
        self.editor.stack.clear()
        event.accept()
