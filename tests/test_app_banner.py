"""The banner above the image: failures and trained-range warnings said once, non-modal, objects
numbered as the object list numbers them; untrained categories warned and marked; real render
times."""

import re

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.layout_checks import ModelLimits, check_layout
from app.main_window import format_ms
from app.panels.palette import UNTRAINED_ROLE

pytestmark = pytest.mark.gui

TRAINED = ("sky-other", "sea", "sand", "boat", "tree", "grass")


def wait_image(qtbot, w, timeout=20000):
    qtbot.waitUntil(lambda: not w._render_timer.isActive() and not w.client.busy, timeout=timeout)
    return w.last_result


class Wrapped:
    """The tiny model with other facts: trained on ``trained`` only; renders fail when ``fail_on``
    is among the categories."""

    def __init__(self, model, trained=None, fail_on=None):
        self._m, self._trained, self._fail_on = model, trained, fail_on

    def __getattr__(self, name):
        return getattr(self._m, name)

    @property
    def trained_categories(self):
        return list(self._trained) if self._trained else self._m.trained_categories

    def generate(self, layout, seed=None):
        if self._fail_on and any(o.category == self._fail_on for o in layout.objects):
            raise RuntimeError(f"cannot draw {self._fail_on} (simulated)")
        return self._m.generate(layout, seed)


def test_too_many_objects_is_one_banner_line_and_keeps_the_last_image(make_window, tiny_model, qtbot, dialogs):
    w = make_window(tiny_model)
    limit = tiny_model.config.max_objects
    rng = np.random.default_rng(0)

    def add():
        x, y = rng.uniform(0, 0.7, 2)
        w.editor.add_object("sea", (x, y, x + 0.3, y + 0.3))

    for _ in range(limit):
        add()
    good = wait_image(qtbot, w)
    shown = w.image_view.image.copy()
    requests = w.client._next_id
    for _ in range(limit + 12):  # each add is an edit that used to open a modal "Rendering failed" box
        add()
        qtbot.wait(1)
    wait_image(qtbot, w)
    text = w.banner.text()
    assert dialogs.errors == [] and w.banner.isVisibleTo(w)
    assert text.count(f"renders at most {limit}") == 1 and f"{2 * limit + 12} objects" in text
    assert w.client._next_id == requests  # the model was not even asked
    assert w.last_result is good and w.image_view.image == shown
    while len(w.editor.doc) > limit:
        w.editor.stack.undo()
    wait_image(qtbot, w)
    assert "renders at most" not in w.banner.text()


def test_render_failure_keeps_the_last_good_image(make_window, tiny_model, qtbot, dialogs):
    w = make_window(Wrapped(tiny_model, fail_on="boat"))
    w.editor.add_object("sea", (0, 0.4, 1, 1))
    good = wait_image(qtbot, w)
    shown = w.image_view.image.copy()
    uid = w.editor.add_object("boat", (0.3, 0.3, 0.6, 0.6))
    for _ in range(4):
        w.editor.selection.set([uid])
        w.editor.nudge_selected(1, 0)
        wait_image(qtbot, w)
    assert dialogs.errors == []
    assert w.banner.text().count("Rendering failed") == 1 and "cannot draw boat" in w.banner.text()
    assert "showing the last image" in w.banner.text()
    assert w.last_result is good and w.image_view.image == shown
    w.editor.delete_selected()
    assert wait_image(qtbot, w) is not good and "Rendering failed" not in w.banner.text()


