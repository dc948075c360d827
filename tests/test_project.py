"""Project file: round-trip (z bit-exact), clear errors for bad files, atomic saves, no Qt/torch."""

import json
import subprocess
import sys

import numpy as np
import pytest

from layout2im_core.errors import Layout2ImError
from layout2im_core.project import FORMAT_VERSION, Project, ProjectFileError, ProjectObject, load_project, save_project
from layout2im_core.types import LayoutSpec, ObjectSpec


def _project(z_dim=64, seed=0):
    rng = np.random.default_rng(seed)
    zs = rng.standard_normal((3, z_dim)).astype(np.float32)
    zs[0, :4] = [np.float32(1e-45), np.float32(3.4028235e38), np.float32(-0.0), np.float32(1 / 3)]
    objs = (ProjectObject("sky-other", (0.0, 0.0, 1.0, 0.4), tuple(float(v) for v in zs[0])),
            ProjectObject("sea", (0.0, 0.4, 1.0, 1.0), tuple(float(v) for v in zs[1]), locked=True),
            ProjectObject("boat", (0.3, 0.35, 0.55, 0.6), tuple(float(v) for v in zs[2])),
            ProjectObject("unicorn", (0.1, 0.1, 0.2, 0.2), None))
    return Project(objs, "scenes64", "0123456789abcdef", meta={"note": "hi"}), zs


def test_round_trip_keeps_everything_and_z_bit_exact(tmp_path):
    project, zs = _project()
    path = tmp_path / "p.l2i.json"
    save_project(project, path)
    back = load_project(path)
    assert back == project
    for i in range(3):
        z = np.asarray(back.objects[i].z, dtype=np.float32)
        assert np.array_equal(z.view(np.uint32), zs[i].view(np.uint32))
    assert back.objects[1].locked and back.objects[3].z is None
    assert [o.category for o in back.objects] == ["sky-other", "sea", "boat", "unicorn"]


def test_to_layout_and_from_layout():
    project, _ = _project(z_dim=8)
    lay = project.to_layout()
    assert isinstance(lay, LayoutSpec) and len(lay) == 4
    assert lay.objects[2] == ObjectSpec("boat", (0.3, 0.35, 0.55, 0.6), project.objects[2].z)
    again = Project.from_layout(lay, "m", "d")
    assert again.to_layout() == lay and again.model_name == "m"


