"""Argument checking shared by the ``layout2im`` subcommands: the parser whose errors are one line,
argparse ``type=`` functions with ranges (a bad value exits 2 before any work), and the checks of
output folders and files that run before a command starts its work. See docs/bad-input.md.
"""

from __future__ import annotations

import argparse
import errno
import os
import secrets
from pathlib import Path
from typing import Callable, Optional

from .atomic import TEMP_SUFFIX
from .errors import Layout2ImError, clip

MAX_SEED = 2 ** 63 - 1
MAX_NAME_CHARS = 256  # model names (the model-file loader refuses longer ones)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit status 2), naming the
    argument and pointing at ``--help``; offending values are clipped."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        text = " ".join(clip(message, 300).split())
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def int_range(lo: int, hi: Optional[int] = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi] (``hi`` None: no upper bound). "1e3" is read as
    1000; "1.5", "abc" and values out of range are refused with the range in the message."""
    span = f"from {lo} to {hi}" if hi is not None else f">= {lo}"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            try:
                f = float(text)
            except ValueError:
                f = None
            if f is None or not f.is_integer():
                raise argparse.ArgumentTypeError(f"expected a whole number {span}, got {clip(repr(text), 40)}") \
                    from None
            v = int(f)
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be a whole number {span}, got {v}")
        return v

    parse.__name__ = "whole number"
    return parse


def device_name(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:<index>`` (whether this machine has it
    is checked when the model or trainer starts: DeviceError)."""
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"unknown device {clip(repr(text), 40)}; choose auto, cpu, cuda or cuda:<index>")


def model_name(text: str) -> str:
    """An argparse type: a model name of 1 to ``MAX_NAME_CHARS`` characters."""
    if not text or len(text) > MAX_NAME_CHARS:
        raise argparse.ArgumentTypeError(f"a model name has 1 to {MAX_NAME_CHARS} characters")
    return text


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder`` (named like the atomic writer's temps, so a leftover is
    cleaned up as stale): the only test of writability that holds for root and read-only mounts."""
    probe = folder / f".write-probe.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.unlink(probe)


def ensure_writable_dir(path, what: str = "output folder") -> Path:
    """Create ``path`` (and its parents) if needed and prove it writable by writing a probe file.

    Raises:
        Layout2ImError: the path is empty, exists as a file, cannot be created, or cannot be written
            (read-only, no permission, no space); the message names the folder and the reason.
    """
    if not os.fspath(path).strip():
        raise Layout2ImError(f"{what}: give a folder (the path is empty)")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise Layout2ImError(f"{what} {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise Layout2ImError(f"cannot create {what} {path}: {e.strerror or e}") from None
    try:
        _probe(path)
    except OSError as e:
        reason = "read-only file system" if e.errno == errno.EROFS else (e.strerror or str(e))
        raise Layout2ImError(f"{what} {path} is not writable: {reason}") from None
    return path


def ensure_output_file(path, what: str = "output file") -> Path:
    """Check, before any work, that ``path`` can be written as a file: not an existing folder, its
    folder created if needed and writable. Returns ``path``.

    Raises:
        Layout2ImError: ``path`` is empty, a folder, a device, FIFO or socket, or its folder cannot be
            created or written.
    """
    text = os.fspath(path)
    path = Path(text)
    if not text.strip():
        raise Layout2ImError(f"{what}: give a file name (the path is empty)")
    if path.is_dir():
        raise Layout2ImError(f"{what} {path} is a folder; give a file name")
    if text.endswith(os.sep) or path.name in ("", ".", ".."):
        raise Layout2ImError(f"{what} {clip(text, 80)}: give a file name, not a folder")
    if path.exists() and not path.is_file():
        raise Layout2ImError(f"{what} {path} is not a regular file (a device, FIFO or socket); give a file name")
    ensure_writable_dir(path.resolve().parent, f"folder of the {what}")
    return path
