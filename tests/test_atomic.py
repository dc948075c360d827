"""The one atomic writer (issue 15 items 2 and 12): writes through symbolic links, keeps the mode of
the file it replaces, leaves the old file whole on any failure, and removes stale temp files of its
own naming; every writer of the product goes through it."""

import ast
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layout2im_core import atomic
from layout2im_core.atomic import TEMP_SUFFIX, atomic_write, remove_stale_temps, resolve_target
from layout2im_core.project import Project, ProjectFileError, ProjectObject, load_project, save_project

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Project(objects=(ProjectObject("sea", (0.0, 0.5, 1.0, 1.0)),))


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_writes_bytes_and_text_and_fsyncs(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    p = tmp_path / "a.bin"
    assert atomic_write(p, b"\x00\x01") == p
    atomic_write(tmp_path / "b.txt", "héllo")
    assert p.read_bytes() == b"\x00\x01" and (tmp_path / "b.txt").read_text(encoding="utf-8") == "héllo"
    assert len(synced) >= 2
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.bin", "b.txt"]  # no temp left


def test_new_file_gets_0666_minus_umask_and_an_existing_file_keeps_its_mode(tmp_path):
    old = os.umask(0o027)
    try:
        fresh = tmp_path / "fresh.json"
        atomic_write(fresh, "{}")
        assert fresh.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
    kept = tmp_path / "kept.json"
    kept.write_text("old")
    kept.chmod(0o604)
    save_project(PROJECT, kept)
    assert kept.stat().st_mode & 0o777 == 0o604 and load_project(kept).objects == PROJECT.objects


def test_saving_through_a_symlink_updates_the_target_and_keeps_the_link(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "scene.l2i.json"
    target.write_text("stale")
    target.chmod(0o640)
    link = tmp_path / "link.l2i.json"
    link.symlink_to(Path("real") / "scene.l2i.json")  # relative link
    save_project(PROJECT, link)
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "scene.l2i.json")
    assert load_project(target).objects == PROJECT.objects
    assert target.stat().st_mode & 0o777 == 0o640
    # a chain of links, and a dangling link (its target is created)
    link2 = tmp_path / "link2.json"
    link2.symlink_to(link)
    assert resolve_target(link2) == target
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(real_dir / "new.json")
    save_project(PROJECT, dangling)
    assert dangling.is_symlink() and (real_dir / "new.json").is_file()


def test_model_file_saved_through_a_symlink(tmp_path):
    from layout2im_core.inference import Layout2ImModel

    target = tmp_path / "models" / "m.safetensors"
    target.parent.mkdir()
    target.write_bytes(b"old")
    target.chmod(0o600)
    link = tmp_path / "current.safetensors"
    link.symlink_to(target)
    Layout2ImModel.random("tiny", seed=0).save(link)
    assert link.is_symlink() and target.stat().st_mode & 0o777 == 0o600
    assert Layout2ImModel.load(link).name == "random"


def test_symlink_loop_and_folder_are_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError) as e:
        atomic_write(a, b"x")
    assert e.value.errno == errno.ELOOP
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, b"x")
    with pytest.raises(ProjectFileError, match="cannot save"):
        save_project(PROJECT, tmp_path)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    from fs_faults import full_disk

    p = tmp_path / "p.l2i.json"
    save_project(PROJECT, p)
    before = p.read_bytes()
    with pytest.MonkeyPatch.context() as mp:
        full_disk(mp)
        with pytest.raises(ProjectFileError, match="No space left"):
            save_project(Project(), p)
    assert p.read_bytes() == before and [x.name for x in tmp_path.iterdir()] == ["p.l2i.json"]

    def boom(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write_with(p, boom)
    assert p.read_bytes() == before and [x.name for x in tmp_path.iterdir()] == ["p.l2i.json"]


def test_files_written_together_stay_as_they_were_when_one_cannot_be_written(tmp_path):
    """``atomic_write_files`` (a model file and its card): a failure while writing the second leaves
    both targets as they were and no temporary file; a success replaces both."""
    a, b = tmp_path / "m.safetensors", tmp_path / "m.md"
    a.write_bytes(b"old model"), b.write_text("old card")
    n = {"writes": 0}
    real_write = atomic._write_all

    def second_fails(payload, f):
        n["writes"] += 1
        if n["writes"] == 2:
            f.write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(payload, f)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(atomic, "_write_all", second_fails)
        with pytest.raises(OSError, match="No space left"):
            atomic.atomic_write_files([(a, b"new model"), (b, "new card")])
    assert a.read_bytes() == b"old model" and b.read_text() == "old card"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["m.md", "m.safetensors"]
    assert atomic.atomic_write_files([(a, b"new model"), (b, "new card")]) == [a, b]
    assert a.read_bytes() == b"new model" and b.read_text() == "new card"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temps_of_our_naming_are_removed_others_kept(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".scene.l2i.json.{dead}-0123abcd{TEMP_SUFFIX}"
    live = tmp_path / f".scene.l2i.json.{os.getpid()}-89abcdef{TEMP_SUFFIX}"
    old_live = tmp_path / f".other.{os.getpid()}-00000000{TEMP_SUFFIX}"
    legacy_old = tmp_path / ".step-00000002.pt.ab12_xYz.tmp"
    legacy_new = tmp_path / ".model.safetensors.Qw3rTy12.tmp"
    foreign = tmp_path / "notes.tmp"
    for p in (stale, live, old_live, legacy_old, legacy_new, foreign):
        p.write_bytes(b"x" * 10)
    past = time.time() - atomic.STALE_AGE_S - 10
    os.utime(old_live, (past, past))
    os.utime(legacy_old, (past, past))
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale.name, old_live.name, legacy_old.name])
    assert live.exists() and legacy_new.exists() and foreign.exists()
    # the next save in that folder cleans up too
    stale.write_bytes(b"x")
    save_project(PROJECT, tmp_path / "scene.l2i.json")
    assert not stale.exists()


