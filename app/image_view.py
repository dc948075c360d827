"""The generated image, shown as large as the widget allows, crisp (nearest) or smooth, with an
optional overlay of the layout's boxes and a busy mark while a render is pending."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .canvas.box_item import text_color_on
from .colors import UNKNOWN_RGB, category_rgb


def array_to_qimage(img: np.ndarray) -> QImage:
    """uint8 [H, W, 3] RGB -> a QImage that owns its pixels."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w, _ = img.shape
    return QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def scaled_image(image: QImage, scale: int, smooth: bool) -> QImage:
    """``image`` enlarged ``scale`` times, nearest (crisp) or bilinear (smooth)."""
    mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
    return image.scaled(image.width() * scale, image.height() * scale, Qt.AspectRatioMode.IgnoreAspectRatio, mode)


class ImageView(QWidget):
    """Paints the latest generated image; ``overlay`` draws the layout's boxes on top."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(160, 160)
        self._image: Optional[QImage] = None
        self._boxes: Sequence[Tuple[tuple, str, bool]] = ()
        self._placeholder = "No model loaded"
        self.smooth = False
        self.overlay = False
        self.busy = False

    @property
    def image(self) -> Optional[QImage]:
        """The image shown (None before the first render)."""
        return self._image

    def set_image(self, img: Optional[np.ndarray]) -> None:
        """Show a uint8 [H, W, 3] image (None clears it and shows the placeholder)."""
        self._image = None if img is None else array_to_qimage(img)
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Text shown when there is no image."""
        self._placeholder = text
        self.update()

    def set_boxes(self, boxes: Sequence[Tuple[tuple, str, bool]]) -> None:
        """Boxes for the overlay: (bbox, category, unknown) in fusion order."""
        self._boxes = list(boxes)
        if self.overlay:
            self.update()

    def set_smooth(self, on: bool) -> None:
        """Smooth (bilinear) instead of crisp (nearest) enlargement."""
        self.smooth = bool(on)
        self.update()

    def set_overlay(self, on: bool) -> None:
        """Draw the layout's boxes over the image."""
        self.overlay = bool(on)
        self.update()

    def set_busy(self, on: bool) -> None:
        """Show the busy mark (a render is pending)."""
        if on != self.busy:
            self.busy = on
            self.update()

    def target_rect(self) -> QRectF:
        """Where the image is drawn: the largest centred square that fits, in whole image pixels
        when crisp so every pixel has the same size."""
        side = min(self.width(), self.height()) - 16
        if self._image is not None and not self.smooth and side >= self._image.width():
            side = side // self._image.width() * self._image.width()
        side = max(side, 16)
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(pal.ColorRole.Window).darker(108))
        r = self.target_rect()
        if self._image is None:
            p.setPen(QPen(pal.color(pal.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
            p.drawRect(r)
            p.setPen(pal.color(pal.ColorRole.PlaceholderText))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
        else:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
            p.drawImage(r, self._image)
        if self.overlay:
            self._paint_overlay(p, r)
        if self.busy:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(pal.ColorRole.Highlight))
            p.drawEllipse(int(r.topRight().x() - 16), int(r.top() + 6), 10, 10)
        p.end()

    def _paint_overlay(self, p: QPainter, r: QRectF) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for bbox, category, unknown in self._boxes:
            color = QColor(*(UNKNOWN_RGB if unknown else category_rgb(category)))
            p.setPen(QPen(color, 1.5, Qt.PenStyle.DashLine if unknown else Qt.PenStyle.SolidLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            x0, y0, x1, y1 = bbox
            box = QRectF(r.x() + x0 * r.width(), r.y() + y0 * r.height(),
                         (x1 - x0) * r.width(), (y1 - y0) * r.height())
            p.drawRect(box)
            fm = p.fontMetrics()
            chip = QRectF(box.x(), box.y(), fm.horizontalAdvance(category) + 8, fm.height() + 2)
            p.fillRect(chip.intersected(box), color)
            p.setPen(text_color_on(color))
            p.drawText(chip.intersected(box), Qt.AlignmentFlag.AlignCenter, category)
