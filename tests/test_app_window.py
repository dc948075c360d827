"""The whole window with a tiny random model: palette drop, live images, actions, flags, guard rails."""

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QAction, QPalette

from layout2im_core.project import Project, ProjectObject, save_project

pytestmark = pytest.mark.gui


def wait_image(qtbot, w, timeout=20000):
    """Wait until the newest requested render is on screen."""
    qtbot.waitUntil(lambda: not w._render_timer.isActive() and not w.client.busy, timeout=timeout)
    return w.last_result


def test_model_fills_palette_status_and_title(make_window, tiny_model):
    w = make_window(tiny_model)
    assert w.palette_panel.categories == tiny_model.categories
    assert "random" in w.model_label.text() and "CPU" in w.device_label.text()
    assert tiny_model.precision in w.device_label.text()  # "Device: CPU · fp32", why in the tooltip
    assert w.device_label.toolTip() == tiny_model.precision_reason != ""
    assert w.windowTitle() == "Untitled — Layout2Im Studio"
    assert w.editor.current_category == tiny_model.categories[0]


def test_palette_drop_adds_box_and_image_follows(make_window, tiny_model, qtbot):
    from conftest import Mouse
    w = make_window(tiny_model)
    item = w.palette_panel.model.findItems("boat", Qt.MatchExactly)[0]
    mime = w.palette_panel.model.mimeData([item.index()])
    mouse = Mouse(w.canvas)
    pos = mouse.at(0.5, 0.6)
    assert mouse.drop(mime, pos)
    (obj,) = w.editor.doc.objects
    cx, cy = w.canvas.to_norm(pos)
    assert obj.category == "boat"
    assert ((obj.bbox[0] + obj.bbox[2]) / 2, (obj.bbox[1] + obj.bbox[3]) / 2) == pytest.approx((cx, cy))
    assert obj.z is not None and len(obj.z) == tiny_model.z_dim
    first = wait_image(qtbot, w)
    assert first is not None and w.image_view.image is not None
    assert w.windowTitle().startswith("Untitled*")
    assert "Render:" in w.render_label.text()
    # the image follows a drag of the box
    mouse.drag(mouse.at(cx, cy), mouse.at(cx - 0.3, cy - 0.3))
    second = wait_image(qtbot, w)
    assert second.request_id > first.request_id
    assert not np.array_equal(first.image, second.image)


def test_window_actions_are_undoable(make_window, tiny_model, qtbot):
    w = make_window(tiny_model)
    ed, act = w.editor, w.action_set
    ed.add_object("sky-other", (0, 0, 1, 0.5))
    ed.add_object("sea", (0, 0.5, 1, 1))
    for name in ("duplicate", "toggle_lock", "delete", "fuse_earlier", "cut", "paste", "change_category"):
        if name == "change_category":
            ed.set_current_category("grass")
        ed.selection.set([ed.doc.uids()[-1]])
        before = [(o.category, o.bbox, o.z, o.locked) for o in ed.doc.objects]
        act[name].trigger()
        after = [(o.category, o.bbox, o.z, o.locked) for o in ed.doc.objects]
        assert after != before, name
        act["undo"].trigger()
        assert [(o.category, o.bbox, o.z, o.locked) for o in ed.doc.objects] == before, name
        act["redo"].trigger()
        assert [(o.category, o.bbox, o.z, o.locked) for o in ed.doc.objects] == after, name
    while ed.stack.canUndo():
        act["undo"].trigger()
    assert len(ed.doc) == 0 and w.windowTitle() == "Untitled — Layout2Im Studio"


def test_number_keys_pick_recent_categories(make_window, tiny_model):
    w = make_window(tiny_model)
    w.editor.add_object("tree", (0.1, 0.1, 0.3, 0.3))
    w.editor.add_object("sea", (0.5, 0.5, 0.9, 0.9))
    keys = {a.shortcut().toString(): a for a in w.findChildren(QAction) if a.text().startswith("Recent category")}
    keys["2"].trigger()
    assert w.editor.current_category == "tree"
    assert w.palette_panel.list.currentIndex().data() == "tree"


def test_object_list_reorder_and_selection_sync(make_window, tiny_model):
    w = make_window(tiny_model)
    ed = w.editor
    uids = [ed.add_object(c, (0.1, 0.1, 0.5, 0.5)) for c in ("sky-other", "sea", "boat")]
    w.object_list.model().moveRow(QModelIndex(), 2, QModelIndex(), 0)
    w.object_list.commit_order()
    assert ed.doc.uids() == [uids[2], uids[0], uids[1]]
    assert w.object_list.item(0).text().startswith("1. boat")
    ed.stack.undo()
    assert ed.doc.uids() == uids
    ed.selection.set([uids[1]])
    assert [it.text() for it in w.object_list.selectedItems()] == ["2. sea"]
    w.object_list.item(0).setSelected(True)
    assert set(ed.selection.uids) == {uids[0], uids[1]}


def test_unknown_labels_are_flagged_and_kept(make_window, tiny_model, qtbot, tmp_path, dialogs):
    w = make_window(tiny_model)
    path = tmp_path / "u.l2i.json"
    save_project(Project((ProjectObject("sky-other", (0, 0, 1, 0.5)), ProjectObject("unicorn", (0.2, 0.5, 0.5, 0.9)),
                          ProjectObject("sea", (0, 0.5, 1, 1)))), path)
    assert w.files.open_path(path)
    result = wait_image(qtbot, w)
    assert result is not None
    assert "unknown to this model" in w.object_list.item(1).text()
    assert w.canvas.item(w.editor.doc.uids()[1]).toolTip().startswith("unicorn")
    assert "unicorn" in w.banner.text() and w.banner.isVisibleTo(w)
    dialogs.save_file_answer = str(tmp_path / "u2.l2i.json")
    assert w.files.save_as()
    from layout2im_core.project import load_project
    assert [o.category for o in load_project(tmp_path / "u2.l2i.json").objects] == ["sky-other", "unicorn", "sea"]
    assert dialogs.errors == []


