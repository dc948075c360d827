"""Every edit is undoable and redoable (snapshot before == after undo, after == after redo), and the
document model behaves (order, categories, clipboard, recent categories)."""

import pytest

from app.document import DocObject, Document
from app.editor import Editor

pytestmark = pytest.mark.gui


def snap(doc):
    return tuple((o.uid, o.category, o.bbox, o.z, o.locked) for o in doc.objects)


@pytest.fixture
def editor(qapp):
    ed = Editor()
    zs = iter(range(1000))
    ed.look_source = lambda n: [(tuple(float(next(zs)) for _ in range(4)), None) for _ in range(n)]
    ed.add_object("sky", (0.0, 0.0, 1.0, 0.4))
    ed.add_object("sea", (0.0, 0.4, 1.0, 1.0))
    ed.add_object("boat", (0.3, 0.35, 0.5, 0.55))
    return ed


def select(ed, *idx):
    ed.selection.set([ed.doc.uids()[i] for i in idx])


ACTIONS = {
    "add": lambda ed: ed.add_object("tree", (0.1, 0.1, 0.3, 0.5)),
    "delete": lambda ed: (select(ed, 0, 2), ed.delete_selected()),
    "duplicate": lambda ed: (select(ed, 2), ed.duplicate_selected()),
    "paste": lambda ed: (select(ed, 1, 2), ed.copy_selected(), ed.paste()),
    "nudge": lambda ed: (select(ed, 2), ed.nudge_selected(1, -1, big=True)),
    "category": lambda ed: (select(ed, 2), ed.set_category_of_selected("person")),
    "lock": lambda ed: (select(ed, 1, 2), ed.toggle_lock_selected()),
    "reorder": lambda ed: ed.reorder(list(reversed(ed.doc.uids()))),
    "fuse_later": lambda ed: (select(ed, 0), ed.shift_selected(1)),
    "fuse_earlier": lambda ed: (select(ed, 2), ed.shift_selected(-1)),
    "set_z": lambda ed: ed.set_z(ed.doc.uids()[1], (9.0, 8.0, 7.0, 6.0)),
    "drag": lambda ed: (ed.preview_bboxes({ed.doc.uids()[2]: (0.5, 0.5, 0.7, 0.7)}),
                        ed.preview_bboxes({ed.doc.uids()[2]: (0.6, 0.6, 0.8, 0.8)}),
                        ed.commit_bboxes({ed.doc.uids()[2]: (0.3, 0.35, 0.5, 0.55)}, "Move")),
}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_undo_redo_of_every_action(editor, name):
    before = snap(editor.doc)
    depth = editor.stack.count()
    ACTIONS[name](editor)
    after = snap(editor.doc)
    assert after != before, name
    assert editor.stack.count() == depth + 1, "one user action = one undo step"
    editor.stack.undo()
    assert snap(editor.doc) == before
    editor.stack.redo()
    assert snap(editor.doc) == after
    editor.stack.undo()
    editor.stack.undo()
    editor.stack.redo()
    editor.stack.redo()
    assert snap(editor.doc) == after


def test_undo_has_no_small_limit(editor):
    uid = editor.doc.uids()[2]
    editor.selection.set([uid])
    for _ in range(150):
        editor.nudge_selected(0, 1)
        editor.nudge_selected(0, -1)
    assert editor.stack.count() == 303
    while editor.stack.canUndo():
        editor.stack.undo()
    assert len(editor.doc) == 0


def test_duplicate_and_paste_keep_look_and_land_offset(editor):
    select(editor, 2)
    boat = editor.doc.objects[2]
    (dup,) = editor.duplicate_selected()
    d = editor.doc.get(dup)
    assert d.z == boat.z and d.category == "boat" and d.bbox[0] > boat.bbox[0]
    editor.copy_selected()
    p1 = editor.paste()
    p2 = editor.paste()
    assert editor.doc.get(p2[0]).bbox[0] > editor.doc.get(p1[0]).bbox[0]
    assert editor.selection.uids == p2


