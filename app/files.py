"""Project files: new / open / save / save as, recent files, the unsaved-changes question, autosave to
a recovery file (offered back after a crash), PNG export at a chosen scale, copy image to clipboard.

Recovery with several app instances: each instance autosaves to its own file
``recovery-<pid>-<time>.l2i.json`` in the app data folder and holds a ``QLockFile`` beside it while
it runs. At start-up an instance offers only files whose lock is free or stale (their process is
gone), so a running instance's autosave is never offered elsewhere nor deleted by another's clean
close. A restored layout is *untitled*: the file it was autosaved for (``meta.recovery_of``, which
anyone could edit) is only the suggestion of the Save dialog, never a path Save writes to unasked.

Saving never loses work: any failure (a folder that is not writable, a full disk, a value JSON cannot
hold) becomes a message, the document stays as it was and stays marked unsaved, so closing asks again.
Opening a project that loading had to repair (a NaN in ``meta``, an unusable look) says what was
repaired."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Optional, Tuple

from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage

from layout2im_core.atomic import remove_stale_temps
from layout2im_core.project import FILE_SUFFIX, ProjectFileError, load_project, save_project

from .commands import AddObjectsCommand
from .dialogs import Dialogs
from .document import Document, look_repairs
from .editor import Editor
from .image_view import scaled_image
from .settings import AppSettings

PROJECT_FILTER = f"Layout2Im projects (*{FILE_SUFFIX} *.json);;All files (*)"
AUTOSAVE_MS = 30_000


RECOVERY_GLOB = f"recovery*{FILE_SUFFIX}"


def default_recovery_path() -> Path:
    """This instance's autosave file in the per-user app data folder (a name no other instance uses)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or str(Path.home())
    return Path(base) / f"recovery-{os.getpid()}-{int(time.time() * 1000)}{FILE_SUFFIX}"


def _lock_for(path: Path) -> QLockFile:
    """The lock that marks ``path`` as owned by a running instance (never stale by age, only when its
    process is gone)."""
    lock = QLockFile(str(path) + ".lock")
    lock.setStaleLockTime(0)
    return lock


