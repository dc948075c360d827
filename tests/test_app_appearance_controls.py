"""The appearance panel's controls, each bound both ways to the look editor: showing an object's
state never calls back, and each widget event becomes exactly one look-editor call."""

import pytest

from app.appearance import LookBasis
from app.document import DocObject
from app.panels.appearance import LockButton, SeedBox, SliderRow

pytestmark = pytest.mark.gui


class Looks:
    """Records what the controls ask of the look editor."""

    def __init__(self):
        self.calls, self.dragging = [], False

    def begin_slider(self, uid):
        self.calls.append(("begin", uid))
        self.dragging = True
        return True

    def preview_slider(self, k, value):
        self.calls.append(("preview", k, value))

    def end_slider(self):
        self.calls.append(("end",))
        self.dragging = False
        return True

    def set_slider(self, uid, k, value):
        self.calls.append(("set", uid, k, value))
        return True

    def set_seed(self, uid, seed):
        self.calls.append(("seed", uid, seed))

    def set_lock(self, uids, locked):
        self.calls.append(("lock", list(uids), locked))


def test_slider_row_drags_steps_and_shows(qtbot):
    looks = Looks()
    row = SliderRow(1, looks, lambda: 7)
    qtbot.addWidget(row.slider)
    row.show_direction(LookBasis.unit_axes(8, 4), active=True)
    assert row.label.text().startswith("axis 2") and row.slider.isEnabled()
    row.show_value(-3.5)  # beyond the range: the slider stops at -3, the number says it all
    assert row.slider.value() == -300 and row.value.text() == "-3.50" and looks.calls == []
    row.slider.setSliderDown(True)
    row.slider.setValue(50)
    row.slider.setSliderDown(False)
    assert looks.calls == [("begin", 7), ("preview", 1, 0.5), ("end",)]
    looks.calls.clear()
    row.slider.setValue(60)  # a key or wheel step
    assert looks.calls == [("set", 7, 1, 0.6)] and row.value.text() == "+0.60"
    row.show_direction(LookBasis.unit_axes(8, 1), active=False)
    assert row.label.isHidden() and row.slider.isHidden()


def test_seed_box_sets_a_seed_and_shows_none_as_a_dash(qtbot):
    looks = Looks()
    box = SeedBox(looks, lambda: 3)
    qtbot.addWidget(box)
    box.show_object(DocObject(3, "sky", (0, 0, 1, 1), (0.0,) * 4, seed=99), active=True)
    assert box.value() == 99 and box.isEnabled() and looks.calls == []
    box.show_object(None, active=False)
    assert box.text() == "—" and not box.isEnabled()
    box.setEnabled(True)
    box.setValue(42)
    assert looks.calls == [("seed", 3, 42)]


def test_lock_button_locks_and_shows_the_lock(qtbot):
    looks = Looks()
    button = LockButton(looks, lambda: 5)
    qtbot.addWidget(button)
    button.show_object(DocObject(5, "sea", (0, 0, 1, 1), locked=True))
    assert button.isChecked() and button.text() == "Locked" and looks.calls == []
    button.show_object(DocObject(5, "sea", (0, 0, 1, 1)))
    button.click()
    assert looks.calls == [("lock", [5], True)]
    button.show_object(None)
    assert not button.isEnabled()
