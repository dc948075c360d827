"""Every question and message the app shows, in one replaceable object.

The main window takes a ``Dialogs`` instance; tests pass a recording subclass with canned answers,
so no modal box ever blocks a test run.
"""

from __future__ import annotations

from typing import Optional, Sequence

from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox, QWidget


class Dialogs:
    """Modal dialogs parented to ``parent`` (set by the main window)."""

    def __init__(self, parent: Optional[QWidget] = None):
        self.parent = parent

    def error(self, title: str, text: str) -> None:
        """Report a failure."""
        QMessageBox.critical(self.parent, title, text)

    def info(self, title: str, text: str) -> None:
        """Tell something."""
        QMessageBox.information(self.parent, title, text)

    def ask_yes_no(self, title: str, text: str) -> bool:
        """A yes/no question; True for yes."""
        return QMessageBox.question(self.parent, title, text) == QMessageBox.StandardButton.Yes

    def ask_save(self, title: str, text: str) -> str:
        """Save / Discard / Cancel before losing changes: returns "save", "discard" or "cancel"."""
        B = QMessageBox.StandardButton
        ans = QMessageBox.warning(self.parent, title, text, B.Save | B.Discard | B.Cancel, B.Save)
        return {B.Save: "save", B.Discard: "discard"}.get(ans, "cancel")

    def open_file(self, title: str, filters: str, directory: str = "") -> Optional[str]:
        """A file to open, or None."""
        path, _ = QFileDialog.getOpenFileName(self.parent, title, directory, filters)
        return path or None

    def open_files(self, title: str, filters: str, directory: str = "") -> list:
        """Files to open (several may be picked), or an empty list."""
        paths, _ = QFileDialog.getOpenFileNames(self.parent, title, directory, filters)
        return list(paths)

    def save_file(self, title: str, filters: str, directory: str = "") -> Optional[str]:
        """A file to write, or None."""
        path, _ = QFileDialog.getSaveFileName(self.parent, title, directory, filters)
        return path or None

    def get_int(self, title: str, label: str, value: int, lo: int, hi: int) -> Optional[int]:
        """A whole number in [lo, hi], or None."""
        v, ok = QInputDialog.getInt(self.parent, title, label, value, lo, hi)
        return v if ok else None

    def pick_box(self, image, title: str, initial=None):
        """A box (x0, y0, x1, y1) in [0, 1] drawn on ``image`` (a QImage), or None."""
        from .photo_dialog import PhotoBoxDialog
        dlg = PhotoBoxDialog(image, title, initial, self.parent)
        return dlg.box if dlg.exec() == QDialog.DialogCode.Accepted else None

    def choose(self, title: str, label: str, items: Sequence[str]) -> Optional[str]:
        """One of ``items``, or None."""
        v, ok = QInputDialog.getItem(self.parent, title, label, list(items), 0, False)
        return v if ok else None
