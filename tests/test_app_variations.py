"""The variation grid: objects x samples (rows = selected or unlocked objects, columns = samples of that
object's z with the rest held, a click applies one tile, undoable) and the whole-layout grid."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from layout2im_core.types import LayoutSpec

pytestmark = pytest.mark.gui


def bits(z):
    return np.float32(z).view(np.uint32)


def scene(w):
    ed = w.editor
    for cat, box in (("sky-other", (0.0, 0.0, 1.0, 0.45)), ("sea", (0.0, 0.45, 1.0, 1.0)),
                     ("boat", (0.3, 0.35, 0.6, 0.6)), ("tree", (0.7, 0.1, 0.9, 0.5))):
        ed.add_object(cat, box)
    return ed.doc.uids()


def state(ed):
    return {o.uid: o.z for o in ed.doc.objects}


def open_grid(w, qtbot, mode="objects", cols=4):
    dlg = w.show_variations()
    dlg.cols.setValue(cols)
    dlg.set_mode(mode)
    dlg.resample()
    qtbot.waitUntil(lambda: dlg.ready, timeout=20000)
    return dlg


def test_rows_are_the_selected_objects_and_columns_their_samples(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    uids = scene(w)
    ed = w.editor
    ed.selection.set([uids[3], uids[1]])  # tree and sea, shown in fusion order
    before = state(ed)
    dlg = open_grid(w, qtbot)
    res = dlg.shown
    assert dlg.mode_key == "objects" and (res.rows, res.cols) == (2, 4) and len(dlg.cells) == 8
    assert res.labels == ("#2 sea", "#4 tree") and res.images.shape == (8, 64, 64, 3)
    layout = ed.doc.to_layout(ed.known, tiny_model.z_dim).layout
    expected = []
    for i, (cell_uids, looks) in enumerate(res.cells):
        row_uid = (uids[1], uids[3])[i // 4]
        assert cell_uids == (row_uid,)
        (z, seed), = looks
        assert np.array_equal(bits(z), bits(tiny_model.sample_z(1, seed)[0]))
        # the tile is the layout with only that object's z replaced: the rest held
        objs = list(layout.objects)
        k = ed.doc.uids().index(row_uid)
        objs[k] = objs[k].with_z(z)
        expected.append(LayoutSpec(tuple(objs)))
    assert np.array_equal(tiny_model.generate_batch(expected, seed=0), res.images)
    row0 = res.images[:4].reshape(4, -1)
    assert len({r.tobytes() for r in row0}) == 4  # four different samples in a row
    assert state(ed) == before  # looking changes nothing


def test_clicking_a_tile_applies_that_objects_look_one_undo_step(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    uids = scene(w)
    ed = w.editor
    ed.selection.set([uids[1], uids[2]])
    before = state(ed)
    dlg = open_grid(w, qtbot)
    depth = ed.stack.count()
    qtbot.mouseClick(dlg.cells[6], Qt.LeftButton)  # row 2 (the boat), sample 3
    (uid,), ((z, seed),) = dlg.shown.cells[6]
    assert uid == uids[2] and ed.stack.count() == depth + 1
    assert ed.doc.get(uid).z == z and ed.doc.get(uid).seed == seed
    assert all(ed.doc.get(u).z == before[u] for u in uids if u != uid)
    assert dlg.cells[6].isChecked() and not dlg.cells[5].isChecked()
    qtbot.waitUntil(lambda: not w._render_timer.isActive() and not w.client.busy, timeout=20000)
    shown = w.last_result.image.astype(float)
    dist = [np.abs(shown - tile.astype(float)).mean() for tile in dlg.shown.images[4:8]]
    assert np.argmin(dist) == 2 and dist[2] < 0.5  # the main image shows that tile (float rounding aside)
    dlg.pick(1)  # the sea's sample 2: another step, the boat keeps its pick
    assert ed.doc.get(uids[1]).z == dlg.shown.cells[1][1][0][0] and ed.doc.get(uid).z == z
    assert dlg.cells[1].isChecked() and dlg.cells[6].isChecked()
    ed.stack.undo()
    ed.stack.undo()
    assert state(ed) == before
    dlg.close()


def test_without_a_selection_the_rows_are_the_unlocked_objects(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    uids = scene(w)
    ed = w.editor
    ed.selection.set([uids[0]])
    ed.toggle_lock_selected()
    ed.selection.clear()
    dlg = open_grid(w, qtbot, cols=3)
    assert dlg.shown.labels == ("#2 sea", "#3 boat", "#4 tree") and len(dlg.cells) == 9
    assert "1 locked" not in dlg.status.text()
    ed.selection.set([uids[0], uids[2]])  # a locked one among the selected: left out, said so
    dlg.resample()
    qtbot.waitUntil(lambda: dlg.ready, timeout=20000)
    assert dlg.shown.labels == ("#3 boat",) and "1 locked object(s) left out" in dlg.status.text()
    ed.selection.set([uids[0]])
    dlg.resample()
    assert "locked" in dlg.status.text() and dlg.shown is None


def test_whole_layout_grid_stays_as_a_second_mode(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    uids = scene(w)
    ed = w.editor
    ed.selection.set([uids[0]])
    ed.toggle_lock_selected()
    before = state(ed)
    dlg = open_grid(w, qtbot, mode="layout", cols=3)
    res = dlg.shown
    assert dlg.mode_key == "layout" and res.images.shape == (9, 64, 64, 3) and not any(res.labels)
    assert res.uids == tuple(uids[1:]), "the locked sky is fixed"
    assert not np.array_equal(res.images[0], res.images[1])
    depth = ed.stack.count()
    qtbot.mouseClick(dlg.cells[4], Qt.LeftButton)
    assert ed.stack.count() == depth + 1
    for u, (z, seed) in zip(*res.cells[4]):
        assert ed.doc.get(u).z == z and ed.doc.get(u).seed == seed
    assert ed.doc.get(uids[0]).z == before[uids[0]]
    ed.stack.undo()
    assert state(ed) == before
    dlg.close()


def test_object_grid_caps_its_rows_and_says_why_it_cannot_render(make_window, tiny_model, qtbot, monkeypatch):
    import app.variation_grid as vg
    monkeypatch.setattr(vg, "MAX_OBJECT_ROWS", 3)
    w = make_window(tiny_model)
    for i in range(5):
        w.editor.add_object("sea", (0.1 * i, 0.0, 0.1 * i + 0.3, 0.3))
    w.editor.selection.clear()
    dlg = open_grid(w, qtbot, cols=2)
    assert dlg.shown.rows == 3 and "first 3 of 5 objects" in dlg.status.text()
    for i in range(tiny_model.config.max_objects):  # more than the model takes: said, not rendered
        w.editor.add_object("tree", (0.05 * i, 0.5, 0.05 * i + 0.2, 0.7))
    dlg.resample()
    assert dlg.shown is None and f"renders at most {tiny_model.config.max_objects}" in dlg.status.text()
