"""Looks from photos (tiny random model): a box on a photo gives the selected object the crop
encoder's mu of that crop; COCO and labelme annotations import as layouts with labels mapped by name,
unknown ones flagged and kept, each z from its crop. Plus the Qt-free annotation readers."""

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.annotations import AnnotationError, map_labels, match_label, read_annotation

pytestmark = pytest.mark.gui

W, H = 128, 96


@pytest.fixture(scope="module")
def photo():
    """A 96x128 RGB photo: blue sky, green-blue sea, a red boat, a noisy texture in the corner."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:40] = (90, 150, 230)
    img[40:] = (20, 90, 110)
    img[30:60, 40:90] = (200, 40, 30)
    img[70:, 100:] = np.random.default_rng(0).integers(0, 255, (H - 70, W - 100, 3))
    return img


def png_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def wait_idle(qtbot, w, timeout=20000):
    qtbot.waitUntil(lambda: not w._render_timer.isActive() and not w.client.busy
                    and not w.client.jobs_pending, timeout=timeout)


def bits(z):
    return np.float32(z).view(np.uint32)


def test_look_from_photo_is_the_crop_encoders_mu(make_window, tiny_model, dialogs, tmp_path, qtbot, photo):
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(photo))
    w = make_window(tiny_model)
    ed = w.editor
    ed.add_object("sea", (0, 0.5, 1, 1))
    boat = ed.add_object("boat", (0.3, 0.3, 0.7, 0.6))
    before = ed.doc.get(boat).z
    box = (40 / W, 30 / H, 90 / W, 60 / H)
    seen = {}

    def pick_box(image, title, initial):
        seen.update(size=(image.width(), image.height()), initial=initial, title=title)
        return box

    dialogs.pick_box = pick_box
    dialogs.open_answer = str(path)
    depth = ed.stack.count()
    w.action_set["look_from_photo"].trigger()
    wait_idle(qtbot, w)
    assert seen["size"] == (W, H) and seen["initial"] == ed.doc.get(boat).bbox and "boat" in seen["title"]
    mu = tiny_model.encode_appearance(photo, box, "boat")
    o = ed.doc.get(boat)
    assert np.array_equal(bits(o.z), bits(mu)) and o.category == "boat"
    assert ed.stack.count() == depth + 1 and dialogs.errors == []
    ed.stack.undo()
    assert np.array_equal(bits(ed.doc.get(boat).z), bits(before))
    # a locked object is left alone
    ed.stack.redo()
    ed.toggle_lock_selected()
    w.action_set["look_from_photo"].trigger()
    assert "locked" in w.statusBar().currentMessage()


def test_import_coco_maps_labels_flags_unknown_and_encodes_crops(make_window, tiny_model, dialogs, tmp_path,
                                                                 qtbot, photo):
    (tmp_path / "photo.png").write_bytes(png_bytes(photo))
    coco = {"images": [{"id": 7, "file_name": "photo.png", "width": W, "height": H},
                       {"id": 8, "file_name": "unused.png", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": "sky"}, {"id": 2, "name": "boat"}, {"id": 3, "name": "unicorn"}],
            "annotations": [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 128, 40]},
                            {"image_id": 7, "category_id": 2, "bbox": [40, 30, 50, 30]},
                            {"image_id": 7, "category_id": 3, "bbox": [100, 70, 28, 26]}]}
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps(coco))
    w = make_window(tiny_model)
    dialogs.open_answer = str(ann)
    w.action_set["import_annotation"].trigger()
    wait_idle(qtbot, w)
    objs = w.editor.doc.objects
    assert [o.category for o in objs] == ["sky-other", "boat", "unicorn"]
    assert w.editor.is_unknown("unicorn") and "unknown" in w.object_list.item(2).text()
    assert "unicorn" in w.statusBar().currentMessage()
    for o, box in zip(objs[:2], [(0, 0, 1, 40 / H), (40 / W, 30 / H, 90 / W, 60 / H)]):
        assert o.bbox == pytest.approx(box)
        assert np.array_equal(bits(o.z), bits(tiny_model.encode_appearance(photo, box, o.category)))
    assert objs[2].z is not None, "unknown objects are kept and get a look too"
    assert w.windowTitle().startswith("Untitled*") and w.editor.stack.count() == 0
    assert dialogs.errors == []


def test_import_labelme_with_embedded_photo(make_window, tiny_model, dialogs, tmp_path, qtbot, photo):
    lm = {"version": "5.4.1", "imagePath": "not_here.jpg", "imageHeight": H, "imageWidth": W,
          "imageData": base64.b64encode(png_bytes(photo)).decode(),
          "shapes": [{"label": "Sea", "shape_type": "rectangle", "points": [[128, 96], [0, 40]]},
                     {"label": "boat", "shape_type": "polygon", "points": [[40, 30], [90, 35], [60, 60]]},
                     {"label": "dragon", "shape_type": "rectangle", "points": [[0, 0], [20, 20]]}]}
    ann = tmp_path / "photo.json"
    ann.write_text(json.dumps(lm))
    w = make_window(tiny_model)
    w.photos.import_annotation(str(ann))
    wait_idle(qtbot, w)
    objs = w.editor.doc.objects
    assert [o.category for o in objs] == ["sea", "boat", "dragon"] and w.editor.is_unknown("dragon")
    boat_box = (40 / W, 30 / H, 90 / W, 60 / H)
    assert objs[1].bbox == pytest.approx(boat_box)
    assert np.array_equal(bits(objs[1].z), bits(tiny_model.encode_appearance(photo, boat_box, "boat")))
    assert np.array_equal(bits(objs[0].z), bits(tiny_model.encode_appearance(photo, (0, 40 / H, 1, 1), "sea")))


def test_annotation_readers_and_label_matching(tmp_path):
    cats = ["sky-other", "sea", "tree", "boat", "dirt", "playingfield"]
    assert match_label("sky", cats) == "sky-other"
    assert match_label("Sea", cats) == "sea" and match_label("trees", cats) == "tree"
    assert match_label("playing_field", cats) is None and match_label("playingfield", cats) == "playingfield"
    assert map_labels(["boat", "yeti", "Boat", "yeti"], cats) == (["boat", "yeti", "boat", "yeti"], ["yeti"])
    lm = {"imageHeight": 100, "imageWidth": 200, "imagePath": "a.png",
          "shapes": [{"label": "sun", "shape_type": "circle", "points": [[100, 50], [110, 50]]},
                     {"label": "edge", "shape_type": "rectangle", "points": [[-10, -5], [250, 20]]},
                     {"label": "dot", "shape_type": "point", "points": [[3, 3]]}]}
    p = tmp_path / "a.json"
    p.write_text(json.dumps(lm))
    a = read_annotation(p)
    assert a.kind == "labelme" and a.image_path == tmp_path / "a.png" and a.image_data is None
    assert [label for label, _ in a.objects] == ["sun", "edge"], "a zero-size box is dropped"
    assert a.objects[0][1] == pytest.approx((0.45, 0.4, 0.55, 0.6)) and a.objects[1][1] == pytest.approx((0, 0, 1, 0.2))
    p.write_text('{"something": 1}')
    with pytest.raises(AnnotationError):
        read_annotation(p)
    p.write_text("{not json")
    with pytest.raises(AnnotationError):
        read_annotation(p)


MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco-stuff-mini"


def coco_folder(root, photo):
    """A COCO-style tree: annotations/instances_val2017.json + stuff_val2017.json, the photos in
    val2017/ (a sibling folder, as COCO ships them). Photos img10.png and img2.png."""
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    for name in ("img10.png", "img2.png"):
        (root / "val2017" / name).write_bytes(png_bytes(photo))
    images = [{"id": 10, "file_name": "img10.png", "width": W, "height": H},
              {"id": 2, "file_name": "img2.png", "width": W, "height": H}]
    things = {"images": images, "categories": [{"id": 9, "name": "boat"}],
              "annotations": [{"image_id": 2, "category_id": 9, "bbox": [40, 30, 50, 30]},
                              {"image_id": 10, "category_id": 9, "bbox": [0, 0, 10, 10]}]}
    stuff = {"images": images, "categories": [{"id": 149, "name": "sky-other"}, {"id": 155, "name": "sea"},
                                              {"id": 183, "name": "other"}],
             "annotations": [{"image_id": 2, "category_id": 149, "bbox": [0, 0, 128, 40]},
                             {"image_id": 2, "category_id": 155, "bbox": [0, 40, 128, 56]},
                             {"image_id": 2, "category_id": 183, "bbox": [100, 70, 28, 26]}]}
    paths = []
    for name, data in (("instances_val2017.json", things), ("stuff_val2017.json", stuff)):
        paths.append(root / "annotations" / name)
        paths[-1].write_text(json.dumps(data))
    return paths


def test_coco_instances_and_stuff_import_together_with_the_photo_from_the_sibling_folder(
        make_window, tiny_model, dialogs, tmp_path, qtbot, photo):
    instances, stuff = coco_folder(tmp_path / "coco", photo)
    offered = []

    def choose(title, label, items):
        offered.append(list(items))
        return "img2.png"

    dialogs.choose = choose
    dialogs.open_files_answer = [str(instances), str(stuff)]
    w = make_window(tiny_model)
    w.action_set["import_annotation"].trigger()
    wait_idle(qtbot, w)
    assert offered == [["img2.png", "img10.png"]]  # sorted by name, numbers by value
    objs = w.editor.doc.objects
    assert [o.category for o in objs] == ["sky-other", "sea", "boat"]  # stuff first, COCO-Stuff's "other" left out
    boxes = [(0, 0, 1, 40 / H), (0, 40 / H, 1, 1), (40 / W, 30 / H, 90 / W, 60 / H)]
    for o, box in zip(objs, boxes):
        assert o.bbox == pytest.approx(box)
        assert np.array_equal(bits(o.z), bits(tiny_model.encode_appearance(photo, box, o.category)))
    assert dialogs.errors == [] and "'other'" in w.statusBar().currentMessage()


def test_image_candidates_cover_the_usual_coco_folders(tmp_path):
    from app.annotations import find_image, image_candidates
    ann = tmp_path / "coco" / "annotations" / "instances_val2017.json"
    cands = image_candidates(ann, "a.jpg")
    assert cands[0] == ann.parent / "a.jpg"
    assert tmp_path / "coco" / "val2017" / "a.jpg" in cands
    assert tmp_path / "coco" / "images" / "val2017" / "a.jpg" in cands
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    (tmp_path / "coco" / "pictures").mkdir()
    (tmp_path / "coco" / "pictures" / "a.jpg").write_bytes(b"x")
    assert find_image(ann, "a.jpg") == tmp_path / "coco" / "pictures" / "a.jpg"  # any sibling folder
    assert find_image(ann, "b.jpg") is None and image_candidates(ann, "") == []


@pytest.mark.skipif(not (MINI / "annotations" / "stuff_val2017.json").exists(),
                    reason="the COCO-Stuff mini set (../shared/data/coco-stuff-mini) is absent")
def test_real_coco_stuff_files_of_one_image_import_together(make_window, tiny_model, dialogs, qtbot):
    from layout2im_core.project import load_project
    dialogs.open_files_answer = [str(MINI / "annotations" / n)
                                 for n in ("instances_val2017.json", "stuff_val2017.json")]
    asked = []
    dialogs.choose = lambda title, label, items: asked.append(list(items)) or "000000011197.jpg"
    dialogs.open_answer = None  # "Where is the photo?" must not be needed
    w = make_window(tiny_model)
    w.action_set["import_annotation"].trigger()
    wait_idle(qtbot, w)
    assert asked[0] == sorted(asked[0]) and len(asked[0]) >= 90
    cats = [o.category for o in w.editor.doc.objects]
    example = load_project(Path(__file__).resolve().parents[1] / "resources" / "layouts"
                           / "coco_val_11197.json")
    assert {o.category for o in example.objects} <= set(cats)
    assert "not found" not in w.statusBar().currentMessage() and dialogs.errors == []
