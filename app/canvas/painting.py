"""Drawing of the canvas itself: the background (page, 8x8 grid of output-pixel blocks, border) and
the resize handles of selected boxes, which keep their screen size at any zoom."""

from __future__ import annotations

from typing import Iterable, Tuple

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen

from .handles import HANDLE_DRAW_PX, handle_points


def paint_background(painter: QPainter, rect: QRectF, pal: QPalette, side: float) -> None:
    """Page colour around the canvas, the canvas (0..side) with a dotted 8x8 grid and a border."""
    painter.fillRect(rect, pal.color(QPalette.ColorRole.Window).darker(108))
    canvas = QRectF(0, 0, side, side)
    painter.fillRect(canvas, QColor(250, 250, 250) if pal.color(QPalette.ColorRole.Window).lightness() > 128
                     else QColor(58, 58, 62))
    grid = QPen(pal.color(QPalette.ColorRole.Mid), 0)
    grid.setCosmetic(True)
    grid.setStyle(Qt.PenStyle.DotLine)
    painter.setPen(grid)
    for i in range(1, 8):
        v = side * i / 8
        painter.drawLine(QPointF(v, 0), QPointF(v, side))
        painter.drawLine(QPointF(0, v), QPointF(side, v))
    border = QPen(pal.color(QPalette.ColorRole.Dark), 0)
    border.setCosmetic(True)
    painter.setPen(border)
    painter.drawRect(canvas)


def paint_handles(painter: QPainter, boxes: Iterable[Tuple[Tuple[float, float, float, float], QColor]]) -> None:
    """The 8 handles of each (bbox in viewport pixels, colour), drawn in screen pixels."""
    painter.save()
    painter.resetTransform()
    half = HANDLE_DRAW_PX / 2
    for bbox_px, color in boxes:
        painter.setPen(QPen(color.darker(150), 1))
        painter.setBrush(QColor(Qt.GlobalColor.white))
        for hx, hy in handle_points(bbox_px).values():
            painter.drawRect(QRectF(hx - half, hy - half, HANDLE_DRAW_PX, HANDLE_DRAW_PX))
    painter.restore()