@pytest.mark.parametrize("text, words", [
    ("{not json", "corrupt JSON"),
    ('{"objects": []}', "not a Layout2Im project"),
    ('{"format": "layout2im-project", "version": 99, "objects": []}', "newer"),
    ('{"format": "layout2im-project", "version": 1, "objects": [{"category": "a", "bbox": [0, 0, 2, 1]}]}',
     "object 0"),
    ('{"format": "layout2im-project", "version": 1, "objects": [{"category": "a", "bbox": [0, 0, 1]}]}',
     "bbox"),
    ('{"format": "layout2im-project", "version": 1, "objects": [{"category": "", "bbox": [0, 0, 1, 1]}]}',
     "category"),
    ('{"format": "layout2im-project", "version": 1, "objects": [{"category": "a", "bbox": [0, 0, 1, 1],'
     ' "z": [1, NaN]}]}', "z"),
    ('{"format": "layout2im-project", "version": 1, "objects": [{"category": "a", "bbox": [0, 0, 1, 1],'
     ' "locked": "yes"}]}', "locked"),
])
def test_bad_files_raise_clear_errors(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ProjectFileError) as e:
        load_project(path)
    assert words in str(e.value) and str(path) in str(e.value)
    assert isinstance(e.value, Layout2ImError)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ProjectFileError, match="no such"):
        load_project(tmp_path / "nope.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProjectFileError):
        load_project(tmp_path / "bin.json")


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    project, _ = _project()
    path = tmp_path / "p.l2i.json"
    save_project(project, path)
    before = path.read_text()

    import layout2im_core.project as mod

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(mod.os, "replace", boom)
    with pytest.raises(ProjectFileError, match="disk full"):
        save_project(Project(), path)
    assert path.read_text() == before  # old file untouched
    assert [p.name for p in tmp_path.iterdir()] == ["p.l2i.json"]  # temp file cleaned up
    data = json.loads(before)
    assert data["version"] == FORMAT_VERSION and data["format"] == "layout2im-project"


def test_minimal_hand_written_file(tmp_path):
    path = tmp_path / "hand.json"
    path.write_text('{"format": "layout2im-project", "version": 1, '
                    '"objects": [{"category": "sky", "bbox": [0, 0, 1, 0.5]}]}')
    p = load_project(path)
    assert p.objects[0] == ProjectObject("sky", (0.0, 0.0, 1.0, 0.5), None, False)
    assert p.model_name == "" and p.meta == {}


def test_project_module_needs_neither_qt_nor_torch():
    code = ("import sys, layout2im_core.project as p; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'app')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- issue 15: hostile project files ---------------------------------------------------------------
def _write(tmp_path, data, name="p.l2i.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _doc(objects=(), meta=None):
    return {"format": "layout2im-project", "version": 1, "model": {"name": "m", "vocabulary_digest": "d"},
            "objects": list(objects), "meta": {} if meta is None else meta}


def test_nan_and_infinity_in_meta_are_repaired_with_a_message_and_the_project_saves(tmp_path):
    text = json.dumps(_doc([{"category": "sea", "bbox": [0, 0, 1, 1]}], {"keep": 1}))
    text = text.replace('"keep": 1', '"keep": 1, "x": NaN, "deep": {"y": [1, -Infinity, 1e999]}')
    project = load_project(_write(tmp_path, text))
    assert project.meta == {"keep": 1, "x": None, "deep": {"y": [1, None, None]}}
    assert len(project.warnings) == 3 and any("meta.x" in w for w in project.warnings)
    assert all("replaced by null" in w for w in project.warnings)
    save_project(project, tmp_path / "again.l2i.json")  # it opened, so it saves
    assert load_project(tmp_path / "again.l2i.json").warnings == ()


@pytest.mark.parametrize("obj, words", [
    ({"category": "sea", "bbox": [0, 0, 1, 1], "z": [1.0, "NaN"]}, "z"),
    ({"category": "sea", "bbox": [0, 0, 1, 1], "z": [1e39]}, "float32"),   # inf in float32
    ({"category": "sea", "bbox": [0, 0, 1, 1], "z": [0.0] * 5000}, "z"),
    ({"category": "s" * 300, "bbox": [0, 0, 1, 1]}, "at most 256"),
    ({"category": "sea", "bbox": "0011"}, "bbox"),
])
def test_bad_objects_are_refused_with_short_messages(tmp_path, obj, words):
    with pytest.raises(ProjectFileError) as e:
        load_project(_write(tmp_path, _doc([obj])))
    assert words in str(e.value) and len(str(e.value)) < 400


def test_non_finite_numbers_in_objects_are_refused(tmp_path):
    text = json.dumps(_doc([{"category": "sea", "bbox": [0, 0, 1, 1], "z": [0.5, 0.25]}])).replace("0.25", "NaN")
    with pytest.raises(ProjectFileError, match="object 0"):
        load_project(_write(tmp_path, text))


def test_saving_a_value_json_cannot_hold_is_a_project_file_error(tmp_path):
    for meta in ({"x": float("nan")}, {"x": {1, 2}}, {"y": [float("inf")]}):
        with pytest.raises(ProjectFileError, match="cannot save"):
            save_project(Project(meta=meta), tmp_path / "p.l2i.json")
    with pytest.raises(ProjectFileError, match="NaN or infinite"):
        save_project(Project(objects=(ProjectObject("sea", (0, 0, 1, 1), (1e39,)),)), tmp_path / "p.l2i.json")
    assert not (tmp_path / "p.l2i.json").exists()


def test_limits_on_size_objects_and_nesting(tmp_path):
    from layout2im_core.project import MAX_OBJECTS, MAX_PROJECT_BYTES

    obj = {"category": "sea", "bbox": [0, 0, 1, 1]}
    assert len(load_project(_write(tmp_path, _doc([obj] * MAX_OBJECTS))).objects) == MAX_OBJECTS
    with pytest.raises(ProjectFileError, match=f"at most {MAX_OBJECTS}"):
        load_project(_write(tmp_path, _doc([obj] * (MAX_OBJECTS + 1))))
    big = tmp_path / "big.l2i.json"
    with open(big, "wb") as f:  # sparse: refused by its size, never read
        f.truncate(MAX_PROJECT_BYTES + 1)
    with pytest.raises(ProjectFileError, match="too large"):
        load_project(big)
    with pytest.raises(ProjectFileError, match="nested too deeply"):
        load_project(_write(tmp_path, _doc([], {"a": json.loads("[" * 100 + "]" * 100)})))
    with pytest.raises(ProjectFileError, match="nested too deeply|corrupt"):
        load_project(_write(tmp_path, "[" * 100000 + "]" * 100000))


def _returns_within(fn, seconds=10.0):
    import threading

    out = {}

    def run():
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "hangs"
    return out.get("error")


def test_fifo_device_and_folder_are_refused_without_hanging(tmp_path):
    import os

    fifo = tmp_path / "pipe.l2i.json"
    os.mkfifo(fifo)
    err = _returns_within(lambda: load_project(fifo))
    assert isinstance(err, ProjectFileError) and "FIFO" in str(err)
    err = _returns_within(lambda: load_project("/dev/zero"))
    assert isinstance(err, ProjectFileError) and "character device" in str(err)
    with pytest.raises(ProjectFileError, match="folder"):
        load_project(tmp_path)


def test_project_names_must_be_short_strings(tmp_path):
    doc = _doc()
    doc["model"] = {"name": {"a": 1}}
    with pytest.raises(ProjectFileError, match="model"):
        load_project(_write(tmp_path, doc))
