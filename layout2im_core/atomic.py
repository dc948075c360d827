"""The one atomic file writer of the core: every file the product writes for keeps (projects, model
files, training checkpoints, run files, directions, scenes' annotations, metric reports, PNGs of the
CLI) goes through :func:`atomic_write`.

How a write goes:
    1. ``path`` is resolved through symbolic links, so saving to a link updates the file it points to
       and the link stays a link.
    2. The data go to a temporary file beside the target, named ``.<name>.<pid>-<8 hex>.l2i-tmp``,
       created with mode 0666 minus the umask (the kernel applies it), then given the mode of the file
       it replaces when there is one; written, flushed and fsynced.
    3. ``os.replace`` puts it in place (atomic on POSIX: a reader sees the old file or the new one,
       never a mix), then the folder is fsynced (best effort).
    4. On any failure the temporary file is removed and the OSError is raised; the old file is untouched.

Temporary files left by a killed process are *stale*: :func:`remove_stale_temps` deletes those of our
naming in a folder whose process is gone or that are older than ``STALE_AGE_S``; every write runs it in
its folder, and the trainer and the app run it at start-up. Temp files of the older naming
(``.<name>.<8 chars>.tmp``) are removed when older than ``STALE_AGE_S``.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import BinaryIO, Callable, List, Optional, Sequence, Set, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

TEMP_SUFFIX = ".l2i-tmp"
STALE_AGE_S = 3600.0  # a temp file older than this is stale even if its pid is alive (pid reuse)
_TEMP_NAME = re.compile(r"^\..*\.(\d+)-[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + r"$")
_LEGACY_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # tempfile.mkstemp of earlier versions
_MAX_NAME_IN_TEMP = 120  # keeps the temp name under NAME_MAX (255) for long target names


def resolve_target(path: PathLike) -> Path:
    """The file a write to ``path`` must replace: ``path`` with every symbolic link followed (the
    target of a dangling link is created).

    Raises:
        OSError: a symbolic-link loop (ELOOP).
    """
    p = Path(os.path.abspath(os.fspath(path)))
    seen: Set[Path] = set()
    while p.is_symlink():
        if p in seen or len(seen) > 40:
            raise OSError(errno.ELOOP, "too many levels of symbolic links", str(path))
        seen.add(p)
        link = Path(os.readlink(p))
        p = Path(os.path.abspath(p.parent / link))
    # the folders on the way may be links too: that is fine, writing inside them goes through
    return p


def _temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name[:_MAX_NAME_IN_TEMP]}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists under another user (or an absurd number: leave it to the age rule)
    return True


def remove_stale_temps(folder: PathLike, now: Optional[float] = None) -> List[Path]:
    """Delete stale temporary files of our naming in ``folder`` (see the module docstring): ours
    whose writing process is gone or that are older than ``STALE_AGE_S``, and legacy ones older than
    that. Never raises; returns the paths removed."""
    now = time.time() if now is None else now
    removed: List[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = _TEMP_NAME.match(e.name)
        legacy = m is None and _LEGACY_TEMP_NAME.match(e.name) is not None
        if m is None and not legacy:
            continue
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            old = now - e.stat(follow_symlinks=False).st_mtime > STALE_AGE_S
            if old or (m is not None and not _pid_alive(int(m.group(1)))):
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            continue
    return removed


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_with(path: PathLike, write: Callable[[BinaryIO], object], fsync: bool = True,
                      clean_stale: bool = True) -> Path:
    """Atomically replace ``path`` (through symbolic links, keeping its mode) with what ``write``
    writes into the binary file object it is given.

    Args:
        path: the file to write (a link is written through to its target).
        write: called once with an open binary file; may raise (nothing is replaced then).
        fsync: flush the data to disk before the rename (off only for throw-away files).
        clean_stale: first remove stale temporaries of crashed writers from the folder
            (``remove_stale_temps``, a scan of the folder). A caller writing many files into one
            folder calls ``remove_stale_temps`` once itself and passes False.

    Returns:
        The path actually written (``path`` with links resolved).

    Raises:
        OSError: the folder is missing or not writable, the disk is full, ``path`` is a folder, a
            device, FIFO or socket (never replaced), a link loop; the previous file, if any, is left
            as it was. Whatever ``write`` raises.
    """
    tmp, target = _stage(path, write, fsync, clean_stale)
    try:
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if fsync:
        _fsync_dir(target.parent)
    return target


def atomic_write_files(files: Sequence[Tuple[PathLike, Union[bytes, bytearray, memoryview, str]]],
                       fsync: bool = True) -> List[Path]:
    """Replace several files together (a model file and its card): each is first written in full to
    its temporary file beside its target (as :func:`atomic_write_with`); only when all of them are
    written are they renamed into place, in order. A failure while writing (a full disk) removes every
    temporary file and leaves every target as it was. Each rename is atomic; a failure between two
    renames (not a full disk: a rename needs no space) could leave the first replaced alone.

    Returns:
        The paths written, links resolved, in order.

    Raises:
        OSError: as :func:`atomic_write_with`.
    """
    staged: List[Tuple[Path, Path]] = []
    try:
        for path, data in files:
            payload = data.encode("utf-8") if isinstance(data, str) else data
            staged.append(_stage(path, functools.partial(_write_all, payload), fsync, True))
        for tmp, target in staged:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in staged:
            _unlink_quietly(tmp)
        raise
    if fsync:
        for folder in {target.parent for _, target in staged}:
            _fsync_dir(folder)
    return [target for _, target in staged]


def _write_all(payload, f: BinaryIO) -> None:
    f.write(payload)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _stage(path: PathLike, write: Callable[[BinaryIO], object], fsync: bool, clean_stale: bool) -> Tuple[Path, Path]:
    """Write a temporary file beside ``path``'s target (mode of the file it will replace), flushed and
    (with ``fsync``) synced: ``(temporary file, target)``. On failure nothing is left behind."""
    target = resolve_target(path)
    try:
        st = target.stat()
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    if st is not None and not stat.S_ISREG(st.st_mode):  # a device, FIFO or socket is never replaced
        raise OSError(errno.EINVAL, "not a regular file (a device, FIFO or socket); it is never replaced", str(path))
    mode = st.st_mode & 0o7777 if st is not None else None
    folder = target.parent
    if clean_stale:
        remove_stale_temps(folder)
    for _ in range(8):
        tmp = _temp_name(target)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - eight random names taken
        raise FileExistsError(errno.EEXIST, "cannot create a temporary file", str(folder))
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp, target


def atomic_write(path: PathLike, data: Union[bytes, bytearray, memoryview, str], encoding: str = "utf-8",
                 fsync: bool = True) -> Path:
    """Atomically replace ``path`` with ``data`` (``str`` is encoded with ``encoding``); see
    :func:`atomic_write_with`. Returns the path written. Raises OSError (the old file is kept)."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    return atomic_write_with(path, lambda f: f.write(payload), fsync=fsync)