def test_make_scenes_cleans_stale_temps_once_not_per_image(tmp_path, monkeypatch):
    """Writing n images must not scan the folder n times (quadratic in n): one clean-up per run."""
    from layout2im_core.data import scenes

    images = tmp_path / "s" / "images"
    images.mkdir(parents=True)
    stale = images / f".000009.png.{_dead_pid()}-0123abcd{TEMP_SUFFIX}"
    stale.write_bytes(b"x")
    scans = []
    real = atomic.remove_stale_temps
    monkeypatch.setattr(atomic, "remove_stale_temps", lambda folder, *a: scans.append(folder) or real(folder, *a))
    monkeypatch.setattr(scenes, "remove_stale_temps", atomic.remove_stale_temps)
    scenes.make_scenes(3, tmp_path / "s", seed=0, size=64, progress=False)
    assert not stale.exists() and len(list(images.glob("*.png"))) == 3
    assert [Path(p) for p in scans].count(images) == 1


def test_trainer_start_cleans_stale_checkpoint_temps(tmp_path):
    from layout2im_core.training.trainer import check_run_dir

    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    (tmp_path / "run" / "config.json").write_text("{}")
    leftover = ck / f".step-00000003.pt.{_dead_pid()}-deadbeef{TEMP_SUFFIX}"
    leftover.write_bytes(b"x" * 1000)
    check_run_dir(tmp_path / "run", resume=True)
    assert not leftover.exists()


def test_every_writer_uses_the_atomic_writer():
    """No module of the core writes a kept file by hand (tempfile + os.replace, write_text, .tmp)."""
    bad = []
    for path in sorted((ROOT / "layout2im_core").rglob("*.py")):
        if path.name == "atomic.py":
            continue
        src = path.read_text()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "mkstemp", "write_text", "write_bytes") \
                    and isinstance(node.value, ast.Name) and node.value.id in ("os", "tempfile"):
                bad.append(f"{path.name}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("write_text", "write_bytes"):
                bad.append(f"{path.name}: .{node.func.attr}()")
        if '".tmp"' in src or "'.tmp'" in src:
            bad.append(f"{path.name}: .tmp")
    assert not bad, bad


def test_devices_and_fifos_are_never_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    before = os.stat("/dev/null")
    for target in (fifo, link, Path("/dev/null")):
        with pytest.raises(OSError, match="not a regular file"):
            atomic_write(target, b"x")
    after = os.stat("/dev/null")
    assert (after.st_rdev, after.st_ino, after.st_mode) == (before.st_rdev, before.st_ino, before.st_mode)
    assert fifo.exists() and not fifo.is_file() and link.is_symlink()
    assert not [p for p in Path("/dev").iterdir() if p.name.endswith(TEMP_SUFFIX)]
