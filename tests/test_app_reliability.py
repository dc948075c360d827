"""The app under hostile or faulty files (issue 15 items 1, 3, 5, 11): a project that opens can be
saved, a failed save is a message with the work kept, a recovery file cannot aim Save at another
file, big projects have a limit and open quickly, hostile annotations are messages."""

import base64
import json
import struct
import time
import zlib

import pytest

from layout2im_core.project import MAX_OBJECTS, ProjectFileError, load_project

pytestmark = pytest.mark.gui


def fill(w):
    w.editor.add_object("sea", (0.0, 0.45, 1.0, 1.0))
    w.editor.add_object("boat", (0.3, 0.4, 0.55, 0.6))


def project_text(objects, meta):
    return json.dumps({"format": "layout2im-project", "version": 1, "model": {"name": "random"},
                       "objects": objects, "meta": meta})


# --- item 1: a project that opens can be saved; failed saves keep the work --------------------------------
def test_nan_meta_and_overflowing_base_z_are_repaired_and_the_project_saves(make_window, tiny_model, dialogs, tmp_path):
    z = [0.5] * tiny_model.z_dim
    text = project_text([{"category": "sea", "bbox": [0, 0.5, 1, 1], "z": z},
                         {"category": "boat", "bbox": [0.3, 0.4, 0.6, 0.6], "z": z}],
                        {"looks": [{"base_z": [1e308] * tiny_model.z_dim, "seed": 3}, {"base_z": z, "seed": -1}],
                         "x": 1}).replace('"x": 1', '"x": NaN')
    path = tmp_path / "hostile.l2i.json"
    path.write_text(text)
    w = make_window(tiny_model)
    assert w.files.open_path(str(path), ask=False)
    assert len(w.editor.doc) == 2 and dialogs.errors == []
    assert dialogs.infos and dialogs.infos[0][0] == "Project repaired"
    assert "meta.x" in dialogs.infos[0][1] and "object 0" in dialogs.infos[0][1] and "object 1" in dialogs.infos[0][1]
    w.editor.add_object("sea", (0.0, 0.0, 1.0, 0.2))  # an edit, then Save and autosave both work
    assert w.files.autosave()
    assert w.files.save() and not w.files.modified
    again = load_project(path)
    assert again.warnings == () and again.meta["x"] is None and len(again.objects) == 3


@pytest.mark.parametrize("error", [ValueError("Out of range float values are not JSON compliant"),
                                   OSError(13, "Permission denied"), ProjectFileError("disk full"),
                                   RuntimeError("anything")])
def test_a_failed_save_is_a_dialog_and_closing_keeps_the_window(make_window, tiny_model, dialogs, tmp_path,
                                                                monkeypatch, error):
    import app.files as files_mod

    w = make_window(tiny_model)
    fill(w)
    dialogs.save_file_answer = str(tmp_path / "x.l2i.json")

    def fail(*a, **kw):
        raise error

    monkeypatch.setattr(files_mod, "save_project", fail)
    assert not w.files.save()
    assert dialogs.errors and dialogs.errors[-1][0] == "Cannot save the project"
    assert "changes are kept" in dialogs.errors[-1][1]
    assert w.files.modified and len(w.editor.doc) == 2
    assert not w.files.autosave()  # autosave fails quietly (a status message), no exception
    dialogs.save_answer = "save"
    assert not w.close() and w.isVisible() and len(w.editor.doc) == 2  # "Save" on close failed: stays open
    monkeypatch.undo()
    assert w.files.save() and (tmp_path / "x.l2i.json").is_file()


def test_read_only_folder_save_is_a_message(make_window, tiny_model, dialogs, tmp_path, monkeypatch):
    from fs_faults import read_only

    w = make_window(tiny_model)
    fill(w)
    ro = tmp_path / "ro"
    ro.mkdir()
    read_only(monkeypatch, ro)
    dialogs.save_file_answer = str(ro / "x.l2i.json")
    assert not w.files.save()
    assert "Read-only" in dialogs.errors[-1][1] and w.files.modified and w.files.path is None


