"""Canvas stacking follows the object list (clicks pick the topmost box after any edit, undo, redo),
the draw tool (boxes over a fully covered canvas), label chips inside the canvas, undo of a delete
bringing the selection back."""

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QTransform
from PySide6.QtTest import QTest

from app.canvas.box_item import BoxItem
from app.canvas.view import SIDE
from layout2im_core.project import load_project
from layout2im_core.resources_path import resources_dir

pytestmark = pytest.mark.gui


def open_beach(editor):
    editor.doc.load_project(load_project(resources_dir() / "layouts" / "beach.json"))
    return {o.category: o.uid for o in editor.doc.objects}


def click(mouse, x, y, modifiers=None):
    p = mouse.at(x, y)
    mouse.drag(p, p, steps=1, modifiers=modifiers)


def assert_stacking_follows_the_list(editor, view):
    """Items' z values follow fusion order, and what the scene draws on top is what a click picks."""
    uids = editor.doc.uids()
    zs = [view.item(u).zValue() for u in uids]
    assert zs == sorted(zs) and len(set(zs)) == len(zs)
    for o in editor.doc.objects:
        cx, cy = (o.bbox[0] + o.bbox[2]) / 2, (o.bbox[1] + o.bbox[3]) / 2
        covering = [u for u in uids if editor.doc.get(u).bbox[0] <= cx <= editor.doc.get(u).bbox[2]
                    and editor.doc.get(u).bbox[1] <= cy <= editor.doc.get(u).bbox[3]]
        drawn = [it for it in view.scene().items(QPointF(cx * SIDE, cy * SIDE), Qt.IntersectsItemShape,
                                                  Qt.DescendingOrder, QTransform()) if isinstance(it, BoxItem)]
        top = view.box_at(view.to_viewport(cx, cy))
        assert top == covering[-1] == drawn[0].uid


def test_beach_moving_the_sea_keeps_the_boat_clickable(canvas):
    editor, view, mouse = canvas
    uid = open_beach(editor)
    a = mouse.at(0.2, 0.5)
    mouse.drag(a, QPointF(a.x(), a.y() + 20))  # drag the sea 20 px down
    assert editor.doc.get(uid["sea"]).bbox[1] > 0.4 and editor.selection.uids == [uid["sea"]]
    boat = editor.doc.get(uid["boat"]).bbox
    click(mouse, (boat[0] + boat[2]) / 2, (boat[1] + boat[3]) / 2)
    assert editor.selection.uids == [uid["boat"]]
    assert_stacking_follows_the_list(editor, view)


def test_stacking_follows_the_list_after_edits_undo_and_redo(canvas):
    editor, view, mouse = canvas
    uid = open_beach(editor)
    assert_stacking_follows_the_list(editor, view)
    steps = [lambda: editor.selection.set([uid["boat"]]) or editor.shift_selected(-1),
             lambda: editor.selection.set([uid["boat"]]) or editor.shift_selected(-1),
             lambda: editor.selection.set([uid["sea"]]) or editor.shift_selected(1),
             lambda: editor.selection.set([uid["sand"]]) or editor.delete_selected(),
             lambda: editor.add_object("sea", (0.1, 0.3, 0.9, 0.9)),
             lambda: editor.selection.set([uid["sky-other"]]) or editor.duplicate_selected(),
             lambda: editor.reorder(list(reversed(editor.doc.uids())))]
    for step in steps:
        step()
        assert_stacking_follows_the_list(editor, view)
    while editor.stack.canUndo():
        editor.stack.undo()
        assert_stacking_follows_the_list(editor, view)
    while editor.stack.canRedo():
        editor.stack.redo()
        assert_stacking_follows_the_list(editor, view)


def test_click_picks_the_topmost_box_even_over_a_selected_one(canvas):
    editor, view, mouse = canvas
    big = editor.add_object("sea", (0.0, 0.0, 1.0, 1.0))
    small = editor.add_object("boat", (0.4, 0.4, 0.6, 0.6))
    editor.selection.set([big])
    click(mouse, 0.5, 0.5)
    assert editor.selection.uids == [small]
    editor.reorder([small, big])  # the boat now fused first: the sea covers it
    click(mouse, 0.5, 0.5)
    assert editor.selection.uids == [big]
    editor.stack.undo()
    click(mouse, 0.5, 0.5)
    assert editor.selection.uids == [small]


