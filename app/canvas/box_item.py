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
    return QColor(Qt.GlobalColor.black) if lum > 150 else QColor(Qt.GlobalColor.white)


class LabelChip(QGraphicsItem):
    """Category name on a coloured chip; ignores the view's zoom so it stays readable."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._text = ""
        self._color = QColor(Qt.GlobalColor.gray)
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
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self._color)
        painter.drawRoundedRect(self._rect, 3, 3)
        painter.setFont(self._font)
        painter.setPen(text_color_on(self._color))
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self._text)


def chip_position(box: QRectF, chip_w: float, chip_h: float, side: float) -> QPointF:
    """Top-left of a label chip of ``chip_w`` x ``chip_h`` (scene units) for ``box``: just inside its
    top-left corner, shifted left / up where it would cross the canvas border (0..side), so the chip
    never spills outside the canvas, even on a small box in a corner."""
    inset = min(1.0, box.width() / 4, box.height() / 4)
    x = min(box.left() + inset, side - chip_w)
    y = min(box.top() + inset, side - chip_h)
    return QPointF(max(0.0, x), max(0.0, y))


class BoxItem(QGraphicsItem):
    """One object's box in scene coordinates (the canvas spans 0..side in both axes)."""

    def __init__(self, uid: int, side: float = 512.0):
        super().__init__()
        self.uid = uid
        self.side = side
        self._scale = 1.0  # view pixels per scene unit (the chip keeps its screen size)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self._rect = QRectF()
        self._category = ""
        self._unknown = False
        self._untrained = False
        self._locked = False
        self._selected = False
        self._color = QColor(Qt.GlobalColor.gray)
        self._pad = 2.0
        self.chip = LabelChip(self)

    # ---- state ---------------------------------------------------------------------------------
    def set_rect(self, rect: QRectF) -> None:
        """Set the box rectangle in scene coordinates."""
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = QRectF(rect)
            self._place_chip()

    def _place_chip(self) -> None:
        size = self.chip.boundingRect()
        self.chip.setPos(chip_position(self._rect, size.width() / self._scale, size.height() / self._scale,
                                       self.side))

    def rect(self) -> QRectF:
        """The box rectangle in scene coordinates."""
        return QRectF(self._rect)

    def set_object(self, category: str, unknown: bool, locked: bool, untrained: bool = False) -> None:
        """Set the category (whether the model knows it, whether it was trained on it) and the lock
        flag."""
        state = (category, unknown, locked, untrained and not unknown)
        if state == (self._category, self._unknown, self._locked, self._untrained):
            return
        self._category, self._unknown, self._locked, self._untrained = state
        self._color = QColor(*(UNKNOWN_RGB if unknown else category_rgb(category)))
        text = category + ("  ?" if unknown else "  !" if self._untrained else "") + ("  [locked]" if locked else "")
        self.chip.set_label(text, self._color)
        self._place_chip()
        self.setToolTip(f"{category} — not in this model's vocabulary; kept but not rendered" if unknown else
                        f"{category} — this model was not trained on it: drawn poorly" if self._untrained
                        else category)
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
    def set_scale(self, scale: float, pad: float) -> None:
        """The view's zoom (pixels per scene unit: where the screen-sized chip fits) and the margin
        (scene units) around the box that repaints with it: covers the outline and the screen-sized
        handles the view draws, so only changed regions need repainting."""
        if pad != self._pad:
            self.prepareGeometryChange()
            self._pad = pad
        if scale > 0 and scale != self._scale:
            self._scale = scale
            self._place_chip()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-self._pad, -self._pad, self._pad, self._pad)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        fill = QColor(self._color)
        fill.setAlpha(90 if self._selected else 55)
        brush = QBrush(fill, Qt.BrushStyle.BDiagPattern) if self._unknown else QBrush(fill)
        pen = QPen(self._color, 3.0 if self._selected else 1.6)
        pen.setCosmetic(True)
        if self._unknown:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(brush)
        painter.drawRect(self._rect)
        if self._selected:
            inner = QPen(QColor(255, 255, 255, 200), 1.0, Qt.PenStyle.DashLine)
            inner.setCosmetic(True)
            painter.setPen(inner)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self._rect)