def test_nothing_selected_makes_no_step(editor):
    editor.selection.clear()
    depth = editor.stack.count()
    editor.delete_selected()
    editor.duplicate_selected()
    editor.nudge_selected(1, 0)
    editor.toggle_lock_selected()
    editor.set_category_of_selected("tree")
    assert editor.stack.count() == depth


def test_recent_categories_and_number_keys(editor):
    assert editor.recent[:3] == ["boat", "sea", "sky"]
    editor.pick_recent(2)
    assert editor.current_category == "sky"
    editor.pick_recent(8)  # no 9th category: nothing happens
    assert editor.current_category == "sky"


def test_cycle_selection(editor):
    uids = editor.doc.uids()
    editor.selection.clear()
    editor.cycle_selection()
    assert editor.selection.uids == [uids[0]]
    editor.cycle_selection(-1)
    assert editor.selection.uids == [uids[-1]]


def test_document_layout_skips_unknown_and_wrong_z():
    doc = Document()
    doc.reset([DocObject(1, "sky", (0, 0, 1, 0.5), (0.5,) * 4),
               DocObject(2, "unicorn", (0.1, 0.1, 0.3, 0.3)),
               DocObject(3, "sea", (0, 0.5, 1, 1), (0.25,) * 8)])
    build = doc.to_layout(known={"sky", "sea"}, z_dim=4)
    assert [o.category for o in build.layout.objects] == ["sky", "sea"]
    assert build.unknown == (2,) and build.z_mismatch == (3,)
    assert build.layout.objects[1].z is None and build.layout.objects[0].z == (0.5,) * 4
    assert len(doc.to_layout().layout) == 3


def test_events_only_for_a_real_change_naming_the_changed_objects(editor):
    doc = editor.doc
    events = []
    doc.subscribe(lambda ev: events.append((ev.kind, ev.uids)))
    a, b, c = doc.objects
    doc.replace([a, b])  # the same objects
    doc.set_order(doc.uids())
    doc.remove([-1])
    doc.insert([])
    editor.commit_bboxes({b.uid: b.bbox}, "Move")  # a drag that went nowhere
    assert events == [] and editor.stack.count() == 3
    doc.replace([a, b.with_(bbox=(0.1, 0.4, 1.0, 1.0)), c])
    doc.replace([c.with_(locked=True), a])
    doc.replace([a.with_(z=(9.0,) * 4)])
    assert events == [("geometry", (b.uid,)), ("attrs", (c.uid,)), ("look", (a.uid,))]


def test_a_drag_release_sends_no_event_and_views_redraw_only_what_changed(editor, qtbot):
    from app.canvas.view import CanvasView
    from app.panels.object_list import ObjectList
    view, rows = CanvasView(editor), ObjectList(editor)
    qtbot.addWidget(view)
    qtbot.addWidget(rows)
    view.refresh()
    rows.rebuild()
    full = []
    view.refresh = lambda: full.append("canvas")
    rows.rebuild = lambda: full.append("list")
    events = []
    editor.doc.subscribe(lambda ev: events.append(ev.kind))
    a, b, _ = editor.doc.objects
    editor.preview_bboxes({b.uid: (0.1, 0.5, 0.9, 0.9)})  # a drag in progress
    assert view.item(b.uid).rect().top() == pytest.approx(0.5 * 512) and events == ["geometry"]
    assert editor.commit_bboxes({b.uid: b.bbox}, "Move") and events == ["geometry"]  # release: no event
    editor.set_category_of_selected("tree")  # nothing selected: no change
    editor.selection.set([a.uid])
    editor.set_category_of_selected("tree")
    assert rows.item(0).text() == "1. tree" and "tree" in view.item(a.uid).toolTip()
    editor.stack.undo()
    assert rows.item(0).text() == "1. sky" and view.item(a.uid).toolTip() == "sky" and full == []
    editor.shift_selected(1)
    assert full == ["canvas", "list"]