# --- item 3: recovery_of never aims Save at a file the user did not choose ---------------------------------
def test_recovery_of_is_only_a_suggestion(make_window, tiny_model, dialogs, tmp_path, monkeypatch):
    from layout2im_core.project import Project, ProjectObject, save_project

    victim = tmp_path / "important.txt"
    victim.write_text("precious data")
    recovery = tmp_path / "rec" / "recovery-1-1.l2i.json"
    recovery.parent.mkdir()
    save_project(Project(objects=(ProjectObject("sea", (0.0, 0.5, 1.0, 1.0)),),
                         meta={"recovery_of": str(victim)}), recovery)
    w = make_window(tiny_model, recovery_path=recovery.parent / "recovery-mine.l2i.json")
    dialogs.yes_no_answer = True
    assert w.files.offer_recovery()
    assert w.files.path is None and w.files.suggested_path == victim
    assert w.windowTitle().startswith("important.txt (recovered)*")
    asked = []
    monkeypatch.setattr(dialogs, "save_file", lambda title, filters, directory="": asked.append(directory))
    assert not w.files.save()  # Save asks (proposing the old file); cancelled: nothing written
    assert asked == [str(victim)] and victim.read_text() == "precious data"
    monkeypatch.setattr(dialogs, "save_file", lambda *a, **kw: str(tmp_path / "chosen.l2i.json"))
    assert w.files.save() and w.files.path == tmp_path / "chosen.l2i.json"
    assert victim.read_text() == "precious data" and w.files.suggested_path is None
    assert "recovery_of" not in load_project(tmp_path / "chosen.l2i.json").meta


def test_opening_a_recovery_file_directly_drops_recovery_of(make_window, tiny_model, dialogs, tmp_path):
    path = tmp_path / "r.l2i.json"
    path.write_text(project_text([{"category": "sea", "bbox": [0, 0.5, 1, 1]}], {"recovery_of": "/etc/passwd"}))
    w = make_window(tiny_model)
    assert w.files.open_path(str(path), ask=False)
    assert "recovery_of" not in w.editor.doc.meta