class FileController(QObject):
    """File commands of the window. ``identity()`` gives (model name, vocabulary digest) to save."""

    path_changed = Signal()
    document_replaced = Signal()
    project_opened = Signal(str)  # a project file was opened: the model name it records ("" if none)
    recent_changed = Signal(list)
    message = Signal(str)

    def __init__(self, editor: Editor, settings: AppSettings, dialogs: Dialogs,
                 identity: Callable[[], Tuple[str, str]], image: Callable[[], Optional[QImage]],
                 smooth: Callable[[], bool], recovery_path: Optional[Path] = None, parent=None):
        super().__init__(parent)
        self.editor, self.settings, self.dialogs = editor, settings, dialogs
        self._identity, self._image, self._smooth = identity, image, smooth
        self.path: Optional[Path] = None
        self.example = None  # the shipped example the untitled document was opened from (catalog.Example)
        self.suggested_path: Optional[Path] = None  # the Save dialog's proposal (a recovered layout's file)
        self.recovery_path = Path(recovery_path) if recovery_path else default_recovery_path()
        self._recovery_lock = _lock_for(self.recovery_path)  # taken at the first autosave
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
        """File name for the title ("Untitled" before the first save, "Beach (example)" for an
        example not saved yet, "<name> (recovered)" for a restored layout until it is saved)."""
        if self.path:
            return self.path.name
        if self.example is not None:
            return f"{self.example.title} (example)"
        return f"{self.suggested_path.name} (recovered)" if self.suggested_path else "Untitled"

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

    def open_path(self, path, ask: bool = True, quiet: bool = False) -> bool:
        """Open a project file; a bad file shows a message (none when ``quiet``: the last project
        reopened at launch) and leaves the document as it was."""
        if ask and not self.maybe_save():
            return False
        try:
            project = load_project(path)
        except ProjectFileError as e:
            if not Path(path).exists():
                self.settings.remove_recent_file(str(path))
                self.recent_changed.emit(self.settings.recent_files())
            if not quiet:
                self.dialogs.error("Cannot open the project", str(e))
            return False
        repairs = list(project.warnings) + look_repairs(project)
        if "recovery_of" in project.meta:  # only recovery files carry it; it must not follow the file
            project = type(project)(project.objects, project.model_name, project.vocabulary_digest,
                                    project.version, {k: v for k, v in project.meta.items() if k != "recovery_of"})
        self.doc.load_project(project)
        self._after_replace(Path(path))
        self.settings.set_last_dir("project", str(path))
        self._add_recent(Path(path))
        if repairs:
            self.dialogs.info("Project repaired", "Some values of the project could not be used and were "
                              "repaired:\n" + "\n".join(repairs[:10]))
        self.project_opened.emit(project.model_name)
        return True

    def open_example(self, example) -> None:
        """Open a shipped example (a ``catalog.Example``) as an untitled, unmodified document: Save
        asks where, so the shipped file is never overwritten. The caller asked ``maybe_save``."""
        self.doc.load_project(example.project)
        self._after_replace(None)
        self.example = example
        self.path_changed.emit()

    def last_project(self) -> Optional[Path]:
        """The project opened or saved last, when it still exists."""
        recent = self.settings.recent_files()
        return Path(recent[0]) if recent and Path(recent[0]).is_file() else None

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
        self.example = None
        self.suggested_path = None
        self._autosave_pending = False
        self.document_replaced.emit()
        self.path_changed.emit()

    # ---- save ----------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save to the current file (asks for a name the first time)."""
        return self.save_as() if self.path is None else self._write(self.path)

    def save_as(self) -> bool:
        """Ask for a file name and save there (the dialog asks before replacing an existing file)."""
        stem = self.example.path.name.split(".")[0] if self.example is not None else "layout"
        start = self.path or self.suggested_path or Path(self.settings.last_dir("project")) / f"{stem}{FILE_SUFFIX}"
        path = self.dialogs.save_file("Save project", PROJECT_FILTER, str(start))
        if not path:
            return False
        if not path.endswith(".json"):
            path += FILE_SUFFIX
        return self._write(Path(path))

    def _write(self, path: Path) -> bool:
        """Save to ``path``; any failure is shown and returns False with the document kept unsaved."""
        name, digest = self._identity()
        try:
            save_project(self.doc.to_project(name or None, digest or None), path)
        except Exception as e:  # noqa: BLE001 - a failed save must never lose the work or crash
            text = str(e) if isinstance(e, (ProjectFileError, OSError)) else f"{type(e).__name__}: {e}"
            self.dialogs.error("Cannot save the project", f"{text[:600]}\n\nYour changes are kept; save them "
                                                          f"elsewhere with Save As.")
            return False
        self.editor.stack.setClean()
        self.path = path
        self.example = None
        self.suggested_path = None
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
        try:
            name, digest = self._identity()
            project = self.doc.to_project(name or None, digest or None)
            original = self.path or self.suggested_path
            meta = dict(project.meta, recovery_of=str(original) if original else "")
            self.recovery_path.parent.mkdir(parents=True, exist_ok=True)
            if not self._recovery_lock.isLocked() and not self._recovery_lock.tryLock(0):
                raise OSError(f"{self.recovery_path} is in use by another running instance")
            save_project(type(project)(project.objects, project.model_name, project.vocabulary_digest,
                                       meta=meta), self.recovery_path)
        except Exception as e:  # noqa: BLE001 - autosave runs from a timer: report, never raise
            self.message.emit(f"Autosave failed: {str(e)[:300]}")
            return False
        self._autosave_pending = False
        return True

    def discard_recovery(self) -> None:
        """Remove this instance's recovery file (after a save or a clean close)."""
        try:
            self.recovery_path.unlink()
        except OSError:
            pass

    def close_recovery(self) -> None:
        """Clean close: remove this instance's recovery file and release its lock."""
        self.discard_recovery()
        if self._recovery_lock.isLocked():
            self._recovery_lock.unlock()

    def orphaned_recoveries(self) -> list:
        """Recovery files in this instance's recovery folder left by instances that are gone (crashed),
        newest first, as ``(path, lock)`` with each ``lock`` now held by us. Files of running
        instances, and our own, are left out."""
        folder = self.recovery_path.parent
        try:
            paths = set(folder.glob(RECOVERY_GLOB))
        except OSError:
            return []
        if self.recovery_path.exists():
            paths.add(self.recovery_path)
        found = []
        for path in paths:
            if path == self.recovery_path and self._recovery_lock.isLocked():
                continue  # our own autosave
            lock = self._recovery_lock if path == self.recovery_path else _lock_for(path)
            if lock.tryLock(0):  # free, or stale because its process is gone
                try:
                    found.append((path.stat().st_mtime, path, lock))
                except OSError:
                    lock.unlock()
        found.sort(key=lambda t: t[0], reverse=True)
        return [(p, lk) for _, p, lk in found]

    @staticmethod
    def _drop(path: Path, lock: QLockFile) -> None:
        try:
            path.unlink()
        except OSError:
            pass
        lock.unlock()

    def offer_recovery(self) -> bool:
        """At start-up: offer to restore work that a crashed instance autosaved, newest first; a
        declined or unreadable file is deleted, and the next one is offered. Files of instances still
        running are not touched. The restored objects come back as one undoable, unsaved step."""
        remove_stale_temps(self.recovery_path.parent)  # temp files of autosaves killed mid-write
        candidates = self.orphaned_recoveries()
        for i, (path, lock) in enumerate(candidates):
            try:
                project = load_project(path)
            except ProjectFileError:
                self._drop(path, lock)
                continue
            if not self.dialogs.ask_yes_no("Recover unsaved work",
                                           f"Layout2Im Studio did not close cleanly. Restore the unsaved layout "
                                           f"({len(project.objects)} objects) from the last session?"):
                self._drop(path, lock)
                continue
            self._drop(path, lock)
            for _, other in candidates[i + 1:]:  # left for the next start-up
                other.unlock()
            self._restore(project)
            return True
        return False

    def _restore(self, project) -> None:
        """Make a recovery file's layout an untitled document (one undoable step). Its
        ``meta.recovery_of`` only becomes the Save dialog's suggestion (``suggested_path``)."""
        meta = dict(project.meta)
        original = meta.pop("recovery_of", "")
        objs = Document.objects_from_project(project)
        self.doc.reset((), project.model_name, project.vocabulary_digest, meta)
        self._after_replace(None)
        if isinstance(original, str) and original.strip() and "\0" not in original:
            self.suggested_path = Path(original)
            self.path_changed.emit()
        self.editor.stack.push(AddObjectsCommand(self.doc, list(enumerate(objs)), "Recover"))

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
        # PySide6's stub types the format as bytes, but the binding takes (only) a str
        if image is None or not scaled_image(image, scale, self._smooth()).save(path, "PNG"):  # type: ignore[call-overload]
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
