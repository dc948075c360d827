"""Canvas editing with real mouse events on the viewport: draw, move, 8 handles, clamping, minimum
size, multi-select, keyboard, zoom, drop from the palette."""

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtTest import QTest

from app.canvas.handles import HANDLES, MIN_SIZE, handle_points
from app.canvas.view import CATEGORY_MIME, DROP_SIZE
from app.editor import NUDGE

pytestmark = pytest.mark.gui


def add_box(editor, bbox=(0.3, 0.3, 0.6, 0.6), category="sea"):
    uid = editor.add_object(category, bbox)
    editor.selection.set([uid])
    return uid


def approx(b, tol=1e-9):
    return pytest.approx(b, abs=tol)


def test_draw_on_empty_canvas_adds_box_of_current_category(canvas):
    editor, view, mouse = canvas
    a, b = mouse.at(0.1, 0.2), mouse.at(0.4, 0.5)
    mouse.drag(a, b)
    (obj,) = editor.doc.objects
    x0, y0 = view.to_norm(a)
    x1, y1 = view.to_norm(b)
    assert obj.category == "sky" and obj.bbox == approx((x0, y0, x1, y1))
    assert editor.selection.uids == [obj.uid]
    assert editor.recent[0] == "sky"


def test_click_on_empty_canvas_adds_nothing_and_clears_selection(canvas):
    editor, view, mouse = canvas
    add_box(editor)
    p = mouse.at(0.1, 0.1)
    mouse.drag(p, p, steps=1)
    assert len(editor.doc) == 1 and editor.selection.uids == []


def test_move_box_by_drag_is_one_undo_step(canvas):
    editor, view, mouse = canvas
    uid = add_box(editor)
    depth = editor.stack.count()
    a, b = mouse.at(0.45, 0.45), mouse.at(0.55, 0.40)
    mouse.drag(a, b, steps=8)
    dx = view.to_norm(b)[0] - view.to_norm(a)[0]
    dy = view.to_norm(b)[1] - view.to_norm(a)[1]
    assert editor.doc.get(uid).bbox == approx((0.3 + dx, 0.3 + dy, 0.6 + dx, 0.6 + dy))
    assert editor.stack.count() == depth + 1
    editor.stack.undo()
    assert editor.doc.get(uid).bbox == approx((0.3, 0.3, 0.6, 0.6))
    editor.stack.redo()
    assert editor.doc.get(uid).bbox == approx((0.3 + dx, 0.3 + dy, 0.6 + dx, 0.6 + dy))


@pytest.mark.parametrize("handle", HANDLES)
def test_each_handle_moves_its_edges(canvas, handle):
    editor, view, mouse = canvas
    uid = add_box(editor)
    hx, hy = handle_points((0.3, 0.3, 0.6, 0.6))[handle]
    a = mouse.at(hx, hy)
    b = QPointF(a.x() + 21, a.y() + 13)
    mouse.drag(a, b)
    dx = view.to_norm(b)[0] - view.to_norm(a)[0]
    dy = view.to_norm(b)[1] - view.to_norm(a)[1]
    want = [0.3, 0.3, 0.6, 0.6]
    if "w" in handle:
        want[0] += dx
    if "e" in handle:
        want[2] += dx
    if "n" in handle:
        want[1] += dy
    if "s" in handle:
        want[3] += dy
    assert editor.doc.get(uid).bbox == approx(tuple(want))
    editor.stack.undo()
    assert editor.doc.get(uid).bbox == approx((0.3, 0.3, 0.6, 0.6))


def test_handle_hit_zone_is_in_screen_pixels_at_any_zoom(canvas):
    editor, view, mouse = canvas
    add_box(editor)
    for _ in range(3):
        view.zoom_in()
    p = view.to_viewport(0.6, 0.6)
    assert view.handle_at(QPointF(p.x() + 4, p.y() + 4))[1] == "se"
    assert view.handle_at(QPointF(p.x() + 9, p.y() + 9)) is None


def test_move_clamps_at_the_borders(canvas):
    editor, view, mouse = canvas
    uid = add_box(editor)
    mouse.drag(mouse.at(0.45, 0.45), mouse.at(1.3, -0.4))
    assert editor.doc.get(uid).bbox == approx((0.7, 0.0, 1.0, 0.3))


def test_resize_clamps_at_border_and_minimum_size(canvas):
    editor, view, mouse = canvas
    uid = add_box(editor)
    mouse.drag(mouse.at(0.6, 0.6), mouse.at(1.4, 1.2))  # se corner far outside
    assert editor.doc.get(uid).bbox == approx((0.3, 0.3, 1.0, 1.0))
    mouse.drag(mouse.at(0.3, 0.3), mouse.at(1.5, 1.5))  # nw corner past the opposite corner
    assert editor.doc.get(uid).bbox == approx((1.0 - MIN_SIZE, 1.0 - MIN_SIZE, 1.0, 1.0))
    assert editor.stack.count() == 3  # add + two resizes


def test_multi_select_and_move_together(canvas):
    editor, view, mouse = canvas
    a = add_box(editor, (0.1, 0.1, 0.2, 0.2))
    b = add_box(editor, (0.5, 0.5, 0.7, 0.7))
    editor.selection.clear()
    mouse.drag(mouse.at(0.15, 0.15), mouse.at(0.15, 0.15), steps=1)
    mouse.drag(mouse.at(0.6, 0.6), mouse.at(0.6, 0.6), steps=1, modifiers=Qt.ControlModifier)
    assert set(editor.selection.uids) == {a, b}
    mouse.drag(mouse.at(0.6, 0.6), mouse.at(0.9, 0.6))  # clamped: b reaches the right border
    assert 0.29 < editor.doc.get(b).bbox[0] - 0.5 and editor.doc.get(b).bbox[2] <= 1.0
    shift = editor.doc.get(b).bbox[0] - 0.5
    assert editor.doc.get(a).bbox == approx((0.1 + shift, 0.1, 0.2 + shift, 0.2))


