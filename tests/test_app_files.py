"""Files through the window: save -> load round-trip, corrupt project, unsaved-changes question,
autosave and crash recovery, recent files, PNG export, clipboard, project given at start-up."""

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication, QImage

from layout2im_core.project import load_project

pytestmark = pytest.mark.gui


def fill(w):
    ed = w.editor
    ed.add_object("sky-other", (0.0, 0.0, 1.0, 0.45))
    ed.add_object("sea", (0.0, 0.45, 1.0, 1.0))
    ed.add_object("boat", (0.3, 0.4, 0.55, 0.6))
    ed.selection.set([ed.doc.uids()[2]])
    ed.toggle_lock_selected()


def state(doc):
    return [(o.category, o.bbox, o.z, o.locked) for o in doc.objects]


def test_save_load_round_trip(make_window, tiny_model, dialogs, tmp_path, app_settings):
    w = make_window(tiny_model)
    fill(w)
    saved = state(w.editor.doc)
    assert all(o.z is not None for o in w.editor.doc.objects)
    dialogs.save_file_answer = str(tmp_path / "scene")
    w.action_set["save"].trigger()
    path = tmp_path / "scene.l2i.json"
    assert path.exists() and w.windowTitle() == "scene.l2i.json — Layout2Im Studio"
    project = load_project(path)
    assert project.model_name == "random" and project.vocabulary_digest == tiny_model.vocabulary.digest()
    for o, s in zip(project.objects, saved):
        assert (o.category, o.bbox, o.locked) == (s[0], s[1], s[3])
        assert np.array_equal(np.float32(o.z).view(np.uint32), np.float32(s[2]).view(np.uint32))
    assert app_settings.recent_files()[0] == str(path.resolve())
    assert w.action_set.recent_menu.actions()[0].text().endswith(str(path.resolve()))
    w.action_set["new"].trigger()
    assert len(w.editor.doc) == 0
    dialogs.open_answer = str(path)
    w.action_set["open"].trigger()
    assert state(w.editor.doc) == saved and not w.files.modified
    assert dialogs.errors == []


def test_corrupt_project_shows_message_and_changes_nothing(make_window, tiny_model, dialogs, tmp_path):
    w = make_window(tiny_model)
    fill(w)
    before, depth, title = state(w.editor.doc), w.editor.stack.count(), w.windowTitle()
    bad = tmp_path / "bad.l2i.json"
    bad.write_text('{"format": "layout2im-project", "version": 1, "objects": [{"category": "x"')
    dialogs.save_answer = "discard"
    dialogs.open_answer = str(bad)
    w.action_set["open"].trigger()
    assert len(dialogs.errors) == 1 and "bad.l2i.json" in dialogs.errors[0][1]
    assert state(w.editor.doc) == before and w.editor.stack.count() == depth and w.windowTitle() == title


def test_closing_asks_before_discarding(make_window, tiny_model, dialogs, tmp_path):
    w = make_window(tiny_model)
    fill(w)
    dialogs.save_answer = "cancel"
    assert not w.close() and w.isVisible()
    assert dialogs.questions == ["Unsaved changes"]
    dialogs.save_answer = "save"
    dialogs.save_file_answer = str(tmp_path / "closing.l2i.json")
    assert w.close()
    assert (tmp_path / "closing.l2i.json").exists()


def test_autosave_and_recovery_after_a_crash(make_window, tiny_model, dialogs, tmp_path):
    recovery = tmp_path / "rec" / "recovery.l2i.json"
    w = make_window(tiny_model, recovery_path=recovery)
    fill(w)
    assert w.files.autosave() and recovery.exists()
    assert not w.files.autosave()  # nothing new since the last autosave
    lost = state(w.editor.doc)
    # While w runs, another window does not offer (or touch) its autosave.
    w_other = make_window(tiny_model, recovery_path=recovery.parent / "recovery-other.l2i.json")
    assert not w_other.files.offer_recovery() and recovery.exists()
    # "crash": w's lock goes away with it, the file stays; a new window finds it
    w.files._recovery_lock.unlock()
    w2 = make_window(tiny_model, recovery_path=recovery)
    dialogs.yes_no_answer = True
    assert w2.files.offer_recovery()
    assert state(w2.editor.doc) == lost and w2.windowTitle().startswith("Untitled*")
    w2.editor.stack.undo()
    assert len(w2.editor.doc) == 0
    w2.editor.stack.redo()
    dialogs.save_file_answer = str(tmp_path / "rescued.l2i.json")
    assert w2.files.save() and not recovery.exists()  # saved: the recovery file is gone


def test_declined_recovery_is_discarded(make_window, tiny_model, dialogs, tmp_path):
    recovery = tmp_path / "recovery.l2i.json"
    w = make_window(tiny_model, recovery_path=recovery)
    fill(w)
    w.files.autosave()
    assert not w.files.offer_recovery() and recovery.exists()  # its own autosave is not offered to itself
    w.files._recovery_lock.unlock()  # as after a crash
    w2 = make_window(tiny_model, recovery_path=tmp_path / "recovery-2.l2i.json")
    dialogs.yes_no_answer = False
    assert not w2.files.offer_recovery() and not recovery.exists()


