"""Reading input files with bounds: only regular files (a FIFO, a device such as ``/dev/zero`` or a
folder is refused before anything is read, so nothing hangs), at most ``max_bytes`` (a bigger file is
refused by its size, not read), and JSON parsed with a nesting limit and an explicit rule for
``NaN``/``Infinity``, which Python's json reads although JSON does not allow them.

Torch-free and Qt-free: the project loader, the model-file loader, the data readers, the CLI and the
app's annotation import use it. Every refusal is an :class:`InputFileError` whose message starts with
the file's path; callers re-raise it as their own documented error type.
"""

from __future__ import annotations

import json
import math
import os
import stat
from typing import Any, List, Optional, Tuple, Union

from .errors import Layout2ImError, clip

PathLike = Union[str, "os.PathLike[str]"]

MAX_JSON_DEPTH = 64  # arrays/objects inside each other; deeper files are refused


class InputFileError(Layout2ImError):
    """An input file is missing, not a regular file, larger than its limit, unreadable, not UTF-8,
    not valid JSON, nested too deeply, or holds NaN/Infinity where they are not allowed."""


class NonFinite:
    """Stand-in for a JSON ``NaN``, ``Infinity``, ``-Infinity`` or a number too large for a double,
    returned by :func:`parse_json` with ``nonfinite="mark"`` so the caller can name where it was."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return clip(self.text, 24)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _size_text(n: int) -> str:
    return f"{n / 2 ** 20:.1f} MiB" if n >= 2 ** 20 else f"{n} bytes"


def check_regular_file(path: PathLike, what: str = "file") -> os.stat_result:
    """Stat ``path`` (following links) and require a regular file.

    Raises:
        InputFileError: missing, a folder, FIFO, device or socket, or not stat-able.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such {what}") from None
    except OSError as e:
        raise InputFileError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{path}: not a regular file ({_kind(st.st_mode)}); give a {what}")
    return st


def read_bytes(path: PathLike, max_bytes: int, what: str = "file") -> bytes:
    """All bytes of a regular file of at most ``max_bytes``.

    The file is opened without blocking (a FIFO swapped in after the check cannot hang the open) and
    checked again on the open descriptor.

    Raises:
        InputFileError: see :func:`check_regular_file`; larger than ``max_bytes``; a read error.
    """
    check_regular_file(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise InputFileError(f"{path}: cannot open the {what} ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(f"{path}: not a regular file ({_kind(st.st_mode)}); give a {what}")
        if st.st_size > max_bytes:
            raise InputFileError(f"{path}: the {what} is too large ({_size_text(st.st_size)}; the limit is "
                                 f"{_size_text(max_bytes)})")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew while we read
                raise InputFileError(f"{path}: the {what} is too large (over {_size_text(max_bytes)})")
        return b"".join(chunks)
    except OSError as e:
        raise InputFileError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    finally:
        os.close(fd)


def read_text(path: PathLike, max_bytes: int, what: str = "file") -> str:
    """:func:`read_bytes` decoded as UTF-8 (a BOM is dropped). Raises InputFileError."""
    data = read_bytes(path, max_bytes, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputFileError(f"{path}: the {what} is not UTF-8 text (byte {e.start})") from None


def json_depth_path(value: Any, max_depth: int = MAX_JSON_DEPTH) -> Optional[str]:
    """None when ``value`` nests at most ``max_depth`` arrays/objects, else the JSON path (e.g.
    ``meta.a[0]...``) where it goes deeper. Iterative: works on any depth."""
    stack: List[Tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        v, depth, where = stack.pop()
        if isinstance(v, dict):
            items = ((f"{where}.{clip(str(k), 20)}" if where else clip(str(k), 20), x) for k, x in v.items())
        elif isinstance(v, list):
            items = ((f"{where}[{i}]", x) for i, x in enumerate(v))
        else:
            continue
        if depth > max_depth:
            return clip(where or "(top level)", 80)
        stack.extend((x, depth + 1, w) for w, x in items)
    return None


def parse_json(text: str, source: str, nonfinite: str = "error", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text.

    Args:
        text: the JSON text.
        source: file name (or a field name) for messages.
        nonfinite: ``"error"``: ``NaN``, ``Infinity`` and numbers beyond a double's range are refused;
            ``"mark"``: they become :class:`NonFinite` objects for the caller to repair or refuse.
        max_depth: most arrays/objects inside each other.

    Raises:
        InputFileError: not JSON, nested deeper than ``max_depth``, or a non-finite number with
            ``nonfinite="error"``.
    """
    def constant(name: str):
        if nonfinite == "mark":
            return NonFinite(name)
        raise ValueError(f"{name} is not a JSON number")

    def number(s: str):
        f = float(s)
        return f if math.isfinite(f) else constant(clip(s, 24))

    try:
        data = json.loads(text, parse_constant=constant, parse_float=number)
    except RecursionError:
        raise InputFileError(f"{source}: nested too deeply (more than {max_depth} levels)") from None
    except ValueError as e:
        raise InputFileError(f"{source}: not valid JSON (corrupt JSON: {clip(str(e), 120)})") from None
    where = json_depth_path(data, max_depth)
    if where is not None:
        raise InputFileError(f"{source}: nested too deeply at {where} (more than {max_depth} levels)")
    return data


def read_json(path: PathLike, max_bytes: int, what: str = "JSON file", nonfinite: str = "error",
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """:func:`read_text` + :func:`parse_json` (the source in messages is ``path``). Raises InputFileError."""
    return parse_json(read_text(path, max_bytes, what), str(path), nonfinite, max_depth)
