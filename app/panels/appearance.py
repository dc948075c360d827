"""The appearance panel: the selected object's look. Sliders along its category's named appearance
directions ("colour", "shade", ... where the training data recorded such factors), then along its
principal directions ("look k" with the share of variance each explains), all in standard deviations,
-3..+3; a seed, lock, and buttons for re-roll, reset, typical look, copy/paste, photo, variations.

The panel only translates widget events into ``LookEditor`` calls and redraws from the document; the
slider <-> z mapping is in ``appearance.py``. A drag of a slider previews live (the image follows
through the worker's coalescing) and becomes one undo step at release.
"""

from __future__ import annotations

from typing import Dict, List, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from ..appearance import DEFAULT_K, MAX_NAMED, SEED_MAX, SLIDER_RANGE, STEPS_PER_SD, from_steps, to_steps
from ..colors import category_rgb
from ..document import DocEvent
from ..look_editor import LookEditor
from ..theme import icon

BUTTONS = (("reroll", "look_reset", "look_typical"), ("copy_look", "paste_look"),
           ("look_from_photo", "variations"))


class AppearancePanel(QWidget):
    """Sliders, seed and look buttons for the one selected object."""

    def __init__(self, looks: LookEditor, k: int = DEFAULT_K + MAX_NAMED, parent=None):
        super().__init__(parent)
        self.looks = looks
        self.editor = looks.editor
        self._uid: Optional[int] = None
        self._syncing = False
        self.title = QLabel()
        self.title.setTextFormat(Qt.RichText)
        self.lock_button = QToolButton()
        self.lock_button.setCheckable(True)
        self.lock_button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.lock_button.toggled.connect(self._on_lock)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Minimum)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.lock_button)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self.labels: List[QLabel] = []
        self.sliders: List[QSlider] = []
        self.values: List[QLabel] = []
        for i in range(k):
            label, value = QLabel(f"look {i + 1}"), QLabel("+0.00")
            value.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance("+0.00 ") + 2)
            s = QSlider(Qt.Horizontal)
            s.setRange(-int(SLIDER_RANGE * STEPS_PER_SD), int(SLIDER_RANGE * STEPS_PER_SD))
            s.setSingleStep(STEPS_PER_SD // 10)
            s.setPageStep(STEPS_PER_SD // 2)
            s.setTickPosition(QSlider.TicksBelow)
            s.setTickInterval(STEPS_PER_SD)
            s.sliderPressed.connect(lambda i=i: self._on_pressed(i))
            s.valueChanged.connect(lambda v, i=i: self._on_value(i, v))
            s.sliderReleased.connect(self.looks.end_slider)
            for col, w in enumerate((label, s, value)):
                grid.addWidget(w, i, col)
            self.labels.append(label)
            self.sliders.append(s)
            self.values.append(value)
        grid.setColumnStretch(1, 1)
        self.seed = QSpinBox()
        self.seed.setRange(-1, SEED_MAX)
        self.seed.setSpecialValueText("—")
        self.seed.setKeyboardTracking(False)  # Enter, focus out or the arrows: not every digit typed
        self.seed.setToolTip("The look's seed: z = sample_z(1, seed). Type a number and press Enter.\n"
                             "\"—\": the look did not come from a seed (a photo, a slider, a paste…)")
        self.seed.valueChanged.connect(self._on_seed)
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Seed"))
        seed_row.addWidget(self.seed, 1)
        self.buttons: Dict[str, QToolButton] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(4)
        lay.addLayout(head)
        lay.addWidget(self.note)
        lay.addLayout(grid)
        lay.addLayout(seed_row)
        self._button_rows = []
        for names in BUTTONS:
            row = QHBoxLayout()
            row.setSpacing(4)
            for n in names:
                b = QToolButton()
                b.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
                b.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
                self.buttons[n] = b
                row.addWidget(b)
            lay.addLayout(row)
        lay.addStretch(1)
        self.editor.doc.subscribe(self._on_doc)
        self.editor.selection.changed.connect(self.refresh)
        self.refresh_icons()
        self.refresh()

    # ---- wiring --------------------------------------------------------------------------------
    def set_actions(self, actions: Dict[str, QAction]) -> None:
        """Bind the buttons to the window's actions (same text, icon, shortcut, enabling)."""
        for name, b in self.buttons.items():
            if name in actions:
                b.setDefaultAction(actions[name])

    def refresh_icons(self) -> None:
        """Icons in the current theme's colours."""
        self.lock_button.setIcon(icon("fa5s.lock" if self.lock_button.isChecked() else "fa5s.lock-open"))

    def _on_doc(self, event: DocEvent) -> None:
        if event.kind == "look" and self._uid is not None and event.uids == (self._uid,):
            o = self.editor.doc.get(self._uid)  # a slider tick: only the numbers change
            self._syncing = True
            try:
                self._show_values(o, self.looks.steerable(o))
            finally:
                self._syncing = False
        elif event.kind != "geometry":
            self.refresh()

    # ---- showing -------------------------------------------------------------------------------
    @property
    def uid(self) -> Optional[int]:
        """The object shown (None: no single selection)."""
        return self._uid

    def refresh(self) -> None:
        """Redraw from the document and the selection."""
        o = self.looks.current()
        self._uid = None if o is None else o.uid
        basis = self.looks.steerable(o)
        self._syncing = True
        try:
            self._show_title(o)
            self.lock_button.setEnabled(o is not None)
            self.lock_button.setChecked(bool(o and o.locked))
            self.lock_button.setText("Locked" if o is not None and o.locked else "Lock")
            self.lock_button.setToolTip("Lock this object's look: re-rolls, pastes and sliders leave it alone")
            self.refresh_icons()
            self._show_note(o, basis)
            active = basis is not None and not o.locked
            for i, (label, slider, value) in enumerate(zip(self.labels, self.sliders, self.values)):
                shown = basis is None or i < basis.k
                for w in (label, slider, value):
                    w.setVisible(shown)
                slider.setEnabled(active)
                if basis is not None and i < basis.k:
                    self._label_row(label, basis, i)
            self.seed.setEnabled(active)
            self._show_values(o, basis)
        finally:
            self._syncing = False

    @staticmethod
    def _label_row(label: QLabel, basis, i: int) -> None:
        """Name a slider row: the factor's name for a named direction, else "look n" / "axis n"."""
        factor = basis.name(i)
        if factor:
            label.setText(f"<b>{factor}</b>")
            label.setToolTip(f"Moves this object's {factor}: a direction fitted on the training crops' recorded "
                             f"'{factor}' (held-out R² {basis.r2[i]:.2f}); 1 step = 1 standard deviation "
                             f"({basis.std[i]:.3g} in z)")
            return
        n = i + 1 - sum(1 for j in range(i) if basis.name(j))
        name = "axis" if basis.fallback else "look"
        label.setText(f"{name} {n} <small>({100 * basis.explained[i]:.0f}%)</small>")
        label.setToolTip(f"Direction {n} of this category's appearance: explains {100 * basis.explained[i]:.1f}% "
                         f"of its variance; 1 step = 1 standard deviation ({basis.std[i]:.3g} in z)")

    def _show_values(self, o, basis) -> None:
        """Slider positions, their numbers and the seed (all that a look change alters)."""
        values = self.looks.sliders_of(o.uid) if basis is not None else None
        for i, (slider, value) in enumerate(zip(self.sliders, self.values)):
            v = 0.0 if values is None or i >= len(values) else float(values[i])
            v = 0.0 if abs(v) < 0.005 else v  # no "-0.00"
            if not (self.looks.dragging and slider.isSliderDown()):
                slider.setValue(to_steps(v))
            value.setText(f"{v:+.2f}")
            value.setToolTip("Beyond the slider's range" if abs(v) > SLIDER_RANGE + 1e-9 else "")
        self.seed.setValue(-1 if o is None or o.seed is None else o.seed)

    def _show_title(self, o) -> None:
        if o is None:
            n = len(self.editor.selection)
            self.title.setText(f"<b>{n} objects selected</b>" if n > 1 else "<b>No object selected</b>")
            return
        r, g, b = category_rgb(o.category)
        i = self.editor.doc.index_of(o.uid) + 1
        self.title.setText(f"<span style='color:rgb({r},{g},{b})'>&#9632;</span> <b>{o.category}</b>"
                           f" <small>(object {i} of {len(self.editor.doc)})</small>")

    def _show_note(self, o, basis) -> None:
        info = self.looks.info
        if o is None:
            text = ("Select one object to steer its look; re-roll, lock and paste act on every selected "
                    "object." if len(self.editor.selection) > 1 else
                    "Select an object to steer its look.")
        elif info is None:
            text = "No model loaded."
        elif self.editor.is_unknown(o.category):
            text = f"'{o.category}' is unknown to this model: it has no look here."
        elif basis is None:
            text = "This object's look (z) was made for another model; re-roll to give it one."
        elif o.locked:
            text = "The look is locked: unlock it to change it."
        elif basis.fallback:
            text = ("This model has no appearance directions for this category: the sliders move the "
                    "first axes of z." if info.has_directions else
                    "This model has no appearance directions: the sliders move the first axes of z.")
        else:
            text = "Sliders: the category's main ways of looking different, in standard deviations."
        self.note.setText(f"<small>{text}</small>")

    # ---- events --------------------------------------------------------------------------------
    def _on_pressed(self, k: int) -> None:
        if self._uid is not None:
            self.looks.begin_slider(self._uid)

    def _on_value(self, k: int, steps: int) -> None:
        if self._syncing or self._uid is None:
            return
        value = from_steps(steps)
        self.values[k].setText(f"{value:+.2f}" if steps else "+0.00")
        if self.sliders[k].isSliderDown() and self.looks.dragging:
            self.looks.preview_slider(k, value)
        else:
            self.looks.set_slider(self._uid, k, value)

    def _on_seed(self, seed: int) -> None:
        if not self._syncing and self._uid is not None and seed >= 0:
            self.looks.set_seed(self._uid, seed)

    def _on_lock(self, on: bool) -> None:
        if not self._syncing and self._uid is not None:
            self.looks.set_lock([self._uid], on)
