"""The palette: the loaded model's categories with colour swatches, a search field, the recent
categories (keys 1-9), and drag-and-drop of a category onto the canvas.

When the model was trained on only part of its vocabulary (the default model: 17 scene categories of
COCO-Stuff's 184), those come first under a "Trained on" heading, and the rest only with "Show all
categories" ticked or while searching (under "Other categories"), each marked as not trained on: in
italics, greyed, with a warning sign and a tooltip (the model draws them poorly).
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from PySide6.QtCore import QMimeData, QPointF, QRectF, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QIcon,
    QPainter,
    QPalette,
    QPixmap,
    QPolygonF,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import QAbstractItemView, QCheckBox, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

from ..canvas.view import CATEGORY_MIME
from ..colors import category_rgb

HEADER_ROLE = Qt.ItemDataRole.UserRole + 1  # True on the section headings (not categories)
UNTRAINED_ROLE = Qt.ItemDataRole.UserRole + 2  # True on categories the model was not trained on


def swatch_icon(rgb, size: int = 14) -> QIcon:
    """A small rounded colour square."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor(0, 0, 0, 90))
    p.setBrush(QColor(*rgb))
    p.drawRoundedRect(0, 0, size - 1, size - 1, 3, 3)
    p.end()
    return QIcon(pm)


def untrained_icon(rgb, size: int = 14) -> QIcon:
    """The category's swatch, faded, with a small warning triangle: "not trained on"."""
    pm = swatch_icon(rgb, size).pixmap(size, size)
    faded = QPixmap(pm.size())
    faded.fill(Qt.GlobalColor.transparent)
    p = QPainter(faded)
    p.setOpacity(0.45)
    p.drawPixmap(0, 0, pm)
    p.setOpacity(1.0)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QColor(120, 70, 0))
    p.setBrush(QColor(255, 190, 40))
    p.drawPolygon(QPolygonF([QPointF(size / 2, 1), QPointF(size - 1, size - 1), QPointF(1, size - 1)]))
    p.setPen(QColor(60, 30, 0))
    p.drawText(QRectF(0, 3, size, size - 3), Qt.AlignmentFlag.AlignCenter, "!")
    p.end()
    return QIcon(faded)


class CategoryModel(QStandardItemModel):
    """Category names as items; dragging one carries its name under CATEGORY_MIME."""

    def mimeTypes(self) -> List[str]:
        return [CATEGORY_MIME]

    def mimeData(self, indexes) -> QMimeData:
        mime = QMimeData()
        if indexes and not indexes[0].data(HEADER_ROLE):
            name = indexes[0].data(Qt.ItemDataRole.DisplayRole)
            mime.setData(CATEGORY_MIME, name.encode("utf-8"))
            mime.setText(name)
        return mime


