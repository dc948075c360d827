"""The appearance panel: the selected object's look. Sliders along its category's named appearance
directions ("colour", "shade", ... where the training data recorded such factors), then along its
principal directions ("look k" with the share of variance each explains), all in standard deviations,
-3..+3; a seed, lock, and buttons for re-roll, reset, typical look, copy/paste, photo, variations.

Each control is a small class bound both ways to the :class:`~app.look_editor.LookEditor`: it shows
one object's state (``show_object``, ``show_value``) and turns its widget's events into LookEditor
calls. The panel composes them and redraws from the document; the slider <-> z mapping is in
``appearance.py``. A drag of a slider previews live (the image follows through the worker's
coalescing) and becomes one undo step at release.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..appearance import DEFAULT_K, MAX_NAMED, SEED_MAX, SLIDER_RANGE, STEPS_PER_SD, LookBasis, from_steps, to_steps
from ..colors import category_rgb
from ..document import DocEvent, DocObject
from ..look_editor import LookEditor
from ..theme import icon

BUTTONS = (("reroll", "look_reset", "look_typical"), ("copy_look", "paste_look"),
           ("look_from_photo", "variations"))

Uid = Callable[[], Optional[int]]  # the object a control steers (None: none)


class SliderRow:
    """Slider ``k``: its name, the slider (-3..+3 sd in 0.01 steps) and the value it shows. A drag
    previews and ends as one undo step; keys, wheel and clicks are steps that merge."""

    def __init__(self, k: int, looks: LookEditor, uid: Uid):
        self.k, self.looks, self._uid = k, looks, uid
        self.syncing = False
        self.label, self.value = QLabel(f"look {k + 1}"), QLabel("+0.00")
        self.value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.value.setMinimumWidth(self.value.fontMetrics().horizontalAdvance("+0.00 ") + 2)
        s = self.slider = QSlider(Qt.Orientation.Horizontal)
        s.setRange(-int(SLIDER_RANGE * STEPS_PER_SD), int(SLIDER_RANGE * STEPS_PER_SD))
        s.setSingleStep(STEPS_PER_SD // 10)
        s.setPageStep(STEPS_PER_SD // 2)
        s.setTickPosition(QSlider.TickPosition.TicksBelow)
        s.setTickInterval(STEPS_PER_SD)
        s.sliderPressed.connect(self._on_pressed)
        s.valueChanged.connect(self._on_value)
        s.sliderReleased.connect(looks.end_slider)

    def widgets(self) -> Sequence[QWidget]:
        """Name, slider, value: the columns of its grid row."""
        return (self.label, self.slider, self.value)

    def show_direction(self, basis: Optional[LookBasis], active: bool) -> None:
        """Shown when ``basis`` has a direction k (or no basis: all rows shown, disabled); named."""
        shown = basis is None or self.k < basis.k
        for w in self.widgets():
            w.setVisible(shown)
        self.slider.setEnabled(active)
        if basis is not None and self.k < basis.k:
            self._name(basis)

    def _name(self, basis: LookBasis) -> None:
        """The factor's name for a named direction, else "look n" / "axis n"."""
        i, label = self.k, self.label
        factor = basis.name(i)
        if factor:
            label.setText(f"<b>{factor}</b>")
            label.setToolTip(f"Moves this object's {factor}: a direction fitted on the training crops' recorded "
                             f"'{factor}' (held-out R² {self._r2(basis):.2f}); 1 step = 1 standard deviation "
                             f"({basis.std[i]:.3g} in z)")
            return
        n = i + 1 - sum(1 for j in range(i) if basis.name(j))
        name = "axis" if basis.fallback else "look"
        label.setText(f"{name} {n} <small>({100 * basis.explained[i]:.0f}%)</small>")
        label.setToolTip(f"Direction {n} of this category's appearance: explains {100 * basis.explained[i]:.1f}% "
                         f"of its variance; 1 step = 1 standard deviation ({basis.std[i]:.3g} in z)")

    def _r2(self, basis: LookBasis) -> float:
        """Held-out R² of the named factor of this row (NaN when unknown)."""
        return float("nan") if basis.r2 is None else float(basis.r2[self.k])

    def show_value(self, v: float) -> None:
        """The position ``v`` (sd; shown clamped on the slider, exactly in the number)."""
        v = 0.0 if abs(v) < 0.005 else v  # no "-0.00"
        self.syncing = True
        try:
            if not (self.looks.dragging and self.slider.isSliderDown()):
                self.slider.setValue(to_steps(v))
        finally:
            self.syncing = False
        self.value.setText(f"{v:+.2f}")
        self.value.setToolTip("Beyond the slider's range" if abs(v) > SLIDER_RANGE + 1e-9 else "")

    def _on_pressed(self) -> None:
        uid = self._uid()
        if uid is not None:
            self.looks.begin_slider(uid)

    def _on_value(self, steps: int) -> None:
        uid = self._uid()
        if self.syncing or uid is None:
            return
        value = from_steps(steps)
        self.value.setText(f"{value:+.2f}" if steps else "+0.00")
        if self.slider.isSliderDown() and self.looks.dragging:
            self.looks.preview_slider(self.k, value)
        else:
            self.looks.set_slider(uid, self.k, value)


