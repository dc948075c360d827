"""Project files: new / open / save / save as, recent files, the unsaved-changes question, autosave to
a recovery file (offered back after a crash), PNG export at a chosen scale, copy image to clipboard."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Tuple

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage

from layout2im_core.project import FILE_SUFFIX, ProjectFileError, load_project, save_project

from .commands import AddObjectsCommand
from .dialogs import Dialogs
from .document import Document
from .editor import Editor
from .image_view import scaled_image
from .settings import AppSettings

PROJECT_FILTER = f"Layout2Im projects (*{FILE_SUFFIX} *.json);;All files (*)"
AUTOSAVE_MS = 30_000


def default_recovery_path() -> Path:
    """Where the autosave goes: the per-user app data folder."""
    base = QStandardPaths.writableLocation(QStandardPaths.AppDataLocation) or str(Path.home())
    return Path(base) / f"recovery{FILE_SUFFIX}"


class FileController(QObject):
    """File commands of the window. ``identity()`` gives (model name, vocabulary digest) to save."""

    path_changed = Signal()
    document_replaced = Signal()
    recent_changed = Signal(list)
    message = Signal(str)

    def __init__(self, editor: Editor, settings: AppSettings, dialogs: Dialogs,
                 identity: Callable[[], Tuple[str, str]], image: Callable[[], Optional[QImage]],
                 smooth: Callable[[], bool], recovery_path: Optional[Path] = None, parent=None):
        super().__init__(parent)
        self.editor, self.settings, self.dialogs = editor, settings, dialogs
        self._identity, self._image, self._smooth = identity, image, smooth
        self.path: Optional[Path] = None
        self.recovery_path = Path(recovery_path) if recovery_path else default_recovery_path()
        self._autosave_pending = False
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        editor.stack.indexChanged.connect(self._mark_autosave)

    @property
    def doc(self) -> Document:
        return self.editor.doc

    @property
    def modified(self) -> bool:
        """The document has changes not saved to ``path``."""
        return not self.editor.stack.isClean()

    def display_name(self) -> str:
        """File name for the title ("Untitled" before the first save)."""
        return self.path.name if self.path else "Untitled"

    # ---- new / open ----------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """Before discarding changes: ask Save / Discard / Cancel. True if it is fine to go on."""
        if not self.modified:
            return True
        ans = self.dialogs.ask_save("Unsaved changes",
                                    f"Save the changes to {self.display_name()} before closing it?")
        if ans == "save":
            return self.save()
        return ans == "discard"

    def new(self) -> bool:
        """Start an empty document (asks about unsaved changes first)."""
        if not self.maybe_save():
            return False
        name, digest = self._identity()
        self.doc.reset((), name, digest)
        self._after_replace(None)
        return True

    def open(self) -> bool:
        """Ask for a project file and open it."""
        if not self.maybe_save():
            return False
        path = self.dialogs.open_file("Open project", PROJECT_FILTER, self.settings.last_dir("project"))
        return bool(path) and self.open_path(path, ask=False)

    def open_path(self, path, ask: bool = True) -> bool:
        """Open a project file; a bad file shows a message and leaves the document as it was."""
        if ask and not self.maybe_save():
            return False
        try:
            project = load_project(path)
        except ProjectFileError as e:
            if not Path(path).exists():
                self.settings.remove_recent_file(str(path))
                self.recent_changed.emit(self.settings.recent_files())
            self.dialogs.error("Cannot open the project", str(e))
            return False
        self.doc.load_project(project)
        self._after_replace(Path(path))
        self.settings.set_last_dir("project", str(path))
        self._add_recent(Path(path))
        return True

    def replace_document(self, objects, meta: Optional[dict] = None) -> None:
        """Make ``objects`` (DocObjects) a new, unsaved document (an imported annotation); the caller
        asked ``maybe_save`` first. Like New and Open, this is not an undo step."""
        name, digest = self._identity()
        self.doc.reset(objects, name, digest, meta)
        self._after_replace(None)
        if objects:  # unsaved: the title says so and closing asks
            self.editor.stack.resetClean()

    def _after_replace(self, path: Optional[Path]) -> None:
        self.editor.stack.clear()
        self.editor.stack.setClean()
        self.editor.selection.clear()
        self.path = path
        self._autosave_pending = False
        self.document_replaced.emit()
        self.path_changed.emit()

    # ---- save ----------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save to the current file (asks for a name the first time)."""
        return self.save_as() if self.path is None else self._write(self.path)

    def save_as(self) -> bool:
        """Ask for a file name and save there."""
        start = str(self.path) if self.path else str(Path(self.settings.last_dir("project")) / f"layout{FILE_SUFFIX}")
        path = self.dialogs.save_file("Save project", PROJECT_FILTER, start)
        if not path:
            return False
        if not path.endswith(".json"):
            path += FILE_SUFFIX
        return self._write(Path(path))

    def _write(self, path: Path) -> bool:
        name, digest = self._identity()
        try:
            save_project(self.doc.to_project(name or None, digest or None), path)
        except ProjectFileError as e:
            self.dialogs.error("Cannot save the project", str(e))
            return False
        self.editor.stack.setClean()
        self.path = path
        self.settings.set_last_dir("project", str(path))
        self._add_recent(path)
        self.discard_recovery()
        self.path_changed.emit()
        self.message.emit(f"Saved {path}")
        return True

    def _add_recent(self, path: Path) -> None:
        self.recent_changed.emit(self.settings.add_recent_file(str(path)))

    # ---- autosave and recovery -----------------------------------------------------------------
    def _mark_autosave(self, *_):
        self._autosave_pending = True

    def autosave(self) -> bool:
        """Write the recovery file if there are unsaved changes since the last autosave."""
        if not (self._autosave_pending and self.modified):
            return False
        name, digest = self._identity()
        project = self.doc.to_project(name or None, digest or None)
        meta = dict(project.meta, recovery_of=str(self.path) if self.path else "")
        try:
            self.recovery_path.parent.mkdir(parents=True, exist_ok=True)
            save_project(type(project)(project.objects, project.model_name, project.vocabulary_digest,
                                       meta=meta), self.recovery_path)
        except (ProjectFileError, OSError) as e:
            self.message.emit(f"Autosave failed: {e}")
            return False
        self._autosave_pending = False
        return True

    def discard_recovery(self) -> None:
        """Remove the recovery file (after a save or a clean close)."""
        try:
            self.recovery_path.unlink()
        except OSError:
            pass

    def offer_recovery(self) -> bool:
        """At start-up: if a recovery file exists (the last session crashed), offer to restore it.
        The restored objects come back as one undoable, unsaved step."""
        if not self.recovery_path.exists():
            return False
        try:
            project = load_project(self.recovery_path)
        except ProjectFileError:
            self.discard_recovery()
            return False
        if not self.dialogs.ask_yes_no("Recover unsaved work",
                                       f"Layout2Im Studio did not close cleanly. Restore the unsaved layout "
                                       f"({len(project.objects)} objects) from the last session?"):
            self.discard_recovery()
            return False
        meta = dict(project.meta)
        original = meta.pop("recovery_of", "")
        objs = Document.objects_from_project(project)
        self.doc.reset((), project.model_name, project.vocabulary_digest, meta)
        self._after_replace(Path(original) if original else None)
        self.editor.stack.push(AddObjectsCommand(self.doc, list(enumerate(objs)), "Recover"))
        return True

    # ---- image ---------------------------------------------------------------------------------
    def export_png(self) -> bool:
        """Ask for a scale and a file name; save the generated image enlarged."""
        image = self._image()
        if image is None:
            self.dialogs.error("Export PNG", "There is no generated image yet.")
            return False
        scale = self.dialogs.get_int("Export PNG", f"Scale (the image is {image.width()} px wide):", 8, 1, 64)
        if not scale:
            return False
        start = Path(self.settings.last_dir("export")) / ((self.path.name.split(".")[0] if self.path else "layout")
                                                          + f"_x{scale}.png")
        path = self.dialogs.save_file("Export PNG", "PNG images (*.png)", str(start))
        if not path:
            return False
        if not path.lower().endswith(".png"):
            path += ".png"
        return self.write_png(path, scale)

    def write_png(self, path: str, scale: int) -> bool:
        """Save the image ``scale`` times enlarged (crisp or smooth as the view shows it)."""
        image = self._image()
        if image is None or not scaled_image(image, scale, self._smooth()).save(path, "PNG"):
            self.dialogs.error("Export PNG", f"Cannot write {path}.")
            return False
        self.settings.set_last_dir("export", path)
        self.message.emit(f"Exported {path}")
        return True

    def copy_image(self, scale: int = 8) -> bool:
        """Copy the generated image (enlarged ``scale`` times) to the clipboard."""
        image = self._image()
        if image is None:
            self.message.emit("There is no generated image to copy yet")
            return False
        QGuiApplication.clipboard().setImage(scaled_image(image, scale, self._smooth()))
        self.message.emit("Image copied to the clipboard")
        return True
