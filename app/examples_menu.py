"""File > Examples: the shipped example layouts of every shipped model, grouped by model, each with a
thumbnail. A thumbnail starts as a sketch of the layout's boxes and becomes the picture the model
paints of it once rendered on the worker (asked for the first time the menu opens)."""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QProxyStyle, QStyle

from .catalog import Catalog, Example
from .colors import category_rgb
from .image_view import array_to_qimage

THUMB_PX = 48


class _ThumbnailStyle(QProxyStyle):
    """The app's style with menu icons of THUMB_PX (menus otherwise show 16 px icons)."""

    def pixelMetric(self, metric, option=None, widget=None) -> int:
        if metric == QStyle.PixelMetric.PM_SmallIconSize:
            return THUMB_PX
        return super().pixelMetric(metric, option, widget)


def sketch_thumbnail(example: Example, side: int = 64) -> QPixmap:
    """The example's boxes in their category colours, in fusion order (later ones on top)."""
    pm = QPixmap(side, side)
    pm.fill(QColor(245, 245, 245))
    p = QPainter(pm)
    for o in example.project.objects:
        x0, y0, x1, y1 = o.bbox
        color = QColor(*category_rgb(o.category))
        fill = QColor(color)
        fill.setAlpha(170)
        p.setPen(QPen(color.darker(140), 1))
        p.setBrush(fill)
        p.drawRect(QRectF(x0 * side, y0 * side, max(1.0, (x1 - x0) * side - 1), max(1.0, (y1 - y0) * side - 1)))
    p.end()
    return pm


class ExamplesMenu(QMenu):
    """Signals: ``example_picked(Example)``; ``thumbnails_wanted()`` when the menu opens and the
    rendered thumbnails are not there yet."""

    example_picked = Signal(object)
    thumbnails_wanted = Signal()

    def __init__(self, parent=None):
        super().__init__("&Examples", parent)
        self._style = _ThumbnailStyle("Fusion")
        self.setStyle(self._style)
        self.setToolTipsVisible(True)
        self._entries: Dict[str, QAction] = {}
        self._headers: Dict[str, QAction] = {}
        self._current = ""
        self.rendered: Dict[str, np.ndarray] = {}   # example path -> image, once rendered
        self.thumbnails_asked = False
        self.aboutToShow.connect(self._on_show)
        self.set_catalog(Catalog())

    def set_catalog(self, catalog: Catalog) -> None:
        """List the catalog's examples under one heading per model."""
        self.clear()
        self._entries, self._headers = {}, {}
        groups = catalog.groups()
        if not groups:
            a = self.addAction("No example layouts installed")
            a.setEnabled(False)
        for name, examples in groups:
            header = self.addAction(name)
            font = QFont(self.font())
            font.setBold(True)
            header.setFont(font)
            header.setEnabled(False)
            self._headers[name] = header
            for e in examples:
                a = self.addAction(QIcon(sketch_thumbnail(e)), e.title)
                a.setToolTip(f"{e.title}: {len(e.project.objects)} objects, made for the model {e.model_name}")
                a.setStatusTip(f"Open the example {e.path.name} (model {e.model_name})")
                a.triggered.connect(lambda _=False, e=e: self.example_picked.emit(e))
                self._entries[str(e.path)] = a
            self.addSeparator()
        self.set_current_model(self._current)
        self.set_thumbnails(self.rendered)

    def set_current_model(self, name: str) -> None:
        """Say which model is loaded in its heading."""
        self._current = name
        for n, header in self._headers.items():
            header.setText(f"{n} (loaded)" if n == name else n)

    def set_thumbnails(self, images: Dict[str, np.ndarray]) -> None:
        """Show rendered pictures (example path -> uint8 [H, W, 3]) instead of the sketches."""
        self.rendered = dict(self.rendered, **images)
        for path, img in images.items():
            a = self._entries.get(path)
            if a is not None:
                a.setIcon(QIcon(QPixmap.fromImage(array_to_qimage(img))))

    def entry(self, path) -> Optional[QAction]:
        """The menu entry of an example file (tests)."""
        return self._entries.get(str(path))

    def entries(self) -> List[QAction]:
        """Every example entry, in menu order."""
        return list(self._entries.values())

    def _on_show(self) -> None:
        if not self.thumbnails_asked and self._entries:
            self.thumbnails_asked = True
            self.thumbnails_wanted.emit()