def test_warnings_number_objects_as_the_object_list_does(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    w.editor.add_object("sky-other", (0, 0, 1, 0.5))
    w.editor.add_object("unicorn", (0, 0.5, 1, 1))      # unknown to the model: listed, not rendered
    w.editor.add_object("boat", (0.4, 0.4, 0.5, 0.5))   # 1% of the image
    wait_image(qtbot, w)
    text = w.banner.text()
    assert re.search(r"2% of the image.*: #3 boat", text) and "#2 unicorn" in text
    assert w.object_list.item(2).text().startswith("3. boat")
    assert w.object_list.item(1).text().startswith("2. unicorn")


def test_untrained_categories_are_warned_and_marked(make_window, tiny_model, qtbot, dialogs):
    w = make_window(Wrapped(tiny_model, trained=TRAINED))
    pal = w.palette_panel
    assert pal.categories == list(TRAINED) and not pal.is_marked_untrained("giraffe")
    pal.search.setText("gira")  # a search looks in every category
    assert "giraffe" in pal.categories and pal.is_marked_untrained("giraffe")
    (row,) = [pal.proxy.index(r, 0) for r in range(pal.proxy.rowCount()) if pal.proxy.index(r, 0).data() == "giraffe"]
    assert row.data(UNTRAINED_ROLE) and "not trained" in row.data(Qt.ToolTipRole) and row.data(Qt.FontRole).italic()
    pal.search.clear()
    assert "giraffe" not in pal.categories
    pal.show_all.setChecked(True)
    assert pal.is_marked_untrained("giraffe") and not pal.is_marked_untrained("sea")
    w.editor.add_object("sea", (0, 0.4, 1, 1))
    w.editor.add_object("giraffe", (0.3, 0.2, 0.6, 0.8))
    wait_image(qtbot, w)
    assert "not trained on (drawn poorly): #2 giraffe" in w.banner.text()
    assert "not trained on" in w.object_list.item(1).text() and "not trained" not in w.object_list.item(0).text()
    assert w.canvas.item(w.editor.doc.uids()[1]).toolTip().endswith("drawn poorly")
    assert w.last_result is not None and dialogs.errors == []  # warned, still rendered


def test_check_layout_lines():
    class Obj:
        def __init__(self, category, bbox, z=None):
            self.category, self.bbox, self.z = category, bbox, z

    limits = ModelLimits(frozenset({"sea", "boat", "giraffe"}), frozenset({"sea", "boat"}), max_objects=3,
                         trained_max_objects=2, z_dim=4)
    objs = [Obj("sea", (0, 0, 1, 1), (0.0,) * 4), Obj("x", (0, 0, 1, 1)), Obj("giraffe", (0, 0, 0.1, 0.1), (0.0,) * 3)]
    check = check_layout(objs, limits)
    assert check.blocking is None
    assert check.notes == ["labels unknown to this model (kept, not rendered): #2 x",
                           "categories this model was not trained on (drawn poorly): #3 giraffe",
                           "boxes under 2% of the image (outside the trained range): #3 giraffe",
                           "looks (z) made for another model, drawn with a random look: #3 giraffe"]
    many = check_layout([Obj("sea", (0, 0, 1, 1))] * 10, limits)
    assert many.blocking.startswith("10 objects: this model renders at most 3")
    assert "10 objects: this model was trained with at most 2" in many.notes
    assert check_layout([Obj("sea", (0, 0, 1, 1))] * 10, ModelLimits(frozenset({"sea"}))).blocking is None


def test_render_time_is_never_a_bare_zero(make_window, tiny_model, qtbot):
    assert [format_ms(v) for v in (0.0, 0.04, 0.4, 3.26, 9.96, 152.4)] == \
        ["<0.1 ms", "<0.1 ms", "0.4 ms", "3.3 ms", "10 ms", "152 ms"]
    w = make_window(tiny_model)
    uid = w.editor.add_object("sea", (0, 0.4, 1, 1))
    first = wait_image(qtbot, w)
    label = w.render_label.text()
    asked = w.client._next_id
    for _ in range(3):  # changes that leave the rendered layout as it is: no render, the time stays
        w.editor.selection.set([uid])
        w.editor.toggle_lock_selected()
        wait_image(qtbot, w)
    assert w.client._next_id == asked and w.last_result is first and w.render_label.text() == label
    assert re.fullmatch(r"Render: \d+(\.\d)? ms", label) and label != "Render: 0 ms"
