"""The object list: every object in fusion order (first fused at the top), synced with the canvas
selection; drag rows to change the order (one undo step per drop)."""

from __future__ import annotations

from typing import List

from PySide6.QtCore import QTimer, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

from ..colors import UNKNOWN_RGB, category_rgb
from ..document import DocEvent
from ..editor import Editor
from .palette import swatch_icon

UID_ROLE = Qt.UserRole + 1


class ObjectList(QListWidget):
    """List view of the document's objects; reordering goes through ``Editor.reorder``."""

    def __init__(self, editor: Editor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self._syncing = False
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.InternalMove)
        self.setDefaultDropAction(Qt.MoveAction)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # long rows are clipped; tooltips tell all
        self.setToolTip("Fusion order: the model reads objects from top to bottom. Drag to reorder.")
        editor.doc.subscribe(self._on_doc)
        editor.selection.changed.connect(self._sync_selection)
        self.itemSelectionChanged.connect(self._on_item_selection)

    def _on_doc(self, event: DocEvent) -> None:
        if event.kind != "geometry":
            self.rebuild()

    def rebuild(self) -> None:
        """Rebuild the rows from the document (also after the model's vocabulary changed)."""
        self._syncing = True
        try:
            self.clear()
            for i, o in enumerate(self.editor.doc.objects):
                unknown = self.editor.is_unknown(o.category)
                text = f"{i + 1}. {o.category}" + ("   [locked]" if o.locked else "")
                if unknown:
                    text += "   — unknown to this model"
                item = QListWidgetItem(swatch_icon(UNKNOWN_RGB if unknown else category_rgb(o.category)), text)
                item.setData(UID_ROLE, o.uid)
                if unknown:
                    item.setForeground(QBrush(QColor(*UNKNOWN_RGB)))
                    item.setToolTip(f"'{o.category}' is not in the loaded model's vocabulary: kept in the "
                                    "project, not rendered")
                self.addItem(item)
                item.setSelected(o.uid in self.editor.selection)
        finally:
            self._syncing = False

    def uid_order(self) -> List[int]:
        """Uids in the order the rows show them."""
        return [self.item(r).data(UID_ROLE) for r in range(self.count())]

    def _sync_selection(self) -> None:
        self._syncing = True
        try:
            for r in range(self.count()):
                it = self.item(r)
                it.setSelected(it.data(UID_ROLE) in self.editor.selection)
        finally:
            self._syncing = False

    def _on_item_selection(self) -> None:
        if not self._syncing:
            self.editor.selection.set(self.editor.uids_in(it.data(UID_ROLE) for it in self.selectedItems()))

    def dropEvent(self, event) -> None:
        super().dropEvent(event)
        # apply after Qt has finished the drop: the command rebuilds these rows
        QTimer.singleShot(0, self.commit_order)

    def commit_order(self) -> None:
        """Make the rows' order the document's fusion order (one undo step)."""
        order = self.uid_order()
        if sorted(order) == sorted(self.editor.doc.uids()):
            self.editor.reorder(order)
        else:
            self.rebuild()
