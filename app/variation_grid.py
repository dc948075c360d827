"""The variation grid: rows x cols samples (default 3x3) of the whole layout (every unlocked object
gets a new look) or of the selected object only (the others fixed), rendered as ONE batch
(``generate_batch``) on the worker thread. Clicking a cell adopts its looks (one undo step); the
dialog stays open to compare further.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from layout2im_core.types import LayoutSpec

from .image_view import array_to_qimage, scaled_image
from .inference_worker import SEED_MAX
from .theme import icon

MODES = (("layout", "Whole layout (unlocked objects)"), ("object", "Selected object only"))
CELL_PX = 128


@dataclass(frozen=True)
class VariationResult:
    """What the worker sends back: images uint8 [N, 64, 64, 3]; for each cell the (z, seed) of each
    varied object (``uids`` order)."""

    uids: Tuple[int, ...]
    images: np.ndarray
    looks: Tuple[Tuple[Tuple[Tuple[float, ...], int], ...], ...]


def render_variations(model, layout: LayoutSpec, uids: Sequence[int], vary: Sequence[int],
                      seeds: Sequence[Sequence[int]]) -> VariationResult:
    """On the worker: one layout per cell where object ``vary[j]`` (index into ``layout``) gets
    ``sample_z(1, seeds[cell][j])``; all cells in one ``generate_batch``."""
    layouts, looks = [], []
    for cell_seeds in seeds:
        objs = list(layout.objects)
        cell = []
        for idx, s in zip(vary, cell_seeds):
            z = tuple(float(v) for v in model.sample_z(1, s)[0])
            objs[idx] = objs[idx].with_z(z)
            cell.append((z, int(s)))
        layouts.append(LayoutSpec(tuple(objs)))
        looks.append(tuple(cell))
    images = np.asarray(model.generate_batch(layouts, seed=0), np.uint8)
    return VariationResult(tuple(uids[i] for i in vary), images, tuple(looks))


class VariationDialog(QDialog):
    """The grid. ``request(mode, n)`` is called to render (the window builds the layout and runs the
    job); ``adopt(uids, looks)`` when a cell is clicked."""

    def __init__(self, request: Callable[[str, int], Optional[str]], adopt: Callable[[Sequence[int], Sequence], None],
                 parent=None):
        super().__init__(parent)
        self.setWindowTitle("Variations")
        self._request, self._adopt = request, adopt
        self.result: Optional[VariationResult] = None
        self.mode = QComboBox()
        for key, text in MODES:
            self.mode.addItem(text, key)
        self.rows, self.cols = QSpinBox(), QSpinBox()
        for s in (self.rows, self.cols):
            s.setRange(1, 6)
            s.setValue(3)
        self.again = QPushButton(icon("fa5s.dice"), "New samples")
        self.again.setDefault(True)
        self.again.clicked.connect(self.resample)
        self.mode.currentIndexChanged.connect(lambda _: self.resample())
        top = QHBoxLayout()
        top.addWidget(self.mode, 1)
        top.addWidget(QLabel("Grid"))
        top.addWidget(self.rows)
        top.addWidget(QLabel("×"))
        top.addWidget(self.cols)
        top.addWidget(self.again)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setSpacing(4)
        self.cells: List[QToolButton] = []
        self._shape = (0, 0)
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.grid_host, 1)
        lay.addWidget(self.status)

    @property
    def n(self) -> int:
        return self.rows.value() * self.cols.value()

    @property
    def mode_key(self) -> str:
        return self.mode.currentData()

    @property
    def ready(self) -> bool:
        """The cells show the newest samples."""
        return self.result is not None and len(self.cells) == len(self.result.images)

    def resample(self) -> None:
        """Ask for a new set of samples."""
        self.result = None
        self._build_cells(self.n, self.cols.value())
        problem = self._request(self.mode_key, self.n)
        self.status.setText(problem or f"Rendering {self.n} samples…")

    def show_result(self, result: VariationResult) -> None:
        """Put rendered samples into the cells."""
        self.result = result
        self._build_cells(len(result.images), self.cols.value())
        for b, img in zip(self.cells, result.images):
            qimg = array_to_qimage(img)
            b.setIcon(QIcon(QPixmap.fromImage(scaled_image(qimg, max(1, CELL_PX // qimg.width()), False))))
            b.setEnabled(True)
        what = "the selected object" if self.mode_key == "object" else f"{len(result.uids)} unlocked object(s)"
        self.status.setText(f"New looks for {what}. Click a sample to use it (Ctrl+Z undoes).")

    def show_error(self, message: str) -> None:
        self.status.setText(f"Cannot render the variations: {message}")

    def _build_cells(self, n: int, cols: int) -> None:
        if self._shape != (n, cols):
            self._shape = (n, cols)
            for b in self.cells:
                self.grid.removeWidget(b)
                b.deleteLater()
            self.cells = []
            for i in range(n):
                b = QToolButton()
                b.setIconSize(QSize(CELL_PX, CELL_PX))
                b.setAutoRaise(True)
                b.setToolTip(f"Sample {i + 1}: click to use these looks")
                b.clicked.connect(lambda _=False, i=i: self.pick(i))
                self.grid.addWidget(b, i // cols, i % cols)
                self.cells.append(b)
        for b in self.cells:
            b.setIcon(QIcon())
            b.setEnabled(False)

    def pick(self, i: int) -> None:
        """Adopt the looks of cell ``i``."""
        if self.result is None or not 0 <= i < len(self.result.looks):
            return
        self._adopt(self.result.uids, self.result.looks[i])
        self.status.setText(f"Using sample {i + 1}. Click another to compare, or New samples.")


def random_seeds(cells: int, objects: int) -> List[List[int]]:
    """Fresh random seeds: [cells][objects]."""
    return [[random.randrange(SEED_MAX) for _ in range(objects)] for _ in range(cells)]


@dataclass(frozen=True)
class VariationPlan:
    """What to vary: the renderable layout, the uid of each of its objects, the indices to vary."""

    layout: LayoutSpec
    uids: Tuple[int, ...]
    vary: Tuple[int, ...]


def plan_variations(doc, known, z_dim: int, mode: str, selected: Optional[int]):
    """A VariationPlan for ``mode`` ("layout": every unlocked object; "object": ``selected`` only),
    or a str saying why there is nothing to vary."""
    build = doc.to_layout(known, z_dim)
    skipped = set(build.unknown)
    uids = tuple(u for u in doc.uids() if u not in skipped)
    if not uids:
        return "The layout has no object this model can draw."
    if mode == "object":
        if selected is None or selected not in uids:
            return "Select one object (of a category this model knows) to vary its look."
        if doc.get(selected).locked:
            return "The selected object's look is locked: unlock it (L) to vary it."
        vary = (uids.index(selected),)
    else:
        vary = tuple(i for i, u in enumerate(uids) if not doc.get(u).locked)
        if not vary:
            return "Every object's look is locked: nothing to vary."
    return VariationPlan(build.layout, uids, vary)
