"""The selection: which objects (uids) are selected, shared by the canvas and the object list."""

from __future__ import annotations

from typing import Iterable, List

from PySide6.QtCore import QObject, Signal


class Selection(QObject):
    """Ordered set of selected uids; ``changed`` fires after every change (not part of undo)."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._uids: List[int] = []

    @property
    def uids(self) -> List[int]:
        """Selected uids, in the order they were selected."""
        return list(self._uids)

    def __contains__(self, uid: int) -> bool:
        return uid in self._uids

    def __len__(self) -> int:
        return len(self._uids)

    def set(self, uids: Iterable[int]) -> None:
        """Select exactly ``uids``."""
        new = list(dict.fromkeys(uids))
        if new != self._uids:
            self._uids = new
            self.changed.emit()

    def toggle(self, uid: int) -> None:
        """Add ``uid`` to the selection, or remove it if already selected."""
        self.set([u for u in self._uids if u != uid] if uid in self._uids else self._uids + [uid])

    def clear(self) -> None:
        """Select nothing."""
        self.set([])

    def keep_only(self, existing: Iterable[int]) -> None:
        """Drop uids that no longer exist."""
        alive = set(existing)
        self.set([u for u in self._uids if u in alive])