class Palette(QWidget):
    """Searchable category list. ``category_picked``: the current category changed (click, Enter in
    the search field); ``category_activated`` (double-click) asks to add a box."""

    category_picked = Signal(str)
    category_activated = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search categories…")
        self.search.setClearButtonEnabled(True)
        self.recent_label = QLabel()
        self.recent_label.setWordWrap(True)
        self.recent_label.setTextFormat(Qt.RichText)
        self.model = CategoryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseInsensitive)
        self.list = QListView()
        self.list.setModel(self.proxy)
        self.list.setDragEnabled(True)
        self.list.setDragDropMode(QAbstractItemView.DragOnly)
        self.list.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.list.setUniformItemSizes(True)
        self.empty_label = QLabel("No model loaded")
        self.empty_label.setAlignment(Qt.AlignCenter)
        self.empty_label.setEnabled(False)
        self.show_all = QCheckBox("Show all categories")
        self.show_all.setToolTip("Also list the vocabulary's categories the model was not trained on "
                                 "(it draws them poorly)")
        self.show_all.toggled.connect(lambda _: self._fill())
        self._names: List[str] = []
        self._trained: List[str] = []
        self._rest_shown = False
        self._empty_text = "No model loaded"
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for w in (self.search, self.show_all, self.recent_label, self.list, self.empty_label):
            lay.addWidget(w)
        self.search.textChanged.connect(self._on_search)
        self.search.returnPressed.connect(self._activate_first)
        self.list.selectionModel().currentChanged.connect(self._on_current)
        self.list.activated.connect(lambda idx: None if idx.data(HEADER_ROLE) else
                                    self.category_activated.emit(idx.data(Qt.DisplayRole)))
        self.set_categories([])
        self.set_recent([])

    def set_categories(self, names: Sequence[str], empty_text: str = "No model loaded",
                       trained: Optional[Sequence[str]] = None) -> None:
        """Show ``names`` (the model's vocabulary, in vocabulary order); ``trained``: those the model
        was trained on (listed first; the others only with "Show all categories")."""
        self._names = list(names)
        known = set(self._names)
        self._trained = [n for n in (trained or ()) if n in known]
        if len(self._trained) in (0, len(self._names)):
            self._trained = []
        self._empty_text = empty_text
        self.show_all.blockSignals(True)
        self.show_all.setChecked(False)
        self.show_all.blockSignals(False)
        self.show_all.setText(f"Show all {len(self._names)} categories")
        self.show_all.setVisible(bool(self._trained))
        self._fill()

    def _fill(self) -> None:
        self.model.clear()
        if not self._trained:
            self._add(self._names)
        else:
            self._add_header(f"Trained on ({len(self._trained)})")
            self._add(self._trained)
            self._rest_shown = self._want_rest()
            if self._rest_shown:
                trained = set(self._trained)
                rest = [n for n in self._names if n not in trained]
                self._add_header(f"Other categories ({len(rest)}): not trained on")
                self._add(rest, untrained=True)
        names = self._names
        self.empty_label.setText(self._empty_text)
        self.empty_label.setVisible(not names)
        self.list.setVisible(bool(names))

    def _add(self, names: Sequence[str], untrained: bool = False) -> None:
        for name in names:
            item = QStandardItem(untrained_icon(category_rgb(name)) if untrained else swatch_icon(category_rgb(name)),
                                 name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
            if untrained:
                item.setData(True, UNTRAINED_ROLE)
                font = QFont(self.font())
                font.setItalic(True)
                item.setFont(font)
                item.setForeground(QBrush(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)))
                item.setToolTip(f"{name} — not trained on: this model draws it poorly (a warning shows "
                                "when the layout uses it)")
            else:
                item.setToolTip(f"{name} — drag onto the canvas, or pick it and draw a box")
            self.model.appendRow(item)

    def _want_rest(self) -> bool:
        return self.show_all.isChecked() or bool(self.search.text().strip())

    def _on_search(self, text: str) -> None:
        # typing looks in every category (the untrained ones marked), not only the trained ones
        if self._trained and self._rest_shown != self._want_rest():
            self._fill()
        self.proxy.setFilterFixedString(text)

    def is_marked_untrained(self, name: str) -> bool:
        """The palette marks ``name`` as not trained on (False when it is not listed)."""
        items = self.model.findItems(name, Qt.MatchFlag.MatchExactly)
        return bool(items) and bool(items[0].data(UNTRAINED_ROLE))

    def _add_header(self, text: str) -> None:
        item = QStandardItem(text)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setData(True, HEADER_ROLE)
        font = QFont(self.font())
        font.setBold(True)
        item.setFont(font)
        self.model.appendRow(item)

    @property
    def categories(self) -> List[str]:
        """The category names listed (unfiltered by the search; headings left out)."""
        return [self.model.item(r).text() for r in range(self.model.rowCount())
                if not self.model.item(r).data(HEADER_ROLE)]

    def select(self, name: str) -> None:
        """Highlight ``name`` (without emitting ``category_picked``)."""
        items = self.model.findItems(name, Qt.MatchFlag.MatchExactly)
        if items:
            idx = self.proxy.mapFromSource(items[0].index())
            if idx.isValid() and idx != self.list.currentIndex():
                self.list.blockSignals(True)
                self.list.selectionModel().blockSignals(True)
                self.list.setCurrentIndex(idx)
                self.list.selectionModel().blockSignals(False)
                self.list.blockSignals(False)
                self.list.viewport().update()
                self.list.scrollTo(idx)

    def set_recent(self, names: Sequence[str]) -> None:
        """Show the recent categories with their number keys."""
        if not names:
            self.recent_label.setText("<small>Recent: keys 1-9 pick the categories you use</small>")
            return
        parts = []
        for i, n in enumerate(names[:9]):
            r, g, b = category_rgb(n)
            parts.append(f"<b>{i + 1}</b>&nbsp;<span style='color:rgb({r},{g},{b})'>&#9632;</span>&nbsp;{n}")
        self.recent_label.setText("<small>" + " &nbsp; ".join(parts) + "</small>")

    def _on_current(self, current, previous) -> None:
        if current.isValid() and not current.data(HEADER_ROLE):
            self.category_picked.emit(current.data(Qt.ItemDataRole.DisplayRole))

    def _activate_first(self) -> None:
        """Enter in the search field: the first match becomes the current category."""
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if not idx.data(HEADER_ROLE):
                self.list.setCurrentIndex(idx)
                return