def test_layout_warning_is_a_banner_not_a_block(make_window, tiny_model, qtbot, dialogs):
    w = make_window(tiny_model)
    w.editor.add_object("boat", (0.4, 0.4, 0.5, 0.5))  # 1% of the image
    wait_image(qtbot, w)
    assert "2%" in w.banner.text() and w.banner.isVisibleTo(w)
    assert w.image_view.image is not None and dialogs.errors == []


class FailingModel:
    """The tiny model, except that every render fails."""

    def __init__(self, model):
        self._m = model

    def __getattr__(self, name):
        return getattr(self._m, name)

    def generate(self, layout, seed=None):
        raise RuntimeError("out of memory (simulated)")


def test_failed_render_is_a_banner_not_a_box(make_window, tiny_model, qtbot, dialogs):
    w = make_window(FailingModel(tiny_model))
    w.editor.add_object("sea", (0, 0.5, 1, 1))
    w.editor.selection.set(w.editor.doc.uids())
    for _ in range(3):
        w.editor.nudge_selected(0, -1)
        qtbot.waitUntil(lambda: "Rendering failed" in w.banner.text(), timeout=10000)
    wait_image(qtbot, w)
    assert dialogs.errors == [] and w.banner.text().count("Rendering failed") == 1
    assert "simulated" in w.banner.text() and len(w.editor.doc) == 1


def test_corrupt_model_file_shows_message_and_changes_nothing(make_window, tiny_model, qtbot, dialogs, tmp_path):
    w = make_window(tiny_model)
    w.editor.add_object("sea", (0, 0.5, 1, 1))
    before = w.editor.doc.objects
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a model at all" * 50)
    dialogs.open_answer = str(bad)
    w.action_set["open_model"].trigger()
    qtbot.waitUntil(lambda: len(dialogs.errors) == 1, timeout=30000)
    assert "broken.safetensors" in dialogs.errors[0][1]
    assert w.editor.doc.objects == before and w.model_info.name == "random"
    assert w.palette_panel.categories == tiny_model.categories


def test_missing_default_model_starts_quietly(make_window, qtbot, dialogs, monkeypatch, tmp_path):
    monkeypatch.setenv("LAYOUT2IM_RESOURCES", str(tmp_path / "nothing"))
    w = make_window()
    with qtbot.waitSignal(w.client.model_failed, timeout=30000):
        w.start()
    assert dialogs.errors == []
    assert w.model_label.text() == "No model loaded"
    assert not w.palette_panel.list.isVisibleTo(w) and w.palette_panel.empty_label.text() == "No model loaded"


def test_theme_overlay_smooth(make_window, tiny_model, app_settings, qapp):
    w = make_window(tiny_model)
    w.set_theme("dark")
    qapp.processEvents()
    assert w.palette().color(QPalette.Window).lightness() < 100 and app_settings.theme == "dark"
    assert [a.data() for a in w.action_set.theme_group.actions() if a.isChecked()] == ["dark"]
    w.set_theme("light")
    qapp.processEvents()
    assert w.palette().color(QPalette.Window).lightness() > 150
    w.action_set["overlay"].setChecked(True)
    w.action_set["smooth"].setChecked(True)
    assert w.image_view.overlay and w.image_view.smooth
    assert app_settings.flag("view/overlay") and app_settings.flag("view/smooth")


def test_device_menu_and_bad_official_checkpoint(make_window, tiny_model, qtbot, dialogs, tmp_path):
    w = make_window(tiny_model)
    devices = [a.text() for a in w.action_set.device_menu.actions()]
    assert devices[0] == "CPU" and w.action_set.device_menu.actions()[0].isChecked()
    with qtbot.waitSignal(w.client.model_loaded, timeout=20000) as sig:
        w.action_set.device_menu.actions()[0].trigger()
    assert sig.args[0].device == "cpu"
    bad = tmp_path / "netG_coco.pkl"
    bad.write_bytes(b"\x80\x02garbage")
    dialogs.open_answer, dialogs.choose_answer = str(bad), "coco"
    w.action_set["import_official"].trigger()
    qtbot.waitUntil(lambda: len(dialogs.errors) == 1, timeout=30000)
    assert "netG_coco.pkl" in dialogs.errors[0][1] and w.model_info.name == "random"


def test_shortcut_list_names_commands_not_the_undo_text(make_window, tiny_model, dialogs):
    w = make_window(tiny_model)
    w.editor.add_object("sea", (0.1, 0.1, 0.5, 0.5))
    w.editor.stack.undo()
    w.editor.stack.redo()  # the undo action now reads "Undo Add sea"
    assert w.action_set["undo"].text() != "&Undo"
    w.action_set["shortcuts"].trigger()
    text = dialogs.infos[-1][1]
    lines = text.splitlines()
    undo = [line for line in lines if line.startswith("Undo")]
    assert len(undo) == 1 and undo[0].startswith("Undo: Ctrl+Z") and "Redo: Ctrl+Shift+Z, Ctrl+Y" in lines
    assert "Draw Boxes: B" in lines
    assert "F14" not in text and "Add sea" not in text and ", Undo" not in text