def test_draw_tool_draws_over_a_fully_covered_canvas(canvas):
    editor, view, mouse = canvas
    sky = editor.add_object("sky-other", (0.0, 0.0, 1.0, 1.0))
    editor.set_current_category("tree")
    mouse.drag(mouse.at(0.2, 0.2), mouse.at(0.5, 0.6))  # select tool: moves (here: cannot move) the sky
    assert len(editor.doc) == 1 and editor.doc.get(sky).bbox == (0.0, 0.0, 1.0, 1.0)
    seen = []
    view.tool_changed.connect(seen.append)
    view.set_tool("draw")
    assert view.tool == "draw" and seen == ["draw"]
    mouse.drag(mouse.at(0.2, 0.2), mouse.at(0.5, 0.6))
    assert len(editor.doc) == 2
    tree = editor.doc.objects[-1]
    assert tree.category == "tree" and tree.bbox == pytest.approx((0.2, 0.2, 0.5, 0.6), abs=0.01)
    assert editor.doc.get(sky).bbox == (0.0, 0.0, 1.0, 1.0)
    mouse.drag(mouse.at(0.3, 0.3), mouse.at(0.4, 0.4))  # draws over the new tree too
    assert len(editor.doc) == 3
    QTest.keyClick(view, Qt.Key_Escape)
    assert view.tool == "select" and seen == ["draw", "select"]
    mouse.drag(mouse.at(0.7, 0.8), mouse.at(0.9, 0.9))
    assert len(editor.doc) == 3  # select tool again: the drag moved the sky (clamped), drew nothing


def test_draw_tool_in_the_window_shows_in_the_status_bar(make_window, tiny_model):
    w = make_window(tiny_model)
    assert "Select tool" in w.tool_label.text()
    w.editor.set_current_category("tree")
    w.action_set["draw_tool"].trigger()
    assert w.canvas.tool == "draw" and "Draw tool" in w.tool_label.text() and "'tree'" in w.tool_label.text()
    w.editor.set_current_category("sea")
    assert "'sea'" in w.tool_label.text()
    w.canvas.set_tool("select")
    assert not w.action_set["draw_tool"].isChecked() and "Select tool" in w.tool_label.text()


@pytest.mark.parametrize("zoom", [0, -3, 2])
def test_label_chip_stays_inside_the_canvas(canvas, zoom):
    editor, view, mouse = canvas
    for _ in range(abs(zoom)):
        view.zoom_in() if zoom > 0 else view.zoom_out()
    uid = editor.add_object("building-other", (0.3, 0.3, 0.6, 0.6))
    editor.selection.set([uid])
    mouse.drag(mouse.at(0.6, 0.6), mouse.at(1.4, 1.2))        # se corner to the border
    mouse.drag(mouse.at(0.3, 0.3), mouse.at(1.5, 1.5))        # nw corner past the opposite one
    b = editor.doc.get(uid).bbox
    assert b[2] == 1.0 and b[3] == 1.0 and b[2] - b[0] < 0.05
    chip = view.item(uid).chip
    top_left = view.mapFromScene(chip.scenePos())
    right, bottom = top_left.x() + chip.boundingRect().width(), top_left.y() + chip.boundingRect().height()
    corner = view.to_viewport(1.0, 1.0)
    assert right <= corner.x() + 1 and bottom <= corner.y() + 1
    origin = view.to_viewport(0.0, 0.0)
    assert top_left.x() >= origin.x() - 1 and top_left.y() >= origin.y() - 1


def test_undoing_a_delete_selects_the_objects_again(canvas):
    editor, view, mouse = canvas
    a = editor.add_object("sea", (0.1, 0.1, 0.4, 0.4))
    b = editor.add_object("boat", (0.5, 0.5, 0.7, 0.7))
    c = editor.add_object("tree", (0.6, 0.1, 0.9, 0.3))
    editor.selection.set([a, c])
    editor.delete_selected()
    assert editor.doc.uids() == [b] and editor.selection.uids == []
    editor.selection.set([b])
    editor.stack.undo()
    assert editor.doc.uids() == [a, b, c] and sorted(editor.selection.uids) == sorted([a, c])
    editor.stack.redo()
    assert editor.selection.uids == []
    editor.stack.undo()
    assert sorted(editor.selection.uids) == sorted([a, c])


def test_redo_of_an_add_selects_it_again(canvas):
    editor, view, mouse = canvas
    a = editor.add_object("sea", (0.1, 0.1, 0.4, 0.4))
    editor.stack.undo()
    assert editor.selection.uids == []
    editor.stack.redo()
    assert editor.selection.uids == [a]
