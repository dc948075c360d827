"""The object list: every object in fusion order (first fused at the top), synced with the canvas
selection; drag rows to change the order (one undo step per drop); the padlock at a row's right end
locks or unlocks that object's look."""

from __future__ import annotations

from typing import List, Sequence

from PySide6.QtCore import QEvent, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from ..colors import UNKNOWN_RGB, category_rgb
from ..document import DocEvent, DocObject
from ..editor import Editor
from ..theme import icon
from .palette import swatch_icon

UID_ROLE = Qt.ItemDataRole.UserRole + 1
LOCKED_ROLE = Qt.ItemDataRole.UserRole + 2
LOCK_PX = 22  # width of the padlock zone at a row's right end


def lock_rect(row: QRect) -> QRect:
    """The padlock's zone in a row."""
    return QRect(row.right() - LOCK_PX + 1, row.top(), LOCK_PX, row.height())


class LockDelegate(QStyledItemDelegate):
    """Draws a padlock (closed: locked look; faint open: unlocked) at the right end of each row; a
    click on it emits ``lock_clicked(uid)`` instead of selecting the row."""

    lock_clicked = Signal(int)

    def paint(self, painter, option, index) -> None:
        r = lock_rect(option.rect)
        opt = QStyleOptionViewItem(option)
        opt.rect = option.rect.adjusted(0, 0, -LOCK_PX, 0)  # text never runs under the padlock
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(r, option.palette.highlight())
        super().paint(painter, opt, index)
        locked = bool(index.data(LOCKED_ROLE))
        side = min(14, r.height() - 4)
        ic = icon("fa5s.lock" if locked else "fa5s.lock-open")
        painter.save()
        painter.setOpacity(1.0 if locked else 0.3)
        ic.paint(painter, QRect(r.center().x() - side // 2, r.center().y() - side // 2, side, side))
        painter.restore()

    def editorEvent(self, event, model, option, index) -> bool:
        T = QEvent.Type
        mouse = event.type() in (T.MouseButtonPress, T.MouseButtonRelease, T.MouseButtonDblClick)
        if mouse and event.button() == Qt.MouseButton.LeftButton \
                and lock_rect(option.rect).contains(event.position().toPoint()):
            if event.type() == QEvent.Type.MouseButtonRelease:
                self.lock_clicked.emit(int(index.data(UID_ROLE)))
            return True
        return super().editorEvent(event, model, option, index)


class ObjectList(QListWidget):
    """List view of the document's objects; reordering goes through ``Editor.reorder``."""

    def __init__(self, editor: Editor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self._syncing = False
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        # long rows are clipped; tooltips tell all
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setToolTip("Fusion order: the model reads objects from top to bottom. Drag to reorder.\n"
                        "Click a padlock to lock or unlock that object's look.")
        self.delegate = LockDelegate(self)
        self.delegate.lock_clicked.connect(self.toggle_lock)
        self.setItemDelegate(self.delegate)
        editor.doc.subscribe(self._on_doc)
        editor.selection.changed.connect(self._sync_selection)
        self.itemSelectionChanged.connect(self._on_item_selection)

    def _on_doc(self, event: DocEvent) -> None:
        if event.kind == "attrs":
            self._refresh_rows(event.uids)
        elif event.kind in ("structure", "reset"):
            self.rebuild()

    def rebuild(self) -> None:
        """Rebuild the rows from the document (also after the model's vocabulary changed)."""
        self._syncing = True
        try:
            self.clear()
            for i, o in enumerate(self.editor.doc.objects):
                item = QListWidgetItem()
                self._show(item, i, o)
                self.addItem(item)
                item.setSelected(o.uid in self.editor.selection)
        finally:
            self._syncing = False

    def _refresh_rows(self, uids: Sequence[int]) -> None:
        """Redraw the rows of ``uids`` only (same objects in the same order as before)."""
        rows = {self.item(r).data(UID_ROLE): r for r in range(self.count())}
        doc = self.editor.doc
        if any(u not in rows or u not in doc for u in uids):
            self.rebuild()
            return
        for u in uids:
            self._show(self.item(rows[u]), rows[u], doc.get(u))

    def _show(self, item: QListWidgetItem, i: int, o: DocObject) -> None:
        """Row ``i`` shows object ``o``: number, category, swatch, lock; marked when the model lacks the
        category or was not trained on it."""
        unknown = self.editor.is_unknown(o.category)
        text = f"{i + 1}. {o.category}"
        if unknown:
            text += "   — unknown to this model"
        item.setIcon(swatch_icon(UNKNOWN_RGB if unknown else category_rgb(o.category)))
        item.setText(text)
        item.setData(UID_ROLE, o.uid)
        item.setData(LOCKED_ROLE, o.locked)
        for role in (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.ToolTipRole):
            item.setData(role, None)  # back to the defaults
        if unknown:
            item.setForeground(QBrush(QColor(*UNKNOWN_RGB)))
            item.setToolTip(f"'{o.category}' is not in the loaded model's vocabulary: kept in the "
                            "project, not rendered")
        elif self.editor.is_untrained(o.category):
            item.setText(text + "   — not trained on")
            font = item.font()
            font.setItalic(True)
            item.setFont(font)
            item.setToolTip(f"The loaded model was not trained on '{o.category}': it draws it poorly")

    def toggle_lock(self, uid: int) -> None:
        """Lock or unlock one object's look (one undo step)."""
        if uid in self.editor.doc:
            o = self.editor.doc.get(uid)
            self.editor.set_lock([uid], not o.locked)

    def lock_point(self, row: int):
        """Viewport point of a row's padlock (tests)."""
        return lock_rect(self.visualItemRect(self.item(row))).center()

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
