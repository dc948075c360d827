"""Undo commands over the Document. Every user change goes through one of these.

A whole drag is one command: the canvas previews the drag with ``Document.set_bboxes`` and pushes a
:class:`UpdateObjectsCommand` at release with the state before and after (its first ``redo`` simply
re-applies the final state).
"""

from __future__ import annotations

import time
from typing import Iterable, List, Optional, Sequence, Tuple

from PySide6.QtGui import QUndoCommand

from .document import DocObject, Document
from .selection import Selection


class AddObjectsCommand(QUndoCommand):
    """Insert objects at given indices (add, paste, duplicate, drop from the palette). With a
    ``selection``, a redo selects the objects again (as the add itself did)."""

    def __init__(self, doc: Document, items: Sequence[Tuple[int, DocObject]], text: str = "Add",
                 selection: Optional[Selection] = None):
        super().__init__(text)
        self._doc = doc
        self._items = list(items)
        self._selection = selection
        self._done = False

    @property
    def uids(self) -> List[int]:
        """Uids of the added objects."""
        return [o.uid for _, o in self._items]

    def redo(self) -> None:
        self._doc.insert(self._items)
        if self._done and self._selection is not None:
            self._selection.set(self.uids)
        self._done = True

    def undo(self) -> None:
        self._doc.remove(self.uids)


class RemoveObjectsCommand(QUndoCommand):
    """Remove objects; undo puts them back at their old positions and, with a ``selection`` (an
    object with ``set(uids)``), selects them again, as they were selected when deleted."""

    def __init__(self, doc: Document, uids: Iterable[int], text: str = "Delete",
                 selection: Optional[Selection] = None):
        super().__init__(text)
        self._doc = doc
        self._uids = list(uids)
        self._removed: List[Tuple[int, DocObject]] = []
        self._selection = selection

    def redo(self) -> None:
        self._removed = self._doc.remove(self._uids)

    def undo(self) -> None:
        self._doc.insert(self._removed)
        if self._selection is not None:
            self._selection.set([o.uid for _, o in self._removed])


class UpdateObjectsCommand(QUndoCommand):
    """Replace objects by new versions (move, resize, nudge, category, lock, z)."""

    def __init__(self, doc: Document, before: Sequence[DocObject], after: Sequence[DocObject],
                 text: str = "Edit"):
        super().__init__(text)
        self._doc = doc
        self._before = list(before)
        self._after = list(after)

    def redo(self) -> None:
        self._doc.replace(self._after)

    def undo(self) -> None:
        self._doc.replace(self._before)


class ReorderCommand(QUndoCommand):
    """Change the fusion order."""

    def __init__(self, doc: Document, before: Sequence[int], after: Sequence[int], text: str = "Reorder"):
        super().__init__(text)
        self._doc = doc
        self._before = list(before)
        self._after = list(after)

    def redo(self) -> None:
        self._doc.set_order(self._after)

    def undo(self) -> None:
        self._doc.set_order(self._before)


class LookStepCommand(UpdateObjectsCommand):
    """A slider step made without dragging (keys, wheel, clicks on the groove). Steps on the same
    object that follow each other within ``MERGE_S`` seconds merge into one undo step, so holding an
    arrow key is one step too, like a drag."""

    MERGE_S = 1.0
    ID = 0x4C4F4F4B  # "LOOK"

    def __init__(self, doc: Document, before: DocObject, after: DocObject, text: str = "Look slider"):
        super().__init__(doc, [before], [after], text)
        self._uid = before.uid
        self._time = time.monotonic()

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, LookStepCommand) or other._uid != self._uid \
                or other._time - self._time > self.MERGE_S:
            return False
        self._after = other._after
        self._time = other._time
        return True