# --- item 5: limits, and a big allowed project opens without blocking the GUI ---------------------------------
def test_the_largest_allowed_project_opens_quickly_and_a_larger_one_is_refused(make_window, tiny_model, dialogs,
                                                                                tmp_path, qtbot):
    from PySide6.QtWidgets import QApplication

    z = [0.1] * tiny_model.z_dim
    objs = [{"category": "sea", "bbox": [(i % 50) / 100, (i // 50) / 40, (i % 50) / 100 + 0.3,
                                         (i // 50) / 40 + 0.3], "z": z} for i in range(MAX_OBJECTS)]
    big = tmp_path / "big.l2i.json"
    big.write_text(project_text(objs, {"looks": [{"base_z": z, "seed": i} for i in range(MAX_OBJECTS)]}))
    w = make_window(tiny_model)
    t0 = time.perf_counter()
    assert w.files.open_path(str(big), ask=False)
    blocked = [time.perf_counter() - t0]
    end = time.perf_counter() + 1.5
    while time.perf_counter() < end:
        t = time.perf_counter()
        QApplication.processEvents()
        blocked.append(time.perf_counter() - t)
        time.sleep(0.005)
    assert len(w.editor.doc) == MAX_OBJECTS
    assert [t for t, _ in dialogs.errors] in ([], ["Rendering failed"])  # the model renders at most 8 objects
    assert max(blocked) < 1.0, blocked[:3]
    too_big = tmp_path / "too_big.l2i.json"
    too_big.write_text(project_text(objs + objs[:1], {}))
    assert not w.files.open_path(str(too_big), ask=False)
    assert f"at most {MAX_OBJECTS}" in dialogs.errors[-1][1] and len(w.editor.doc) == MAX_OBJECTS


def test_fifo_project_is_refused_without_hanging(make_window, tiny_model, dialogs, tmp_path):
    import os

    fifo = tmp_path / "pipe.l2i.json"
    os.mkfifo(fifo)
    w = make_window(tiny_model)
    assert not w.files.open_path(str(fifo), ask=False)
    assert "FIFO" in dialogs.errors[-1][1]


# --- item 11: hostile annotations ------------------------------------------------------------------------------
@pytest.mark.parametrize("coco, words", [
    ({"images": [{"id": 1, "file_name": "p.png", "width": 10, "height": 10}], "categories": 5,
      "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}]}, "categories"),
    ({"images": [{"id": 1, "file_name": "p.png", "width": 10, "height": 10}],
      "categories": [{"id": 1, "name": "sea"}],
      "annotations": [{"image_id": 1, "category_id": [1], "bbox": [0, 0, 5, 5]}]}, "no boxes"),
    ({"images": [{"id": {"a": 1}, "file_name": "p.png", "width": 10, "height": 10}],
      "categories": [{"id": 1, "name": "sea"}],
      "annotations": [{"image_id": {"a": 1}, "category_id": 1, "bbox": [0, 0, 5, 5]}]}, "no annotated photo"),
    ({"images": [{"id": 1, "file_name": "p.png", "width": "wide", "height": 10}],
      "categories": [{"id": 1, "name": "sea"}],
      "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}]}, "width and height"),
])
def test_hostile_coco_annotations_are_messages(make_window, tiny_model, dialogs, tmp_path, coco, words):
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps(coco))
    w = make_window(tiny_model)
    assert not w.photos.import_annotation(str(ann))
    assert dialogs.errors and words in dialogs.errors[-1][1], dialogs.errors


def _png_bomb(width=100_000, height=100_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_labelme_with_a_decompression_bomb_says_so(make_window, tiny_model, dialogs, tmp_path, qtbot):
    lm = {"imagePath": "photo.png", "imageHeight": 96, "imageWidth": 128,
          "imageData": base64.b64encode(_png_bomb()).decode(),
          "shapes": [{"label": "sea", "shape_type": "rectangle", "points": [[0, 40], [128, 96]]}]}
    ann = tmp_path / "photo.json"
    ann.write_text(json.dumps(lm))
    (tmp_path / "photo.png").write_bytes(_png_bomb())
    w = make_window(tiny_model)
    messages = []
    w.photos.message.connect(messages.append)
    assert w.photos.import_annotation(str(ann))
    assert len(w.editor.doc) == 1
    assert any("too large" in m and "100000x100000" in m for m in messages), messages
    assert not any("not found" in m for m in messages)


def test_annotation_reader_never_raises_anything_but_annotation_error(tmp_path):
    import random

    from app.annotations import AnnotationError, annotated_images, kind_of, parse_annotation

    rng = random.Random(0)
    values = [None, True, 1, -1, 1.5, float("nan"), "x", "", [], [1], {}, {"a": 1}, [0, 0, 5, 5], 10 ** 400]
    base = {"images": [{"id": 1, "file_name": "p.png", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "sea"}],
            "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}],
            "shapes": [{"label": "sea", "points": [[0, 0], [5, 5]], "shape_type": "rectangle"}],
            "imageWidth": 10, "imageHeight": 10, "imagePath": "p.png"}
    paths = [("images",), ("images", 0, "id"), ("images", 0, "width"), ("images", 0, "file_name"), ("categories",),
             ("categories", 0, "id"), ("categories", 0, "name"), ("annotations", 0, "image_id"),
             ("annotations", 0, "category_id"), ("annotations", 0, "bbox"), ("annotations", 0), ("shapes",),
             ("shapes", 0, "points"), ("shapes", 0, "label"), ("imagePath",), ("imageWidth",), ("imageData",)]
    for case in range(400):
        data = json.loads(json.dumps(base))
        if case % 2:
            del data["shapes"]
        else:
            del data["images"]
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(paths)
            node = data
            try:
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = rng.choice(values)
            except (KeyError, IndexError, TypeError):
                continue
        try:
            kind_of(data)
            annotated_images(data)
            parse_annotation(data, tmp_path / "a.json")
        except AnnotationError:
            pass