CRASHING_INSTANCE = r"""
import os, sys
from PySide6.QtCore import QLockFile
from layout2im_core.project import Project, ProjectObject, save_project
path = sys.argv[1]
lock = QLockFile(path + ".lock"); lock.setStaleLockTime(0); assert lock.tryLock(0)
save_project(Project(objects=(ProjectObject("sea", (0.0, 0.5, 1.0, 1.0)),), meta={"recovery_of": ""}), path)
print("saved", flush=True)
if sys.argv[2] == "crash":
    os._exit(3)  # dies holding the lock: a stale lock file stays behind
sys.stdin.read()  # a running instance: waits until told to stop
"""


def test_recovery_between_processes_live_and_crashed(make_window, tiny_model, dialogs, tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "appdata"
    folder.mkdir()
    live_file, dead_file = folder / "recovery-live.l2i.json", folder / "recovery-dead.l2i.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    dead = subprocess.run([sys.executable, "-c", CRASHING_INSTANCE, str(dead_file), "crash"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert dead.returncode == 3 and dead_file.exists() and Path(str(dead_file) + ".lock").exists()
    live = subprocess.Popen([sys.executable, "-c", CRASHING_INSTANCE, str(live_file), "wait"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "saved"
        w = make_window(tiny_model, recovery_path=folder / "recovery-mine.l2i.json")
        dialogs.yes_no_answer = True
        assert [p for p, _ in w.files.orphaned_recoveries()] == [dead_file]
        for _, lock in w.files.orphaned_recoveries():
            lock.unlock()
        assert w.files.offer_recovery()  # the crashed instance's work comes back
        assert [o.category for o in w.editor.doc.objects] == ["sea"]
        assert not dead_file.exists() and live_file.exists()  # the running instance's file is untouched
    finally:
        live.communicate("", timeout=30)


def test_export_png_at_scale_and_copy_image(make_window, tiny_model, dialogs, tmp_path, qtbot):
    w = make_window(tiny_model)
    fill(w)
    qtbot.waitUntil(lambda: w.last_result is not None and not w.client.busy, timeout=20000)
    dialogs.int_answer = 3
    dialogs.save_file_answer = str(tmp_path / "out")
    w.action_set["export_png"].trigger()
    img = QImage(str(tmp_path / "out.png"))
    assert img.width() == 192 and img.height() == 192
    w.action_set["copy_image"].trigger()
    assert QGuiApplication.clipboard().image().width() == 64 * 8


def test_project_argument_opens_and_bad_one_says_so(make_window, tiny_model, dialogs, tmp_path, qtbot):
    model_path = tmp_path / "tiny.safetensors"
    tiny_model.save(model_path)
    w = make_window()
    with qtbot.waitSignal(w.client.model_loaded, timeout=30000):
        w.start(str(model_path), str(tmp_path / "missing.l2i.json"), recover=False)
    assert len(dialogs.errors) == 1 and "missing.l2i.json" in dialogs.errors[0][1]
    assert len(w.editor.doc) == 0 and w.model_info.name == "random"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_projects_and_exports_get_the_usual_mode(make_window, tiny_model, dialogs, tmp_path, qtbot, umask):
    w = make_window(tiny_model)
    fill(w)
    qtbot.waitUntil(lambda: w.last_result is not None and not w.client.busy, timeout=20000)
    old = os.umask(umask)
    try:
        dialogs.save_file_answer = str(tmp_path / "scene")
        w.action_set["save"].trigger()
        dialogs.int_answer, dialogs.save_file_answer = 2, str(tmp_path / "scene.png")
        w.action_set["export_png"].trigger()
    finally:
        os.umask(old)
    for name in ("scene.l2i.json", "scene.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_resaving_keeps_the_mode_of_the_existing_file(make_window, tiny_model, dialogs, tmp_path, qtbot):
    w = make_window(tiny_model)
    fill(w)
    qtbot.waitUntil(lambda: w.last_result is not None and not w.client.busy, timeout=20000)
    dialogs.save_file_answer = str(tmp_path / "scene")
    w.action_set["save"].trigger()
    path = tmp_path / "scene.l2i.json"
    path.chmod(0o664)
    w.editor.add_object("tree", (0.1, 0.1, 0.3, 0.3))
    w.action_set["save"].trigger()
    assert path.stat().st_mode & 0o777 == 0o664 and len(load_project(path).objects) == 4
    png = tmp_path / "scene.png"
    dialogs.int_answer, dialogs.save_file_answer = 2, str(png)
    w.action_set["export_png"].trigger()
    png.chmod(0o640)
    w.action_set["export_png"].trigger()
    assert png.stat().st_mode & 0o777 == 0o640
