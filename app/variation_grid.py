"""The variation grid, in two modes, each rendered as ONE batch (``generate_batch``) on the worker:

* **Objects x samples** (the default): one row per selected object (or, with nothing selected, per
  unlocked object); the columns are samples of that object's z with every other object held as it
  is. Clicking a tile gives that object that look (one undo step).
* **Whole layout**: rows x cols samples where every unlocked object gets a new look at once; clicking
  a tile adopts all of its looks (one undo step).

The dialog stays open to compare further; locked objects never change.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from layout2im_core.model_api import RenderModel
from layout2im_core.types import LayoutSpec

from .appearance import SEED_MAX, Look
from .colors import category_rgb
from .image_view import array_to_qimage
from .layout_checks import check_layout
from .panels.palette import swatch_icon
from .theme import icon

if TYPE_CHECKING:
    from .inference_worker import ModelInfo

MODES = (("objects", "Objects × samples"), ("layout", "Whole layout (unlocked objects)"))
CELL_PX = 128            # tile side in the whole-layout grid
OBJECT_CELL_PX = 96      # tile side in the object x sample grid
MAX_OBJECT_ROWS = 8      # rows of the object grid (select objects to choose which)


@dataclass(frozen=True)
class VariationPlan:
    """What to vary: the renderable layout, the uid of each of its objects, and for each grid row the
    indices (into the layout) of the objects that row varies, with a label per row ("" for none)."""

    layout: LayoutSpec
    uids: Tuple[int, ...]
    rows: Tuple[Tuple[int, ...], ...]
    labels: Tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class VariationResult:
    """What the worker sends back: images uint8 [R * C, 64, 64, 3] row by row; for each tile the uids
    it varies and their looks (z, seed); the row labels."""

    rows: int
    cols: int
    images: np.ndarray
    cells: Tuple[Tuple[Tuple[int, ...], Tuple[Look, ...]], ...]
    labels: Tuple[str, ...] = ()
    note: str = ""

    @property
    def uids(self) -> Tuple[int, ...]:
        """Every uid some tile varies, in first-seen order."""
        return tuple(dict.fromkeys(u for uids, _ in self.cells for u in uids))

    @property
    def looks(self) -> Tuple[Tuple[Look, ...], ...]:
        """The looks of each tile (in the order of that tile's uids)."""
        return tuple(looks for _, looks in self.cells)


def render_variations(model: RenderModel, plan: VariationPlan,
                      seeds: Sequence[Sequence[Sequence[int]]]) -> VariationResult:
    """On the worker: tile (r, c) is ``plan.layout`` where each object ``plan.rows[r][j]`` gets
    ``sample_z(1, seeds[r][c][j])``; all tiles in one ``generate_batch``."""
    layouts, cells = [], []
    for r, row in enumerate(plan.rows):
        for cell_seeds in seeds[r]:
            objs = list(plan.layout.objects)
            looks = []
            for idx, s in zip(row, cell_seeds):
                z = tuple(float(v) for v in model.sample_z(1, s)[0])
                objs[idx] = objs[idx].with_z(z)
                looks.append((z, int(s)))
            layouts.append(LayoutSpec(tuple(objs)))
            cells.append((tuple(plan.uids[i] for i in row), tuple(looks)))
    images = np.asarray(model.generate_batch(layouts, seed=0), np.uint8)
    cols = len(seeds[0]) if seeds else 0
    return VariationResult(len(plan.rows), cols, images, tuple(cells), plan.labels, plan.note)


def random_seeds(rows: Sequence[Sequence[int]], cols: int) -> List[List[List[int]]]:
    """Fresh random seeds: [row][col][object of that row]."""
    return [[[random.randrange(SEED_MAX) for _ in row] for _ in range(cols)] for row in rows]


def plan_variations(doc, known, z_dim: int, mode: str, selected: Sequence[int] = (), rows: int = 3):
    """A VariationPlan, or a str saying why there is nothing to vary.

    ``mode`` "objects": a row per selected object (all unlocked objects when none is selected), at
    most MAX_OBJECT_ROWS; "layout": ``rows`` rows that each vary every unlocked object."""
    build = doc.to_layout(known, z_dim)
    skipped = set(build.unknown)
    uids = tuple(u for u in doc.uids() if u not in skipped)
    if not uids:
        return "The layout has no object this model can draw."
    if mode == "layout":
        vary = tuple(i for i, u in enumerate(uids) if not doc.get(u).locked)
        if not vary:
            return "Every object's look is locked: nothing to vary."
        return VariationPlan(build.layout, uids, (vary,) * max(1, rows), ("",) * max(1, rows))
    chosen = [u for u in uids if u in set(selected)] if selected else list(uids)
    locked = [u for u in chosen if doc.get(u).locked] if selected else []  # said only when selected
    chosen = chosen if selected else [u for u in chosen if not doc.get(u).locked]
    targets = [u for u in chosen if u not in locked]
    if not targets:
        if selected and not chosen:
            return "The selected objects are of categories this model cannot draw."
        return ("The selected objects' looks are locked: unlock them (L) to vary them." if selected
                else "Every object's look is locked: nothing to vary.")
    notes = []
    if locked:
        notes.append(f"{len(locked)} locked object(s) left out")
    if len(targets) > MAX_OBJECT_ROWS:
        notes.append(f"showing the first {MAX_OBJECT_ROWS} of {len(targets)} objects: select objects to choose")
        targets = targets[:MAX_OBJECT_ROWS]
    order = doc.uids()
    labels = tuple(f"#{order.index(u) + 1} {doc.get(u).category}" for u in targets)
    return VariationPlan(build.layout, uids, tuple((uids.index(u),) for u in targets), labels, "; ".join(notes))


class VariationDialog(QDialog):
    """The grid. ``request(mode, rows, cols)`` is called to render (the window builds the plan and
    runs the job; it returns why not, or None); ``adopt(uids, looks)`` when a tile is clicked."""

    def __init__(self, request: Callable[[str, int, int], Optional[str]],
                 adopt: Callable[[Sequence[int], Sequence[Look]], None], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Variations")
        self._request, self._adopt = request, adopt
        self.shown: Optional[VariationResult] = None
        self.mode = QComboBox()
        for key, text in MODES:
            self.mode.addItem(text, key)
        self.mode.setToolTip("Objects × samples: a row per selected object (or per unlocked object), "
                             "samples of its look with the rest held.\nWhole layout: every unlocked "
                             "object gets a new look in each tile.")
        self.rows, self.cols = QSpinBox(), QSpinBox()
        for s, v in ((self.rows, 3), (self.cols, 3)):
            s.setRange(1, 8)
            s.setValue(v)
        self.rows_label, self.cols_label = QLabel("Grid"), QLabel("×")
        self.again = QPushButton(icon("fa5s.dice"), "New samples")
        self.again.setDefault(True)
        self.again.clicked.connect(self.resample)
        self.mode.currentIndexChanged.connect(lambda _: self._mode_changed())
        top = QHBoxLayout()
        top.addWidget(self.mode, 1)
        for w in (self.rows_label, self.rows, self.cols_label, self.cols, self.again):
            top.addWidget(w)
        self.grid_host = QWidget()
        self.grid_host.setStyleSheet("QToolButton:checked { border: 3px solid palette(highlight); "
                                     "border-radius: 3px; }")
        self.grid = QGridLayout(self.grid_host)
        self.grid.setSpacing(4)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        self.cells: List[QToolButton] = []
        self.row_labels: List[QLabel] = []
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.status)
        self._mode_changed(resample=False)
        self.resize(760, 560)

    @property
    def mode_key(self) -> str:
        """"objects" or "layout"."""
        return self.mode.currentData()

    @property
    def n(self) -> int:
        """Tiles asked for in the whole-layout mode (rows x cols)."""
        return self.rows.value() * self.cols.value()

    @property
    def ready(self) -> bool:
        """The tiles show the newest samples."""
        return self.shown is not None and len(self.cells) == len(self.shown.images)

    def set_mode(self, key: str) -> None:
        """Switch to "objects" or "layout" (asks for new samples when it changes)."""
        i = self.mode.findData(key)
        if i >= 0:
            self.mode.setCurrentIndex(i)

    def _mode_changed(self, resample: bool = True) -> None:
        objects = self.mode_key == "objects"
        self.rows.setVisible(not objects)
        self.cols_label.setVisible(not objects)
        self.rows_label.setText("Samples per object" if objects else "Grid")
        if objects and self.cols.value() < 4:
            self.cols.setValue(5)
        if resample:
            self.resample()

    def resample(self) -> None:
        """Ask for a new set of samples."""
        self.shown = None
        self._clear()
        problem = self._request(self.mode_key, self.rows.value(), self.cols.value())
        self.status.setText(problem or "Rendering the samples…")

    def show_result(self, result: VariationResult) -> None:
        """Put rendered samples into the tiles (a row label per object in the objects mode)."""
        self.shown = result
        self._clear()
        labelled = any(result.labels)
        side = OBJECT_CELL_PX if labelled else CELL_PX
        for r in range(result.rows):
            if labelled:
                name = result.labels[r]
                category = name.split(" ", 1)[1] if " " in name else name
                swatch = QLabel()
                swatch.setPixmap(swatch_icon(category_rgb(category)).pixmap(14, 14))
                label = QLabel(name)
                label.setToolTip(f"Samples of the look of {name}; the other objects keep theirs")
                label.setMinimumWidth(110)
                for col, w in enumerate((swatch, label)):
                    self.grid.addWidget(w, r, col)
                    self.row_labels.append(w)
            for c in range(result.cols):
                i = r * result.cols + c
                b = QToolButton()
                b.setCheckable(True)
                b.setAutoRaise(True)
                b.setIconSize(QSize(side, side))
                qimg = array_to_qimage(result.images[i])
                big = qimg.scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                  Qt.TransformationMode.FastTransformation)  # crisp pixels
                b.setIcon(QIcon(QPixmap.fromImage(big)))
                what = f"this look for {result.labels[r]}" if labelled else "these looks"
                b.setToolTip(f"Sample {c + 1}: click to use {what} (Ctrl+Z undoes)")
                b.clicked.connect(lambda _=False, i=i: self.pick(i))
                self.grid.addWidget(b, r, c + (2 if labelled else 0))
                self.cells.append(b)
        if labelled:
            what = f"{result.rows} object(s), {result.cols} samples each, the rest held"
        else:
            what = f"{len(result.uids)} unlocked object(s) varied together"
        note = f" ({result.note})" if result.note else ""
        self.status.setText(f"New looks for {what}{note}. Click a tile to use it (Ctrl+Z undoes).")

    def show_error(self, message: str) -> None:
        """The render failed."""
        self.status.setText(f"Cannot render the variations: {message}")

    def _clear(self) -> None:
        for w in self.cells + self.row_labels:
            self.grid.removeWidget(w)
            w.deleteLater()
        self.cells, self.row_labels = [], []

    def pick(self, i: int) -> None:
        """Adopt the looks of tile ``i`` (row by row); it stays marked as picked in its row."""
        if self.shown is None or not 0 <= i < len(self.shown.cells):
            return
        uids, looks = self.shown.cells[i]
        self._adopt(uids, looks)
        cols = self.shown.cols
        row = i // cols
        per_row = any(self.shown.labels)  # objects mode: one pick per row; layout mode: one in all
        for j, b in enumerate(self.cells):
            if not per_row or j // cols == row:
                b.setChecked(j == i)
        where = f" for {self.shown.labels[row]}" if any(self.shown.labels) else ""
        self.status.setText(f"Using sample {i % cols + 1}{where}. Click another to compare, or New samples "
                            "(other rows show the looks from before).")


