"""The drawn box of one object: a translucent fill, a thin cosmetic outline (thin at any zoom) and a
label chip with the category name that keeps its screen size. Items only draw; the view does the
hit-testing and editing, so items never change the document themselves."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from ..colors import UNKNOWN_RGB, category_rgb


def text_color_on(color: QColor) -> QColor:
    """Black or white, whichever reads better on ``color``."""
    lum = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    return QColor(Qt.black) if lum > 150 else QColor(Qt.white)


class LabelChip(QGraphicsItem):
    """Category name on a coloured chip; ignores the view's zoom so it stays readable."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.NoButton)
        self._text = ""
        self._color = QColor(Qt.gray)
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        self._rect = QRectF()

    def set_label(self, text: str, color: QColor) -> None:
        """Set the text and chip colour."""
        self.prepareGeometryChange()
        self._text, self._color = text, QColor(color)
        fm = QFontMetricsF(self._font)
        self._rect = QRectF(0, 0, fm.horizontalAdvance(text) + 8, fm.height() + 2)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(Qt.NoPen)
        painter.setBrush(self._color)
        painter.drawRoundedRect(self._rect, 3, 3)
        painter.setFont(self._font)
        painter.setPen(text_color_on(self._color))
        painter.drawText(self._rect, Qt.AlignCenter, self._text)


class BoxItem(QGraphicsItem):
    """One object's box in scene coordinates (the canvas spans 0..side in both axes)."""

    def __init__(self, uid: int):
        super().__init__()
        self.uid = uid
        self.setAcceptedMouseButtons(Qt.NoButton)
        self._rect = QRectF()
        self._category = ""
        self._unknown = False
        self._locked = False
        self._selected = False
        self._color = QColor(Qt.gray)
        self._pad = 2.0
        self.chip = LabelChip(self)

    # ---- state ---------------------------------------------------------------------------------
    def set_rect(self, rect: QRectF) -> None:
        """Set the box rectangle in scene coordinates."""
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
            self.chip.setPos(self._rect.topLeft() + QPointF(1, 1))

    def rect(self) -> QRectF:
        """The box rectangle in scene coordinates."""
        return QRectF(self._rect)

    def set_object(self, category: str, unknown: bool, locked: bool) -> None:
        """Set the category (and whether the model knows it) and the lock flag."""
        if (category, unknown, locked) == (self._category, self._unknown, self._locked):
            return
        self._category, self._unknown, self._locked = category, unknown, locked
        self._color = QColor(*(UNKNOWN_RGB if unknown else category_rgb(category)))
        text = category + ("  ?" if unknown else "") + ("  [locked]" if locked else "")
        self.chip.set_label(text, self._color)
        self.setToolTip(f"{category} — not in this model's vocabulary; kept but not rendered"
                        if unknown else category)
        self.update()

    def set_selected(self, selected: bool) -> None:
        """Draw as selected (thicker outline)."""
        if selected != self._selected:
            self._selected = selected
            self.update()

    @property
    def color(self) -> QColor:
        """Outline colour (category colour, or red when unknown)."""
        return QColor(self._color)

    # ---- drawing -------------------------------------------------------------------------------
    def set_pad(self, pad: float) -> None:
        """Margin (scene units) around the box that repaints with it: covers the outline and the
        screen-sized handles the view draws, so only changed regions need repainting."""
        if pad != self._pad:
            self.prepareGeometryChange()
            self._pad = pad

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-self._pad, -self._pad, self._pad, self._pad)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        fill = QColor(self._color)
        fill.setAlpha(90 if self._selected else 55)
        brush = QBrush(fill, Qt.BDiagPattern) if self._unknown else QBrush(fill)
        pen = QPen(self._color, 3.0 if self._selected else 1.6)
        pen.setCosmetic(True)
        if self._unknown:
            pen.setStyle(Qt.DashLine)
        painter.setPen(pen)
        painter.setBrush(brush)
        painter.drawRect(self._rect)
        if self._selected:
            inner = QPen(QColor(255, 255, 255, 200), 1.0, Qt.DashLine)
            inner.setCosmetic(True)
            painter.setPen(inner)
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(self._rect)