class SeedBox(QSpinBox):
    """The look's seed ("—": a look not drawn from a seed); a number typed and confirmed gives the
    object the look of that seed (one undo step)."""

    def __init__(self, looks: LookEditor, uid: Uid):
        super().__init__()
        self.looks, self._uid = looks, uid
        self.syncing = False
        self.setRange(-1, SEED_MAX)
        self.setSpecialValueText("—")
        self.setKeyboardTracking(False)  # Enter, focus out or the arrows: not every digit typed
        self.setToolTip("The look's seed: z = sample_z(1, seed). Type a number and press Enter.\n"
                        "\"—\": the look did not come from a seed (a photo, a slider, a paste…)")
        self.valueChanged.connect(self._on_seed)

    def show_object(self, o: Optional[DocObject], active: bool) -> None:
        """Show ``o``'s seed; editable when its look can be steered."""
        self.syncing = True
        try:
            self.setEnabled(active)
            self.setValue(-1 if o is None or o.seed is None else o.seed)
        finally:
            self.syncing = False

    def _on_seed(self, seed: int) -> None:
        uid = self._uid()
        if not self.syncing and uid is not None and seed >= 0:
            self.looks.set_seed(uid, seed)


class LockButton(QToolButton):
    """Locks or unlocks the object's look (one undo step); shows the padlock closed when locked."""

    def __init__(self, looks: LookEditor, uid: Uid):
        super().__init__()
        self.looks, self._uid = looks, uid
        self.syncing = False
        self.setCheckable(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setToolTip("Lock this object's look: re-rolls, pastes and sliders leave it alone")
        self.toggled.connect(self._on_toggled)

    def show_object(self, o: Optional[DocObject]) -> None:
        """Show ``o``'s lock (disabled without an object)."""
        self.syncing = True
        try:
            self.setEnabled(o is not None)
            self.setChecked(bool(o and o.locked))
            self.setText("Locked" if o is not None and o.locked else "Lock")
            self.refresh_icon()
        finally:
            self.syncing = False

    def refresh_icon(self) -> None:
        """The padlock in the current theme's colours."""
        self.setIcon(icon("fa5s.lock" if self.isChecked() else "fa5s.lock-open"))

    def _on_toggled(self, on: bool) -> None:
        uid = self._uid()
        if not self.syncing and uid is not None:
            self.looks.set_lock([uid], on)


def button_row(names: Sequence[str], buttons: Dict[str, QToolButton]) -> QHBoxLayout:
    """A row of tool buttons (bound to the window's actions later: ``AppearancePanel.set_actions``)."""
    row = QHBoxLayout()
    row.setSpacing(4)
    for n in names:
        b = buttons[n] = QToolButton()
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        row.addWidget(b)
    return row


class AppearancePanel(QWidget):
    """Sliders, seed and look buttons for the one selected object."""

    def __init__(self, looks: LookEditor, k: int = DEFAULT_K + MAX_NAMED, parent=None):
        super().__init__(parent)
        self.looks = looks
        self.editor = looks.editor
        self._uid: Optional[int] = None
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.lock_button = LockButton(looks, lambda: self._uid)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.rows = [SliderRow(i, looks, lambda: self._uid) for i in range(k)]
        self.seed = SeedBox(looks, lambda: self._uid)
        self.buttons: Dict[str, QToolButton] = {}
        self._lay_out()
        self.editor.doc.subscribe(self._on_doc)
        self.editor.selection.changed.connect(self.refresh)
        self.refresh()

    def _lay_out(self) -> None:
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.lock_button)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        for i, row in enumerate(self.rows):
            for col, w in enumerate(row.widgets()):
                grid.addWidget(w, i, col)
        grid.setColumnStretch(1, 1)
        seed_row = QHBoxLayout()
        seed_row.addWidget(QLabel("Seed"))
        seed_row.addWidget(self.seed, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(4)
        lay.addLayout(head)
        lay.addWidget(self.note)
        lay.addLayout(grid)
        lay.addLayout(seed_row)
        for names in BUTTONS:
            lay.addLayout(button_row(names, self.buttons))
        lay.addStretch(1)

    @property
    def labels(self) -> List[QLabel]:
        """The sliders' names, in order."""
        return [r.label for r in self.rows]

    @property
    def sliders(self) -> List[QSlider]:
        """The sliders, in order."""
        return [r.slider for r in self.rows]

    @property
    def values(self) -> List[QLabel]:
        """The sliders' numbers, in order."""
        return [r.value for r in self.rows]

    # ---- wiring --------------------------------------------------------------------------------
    def set_actions(self, actions: Dict[str, QAction]) -> None:
        """Bind the buttons to the window's actions (same text, icon, shortcut, enabling)."""
        for name, b in self.buttons.items():
            if name in actions:
                b.setDefaultAction(actions[name])

    def refresh_icons(self) -> None:
        """Icons in the current theme's colours."""
        self.lock_button.refresh_icon()

    def _on_doc(self, event: DocEvent) -> None:
        if event.kind == "geometry" or (event.kind in ("look", "attrs") and self._uid not in event.uids):
            return  # the panel shows no box, nor another object's look
        if event.kind == "look" and self._uid is not None and event.uids == (self._uid,):
            o = self.editor.doc.get(self._uid)  # a slider tick: only the numbers change
            self._show_values(o, self.looks.steerable(o))
        else:
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
        self._show_title(o)
        self.lock_button.show_object(o)
        self._show_note(o, basis)
        active = o is not None and basis is not None and not o.locked
        for row in self.rows:
            row.show_direction(basis, active)
        self._show_values(o, basis)

    def _show_values(self, o: Optional[DocObject], basis: Optional[LookBasis]) -> None:
        """Slider positions, their numbers and the seed (all that a look change alters)."""
        values = self.looks.sliders_of(o.uid) if o is not None and basis is not None else None
        for i, row in enumerate(self.rows):
            row.show_value(0.0 if values is None or i >= len(values) else float(values[i]))
        self.seed.show_object(o, o is not None and basis is not None and not o.locked)

    def _show_title(self, o: Optional[DocObject]) -> None:
        if o is None:
            n = len(self.editor.selection)
            self.title.setText(f"<b>{n} objects selected</b>" if n > 1 else "<b>No object selected</b>")
            return
        r, g, b = category_rgb(o.category)
        i = self.editor.doc.index_of(o.uid) + 1
        self.title.setText(f"<span style='color:rgb({r},{g},{b})'>&#9632;</span> <b>{o.category}</b>"
                           f" <small>(object {i} of {len(self.editor.doc)})</small>")

    def _show_note(self, o: Optional[DocObject], basis: Optional[LookBasis]) -> None:
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