class Variations:
    """The window's variation grid: the dialog (made on first use), the plan from the document and
    selection, the render on the worker (a newer request replaces an older one), a tile applied as
    one undo step. ``info()``: the loaded ModelInfo or None."""

    def __init__(self, looks, client, info: Callable[[], Optional["ModelInfo"]], parent=None):
        self.looks, self.client, self._info, self._parent = looks, client, info, parent
        self.editor = looks.editor
        self.dialog: Optional[VariationDialog] = None
        self._job = 0

    def show(self) -> VariationDialog:
        """Open (or raise) the grid with fresh samples."""
        if self.dialog is None:
            self.dialog = VariationDialog(self.request, self.adopt, self._parent)
        self.dialog.show()
        self.dialog.raise_()
        self.dialog.resample()
        return self.dialog

    def request(self, mode: str, rows: int, cols: int) -> Optional[str]:
        """Render the grid on the worker (one batch); returns why not, or None."""
        info = self._info()
        if info is None:
            return "Load a model first."
        blocking = check_layout(self.editor.doc.objects, info.limits).blocking
        if blocking:
            return blocking.split(". ")[0] + "."
        plan = plan_variations(self.editor.doc, self.editor.known, info.z_dim, mode, self.editor.selection.uids, rows)
        if not isinstance(plan, VariationPlan):
            return plan
        seeds = random_seeds(plan.rows, cols)
        self._job += 1
        job, dlg = self._job, self.dialog
        if dlg is None:
            return "The grid is not open."

        def done(result) -> None:
            if job == self._job:  # a newer request replaces this one
                dlg.show_result(result)

        self.client.run_job(lambda m: render_variations(m, plan, seeds), done, dlg.show_error)
        return None

    def adopt(self, uids: Sequence[int], looks: Sequence[Look]) -> None:
        """Give the tile's objects its looks (locked ones are skipped by the look editor)."""
        text = "Use sample" if len(uids) == 1 else "Use variation"
        self.looks.apply_looks({u: (z, None, seed) for u, (z, seed) in zip(uids, looks)}, text)
