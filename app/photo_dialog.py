"""A small dialog to pick a box on a photo: the photo fitted into the view, a rubber-band box drawn
by dragging (redraw to change it), and buttons for the object's own box and the whole photo."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from layout2im_core.boxes import BBox, as_bbox

from .canvas.handles import drawn_bbox

MIN_SIDE = 0.02  # smallest box side, as a share of the photo


def qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage -> uint8 [H, W, 3] RGB (a copy)."""
    img = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


class PhotoBoxView(QWidget):
    """The photo with a box; drag to draw the box. ``box`` is (x0, y0, x1, y1) in [0, 1] of the photo."""

    box_changed = Signal()

    def __init__(self, image: QImage, parent=None):
        super().__init__(parent)
        self.image = image
        self.box: Optional[BBox] = None
        self._anchor: Optional[QPointF] = None
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)

    def photo_rect(self) -> QRectF:
        """Where the photo is drawn (aspect kept, centred)."""
        w, h = max(self.image.width(), 1), max(self.image.height(), 1)
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def to_norm(self, p: QPointF) -> Tuple[float, float]:
        """A widget point -> photo coordinates in its [0, 1] units (may lie outside)."""
        r = self.photo_rect()
        return ((p.x() - r.x()) / r.width(), (p.y() - r.y()) / r.height())

    def set_box(self, box: Optional[BBox]) -> None:
        self.box = None if box is None else as_bbox(box)
        self.update()
        self.box_changed.emit()

    def mousePressEvent(self, e) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._anchor = e.position()

    def mouseMoveEvent(self, e) -> None:
        if self._anchor is not None:
            (ax, ay), (bx, by) = self.to_norm(self._anchor), self.to_norm(e.position())
            self.set_box(drawn_bbox(ax, ay, bx, by))

    def mouseReleaseEvent(self, e) -> None:
        if self._anchor is not None and e.button() == Qt.MouseButton.LeftButton:
            self.mouseMoveEvent(e)
            self._anchor = None
            if self.box and (self.box[2] - self.box[0] < MIN_SIDE or self.box[3] - self.box[1] < MIN_SIDE):
                self.set_box(None)  # a click, not a box

    def paintEvent(self, _) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().dark())
        r = self.photo_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(r, self.image)
        if self.box:
            x0, y0, x1, y1 = self.box
            br = QRectF(r.x() + x0 * r.width(), r.y() + y0 * r.height(), (x1 - x0) * r.width(), (y1 - y0) * r.height())
            p.fillRect(r, QColor(0, 0, 0, 90))  # dim outside the box
            p.drawImage(br, self.image, QRectF(x0 * self.image.width(), y0 * self.image.height(),
                                               (x1 - x0) * self.image.width(), (y1 - y0) * self.image.height()))
            for color, width in ((QColor(0, 0, 0, 160), 3), (QColor(255, 210, 0), 1.5)):
                pen = QPen(color, width)
                pen.setCosmetic(True)
                p.setPen(pen)
                p.drawRect(br)
        p.end()


class PhotoBoxDialog(QDialog):
    """Pick the box whose crop gives the object its look."""

    def __init__(self, image: QImage, title: str, initial: Optional[BBox] = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.view = PhotoBoxView(image)
        hint = QLabel("Drag on the photo to draw the box whose look the object should take.")
        hint.setWordWrap(True)
        own = QPushButton("Object's box")
        own.setToolTip("The object's box from the layout, placed on the photo")
        own.setEnabled(initial is not None)
        own.clicked.connect(lambda: self.view.set_box(initial))
        whole = QPushButton("Whole photo")
        whole.clicked.connect(lambda: self.view.set_box((0.0, 0.0, 1.0, 1.0)))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(own)
        row.addWidget(whole)
        row.addStretch(1)
        row.addWidget(self.buttons)
        lay = QVBoxLayout(self)
        lay.addWidget(hint)
        lay.addWidget(self.view, 1)
        lay.addLayout(row)
        self.view.box_changed.connect(self._update_ok)
        self.view.set_box(initial)
        w, h = image.width(), image.height()
        s = min(720 / max(w, 1), 520 / max(h, 1), 4.0)
        self.resize(int(max(w * s, 360)) + 24, int(max(h * s, 260)) + 90)

    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(self.view.box is not None)

    @property
    def box(self) -> Optional[BBox]:
        return self.view.box
