"""File-system faults for tests, without root or special mounts: a folder that behaves as if it were
on a read-only file system, and writes that fail as on a full disk. Both patch ``os`` functions for
paths under one folder only, so everything else (torch, Qt) runs normally."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def read_only(monkeypatch, folder) -> None:
    """Creating, replacing or removing anything under ``folder`` fails with EROFS."""
    root = os.path.abspath(folder)

    def inside(p) -> bool:
        try:
            return os.path.abspath(os.fspath(p)).startswith(root)
        except TypeError:
            return False

    def guard(real, writes=lambda *a, **kw: True):
        def wrapped(path, *a, **kw):
            if inside(path) and writes(*a, **kw):
                raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))
            return real(path, *a, **kw)
        return wrapped

    real_open = os.open
    monkeypatch.setattr(os, "open", guard(real_open, lambda flags, *a, **kw: bool(flags & (os.O_WRONLY | os.O_RDWR
                                                                                         | os.O_CREAT))))
    monkeypatch.setattr(os, "mkdir", guard(os.mkdir))
    monkeypatch.setattr(os, "unlink", guard(os.unlink))
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        if inside(dst):
            raise OSError(errno.EROFS, "Read-only file system", os.fspath(dst))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)


def full_disk(monkeypatch) -> None:
    """Every write through the atomic writer fails with ENOSPC after writing nothing."""
    import layout2im_core.atomic as atomic

    real_fdopen = os.fdopen

    def fdopen(fd, *a, **kw):
        f = real_fdopen(fd, *a, **kw)

        class Full:
            def __getattr__(self, name):
                return getattr(f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()
                return False

            def write(self, data):
                raise OSError(errno.ENOSPC, "No space left on device")

        return Full()

    monkeypatch.setattr(atomic.os, "fdopen", fdopen)


def files_under(folder) -> list:
    """Every file under ``folder`` (relative paths, sorted), temp files included."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())