def test_band_select_with_shift_drag(canvas):
    editor, view, mouse = canvas
    a = add_box(editor, (0.1, 0.1, 0.2, 0.2))
    add_box(editor, (0.5, 0.5, 0.7, 0.7))
    editor.selection.clear()
    mouse.drag(mouse.at(0.05, 0.05), mouse.at(0.3, 0.3), modifiers=Qt.ShiftModifier)
    assert editor.selection.uids == [a] and len(editor.doc) == 2


def test_keyboard_nudge_tab_escape(canvas, qtbot):
    editor, view, mouse = canvas
    a = add_box(editor, (0.1, 0.1, 0.2, 0.2))
    b = add_box(editor, (0.5, 0.5, 0.7, 0.7))
    view.setFocus()
    QTest.keyClick(view, Qt.Key_Right)
    QTest.keyClick(view, Qt.Key_Down, Qt.ShiftModifier)
    assert editor.doc.get(b).bbox == approx((0.5 + NUDGE, 0.5 + 10 * NUDGE, 0.7 + NUDGE, 0.7 + 10 * NUDGE))
    QTest.keyClick(view, Qt.Key_Tab)
    assert editor.selection.uids == [a]
    QTest.keyClick(view, Qt.Key_Left)  # clamped at the border after 0.1 / NUDGE steps only
    assert editor.doc.get(a).bbox[0] == pytest.approx(0.1 - NUDGE)
    QTest.keyClick(view, Qt.Key_Escape)
    assert editor.selection.uids == []


def test_escape_cancels_a_drag(canvas):
    editor, view, mouse = canvas
    uid = add_box(editor)
    mouse.send("press", mouse.at(0.45, 0.45))
    mouse.send("move", mouse.at(0.8, 0.8))
    assert editor.doc.get(uid).bbox != approx((0.3, 0.3, 0.6, 0.6))
    assert view.cancel_drag()
    mouse.send("release", mouse.at(0.8, 0.8))
    assert editor.doc.get(uid).bbox == approx((0.3, 0.3, 0.6, 0.6))
    assert editor.stack.count() == 1


def test_zoom_keeps_editing_exact(canvas):
    editor, view, mouse = canvas
    view.zoom_in()
    view.zoom_in()
    scale = view.transform().m11()
    uid = add_box(editor, (0.4, 0.4, 0.5, 0.5))
    a, b = mouse.at(0.45, 0.45), mouse.at(0.47, 0.46)
    mouse.drag(a, b)
    dx = view.to_norm(b)[0] - view.to_norm(a)[0]
    assert editor.doc.get(uid).bbox[0] == pytest.approx(0.4 + dx)
    view.fit()
    assert view.transform().m11() < scale


def test_drop_category_adds_box_centred_where_dropped(canvas):
    editor, view, mouse = canvas
    mime = QMimeData()
    mime.setData(CATEGORY_MIME, b"boat")
    pos = mouse.at(0.3, 0.7)
    assert mouse.drop(mime, pos)
    (obj,) = editor.doc.objects
    cx, cy = view.to_norm(pos)
    h = DROP_SIZE / 2
    assert obj.category == "boat" and obj.bbox == approx((cx - h, cy - h, cx + h, cy + h))
    editor.stack.undo()
    assert len(editor.doc) == 0


def test_drop_near_border_stays_inside(canvas):
    editor, view, mouse = canvas
    mime = QMimeData()
    mime.setData(CATEGORY_MIME, b"boat")
    mouse.drop(mime, mouse.at(0.99, 0.01))
    (obj,) = editor.doc.objects
    assert obj.bbox == approx((1 - DROP_SIZE, 0.0, 1.0, DROP_SIZE))


def test_foreign_drop_is_ignored(canvas):
    editor, view, mouse = canvas
    mime = QMimeData()
    mime.setText("hello")
    mouse.drop(mime, mouse.at(0.5, 0.5))
    assert len(editor.doc) == 0


def test_lost_release_ends_the_drag_as_one_step(canvas):
    editor, view, mouse = canvas
    uid = add_box(editor)
    mouse.send("press", mouse.at(0.45, 0.45))
    mouse.send("move", mouse.at(0.55, 0.45))
    mouse.send("move", mouse.at(0.6, 0.45), button=Qt.NoButton)  # the release went to a popup
    assert view._drag is None and editor.stack.count() == 2
    assert editor.doc.get(uid).bbox[0] > 0.3


def test_palette_search_enter_and_double_click(qtbot):
    from app.panels.palette import Palette
    pal = Palette()
    qtbot.addWidget(pal)
    pal.set_categories(["sky-other", "sea", "sand", "boat"])
    picked, added = [], []
    pal.category_picked.connect(picked.append)
    pal.category_activated.connect(added.append)
    pal.search.setText("SA")
    assert pal.proxy.rowCount() == 1
    QTest.keyClick(pal.search, Qt.Key_Return)
    assert picked == ["sand"] and added == []
    mime = pal.model.mimeData([pal.model.item(3).index()])
    assert bytes(mime.data(CATEGORY_MIME)) == b"boat"
    pal.list.activated.emit(pal.proxy.index(0, 0))
    assert added == ["sand"]
