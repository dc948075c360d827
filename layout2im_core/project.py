"""The versioned JSON project file of Layout2Im Studio, readable without Qt and without torch.

A project is an ordered list of objects (the order is the model's fusion order), each with a category
name, a bbox, an appearance code ``z`` and a lock flag, plus the identity of the model it was made
with (name and vocabulary digest). The CLI renders project files too, through :meth:`Project.to_layout`.

File layout (``version`` 1)::

    {
      "format": "layout2im-project",
      "version": 1,
      "model": {"name": "scenes64", "vocabulary_digest": "0123abcd..."},
      "objects": [
        {"category": "sky", "bbox": [0.0, 0.0, 1.0, 0.4], "z": [0.12, -1.5, ...], "locked": false},
        ...
      ],
      "meta": {}
    }

``bbox`` is (x0, y0, x1, y1) in [0, 1]. ``z`` is a list of float32 values written as the shortest
decimal that reads back as the same double, so a float32 survives save -> load bit-exactly; ``z`` may
be ``null`` or absent ("draw one at random"). ``locked`` defaults to false, ``meta`` to {} (free-form,
kept as is). Saves are atomic (``atomic.atomic_write``: through symbolic links, keeping the file's mode).

Limits (refused with a ProjectFileError naming the limit; docs/bad-input.md): a file of at most
``MAX_PROJECT_BYTES``, at most ``MAX_OBJECTS`` objects, category names of at most ``MAX_NAME_CHARS``
characters, ``z`` of at most ``MAX_Z_VALUES`` values, JSON nested at most ``input_files.MAX_JSON_DEPTH``
levels; only regular files are read (a FIFO or device is refused before reading). ``NaN``,
``Infinity`` and numbers beyond a double's range (which Python's json reads) are refused in the
objects; in ``meta`` they are replaced by ``null`` and listed in :attr:`Project.warnings`, so a project
that opens can always be saved.
"""

from __future__ import annotations

import json
import math
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .atomic import atomic_write
from .boxes import as_bbox
from .errors import Layout2ImError, clip, value_text
from .input_files import InputFileError, NonFinite, parse_json, read_text
from .types import BBox, LayoutSpec, ObjectSpec

FORMAT_NAME = "layout2im-project"
FORMAT_VERSION = 1
FILE_SUFFIX = ".l2i.json"
MAX_PROJECT_BYTES = 8 * 2 ** 20  # a project of MAX_OBJECTS objects with 64-value z and looks is ~2 MiB
MAX_OBJECTS = 1000  # opening this many blocks the app's GUI thread for well under a second
MAX_NAME_CHARS = 256  # category and model names
MAX_Z_VALUES = 4096

PathLike = Union[str, "os.PathLike[str]"]


class ProjectFileError(Layout2ImError):
    """A project file is missing, unreadable, not JSON, not a project, of a newer format version, or
    has an invalid field. The message names the file and the offending field or object index."""


def to_float32_tuple(values: Sequence[float]) -> Tuple[float, ...]:
    """Round each value to float32 and return them as Python floats (exactly representable)."""
    return tuple(array("f", [float(v) for v in values]))


@dataclass(frozen=True)
class ProjectObject:
    """One object of a project.

    Attributes:
        category: category name (kept even when the current model does not know it).
        bbox: (x0, y0, x1, y1) floats in [0, 1], x0 < x1, y0 < y1.
        z: appearance code as float32 values (tuple of Python floats), or None for "random".
        locked: the object's look is locked (re-rolls leave its z alone).
    """

    category: str
    bbox: BBox
    z: Optional[Tuple[float, ...]] = None
    locked: bool = False

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict of this object."""
        return {"category": self.category, "bbox": [float(v) for v in self.bbox],
                "z": None if self.z is None else list(to_float32_tuple(self.z)),
                "locked": bool(self.locked)}


@dataclass(frozen=True)
class Project:
    """A layout project: ordered objects (fusion order) and the identity of its model.

    Attributes:
        objects: objects in fusion order (``objects[0]`` fused first).
        model_name: name of the model the project was made with ("" when none).
        vocabulary_digest: ``Vocabulary.digest()`` of that model ("" when none).
        version: format version the project was read from (saves always write FORMAT_VERSION).
        meta: free-form extra data, kept as is.
        warnings: what loading repaired (e.g. a NaN in ``meta`` replaced by null), one line each;
            empty for a clean file. Not saved, not compared.
    """

    objects: Tuple[ProjectObject, ...] = ()
    model_name: str = ""
    vocabulary_digest: str = ""
    version: int = FORMAT_VERSION
    meta: Dict[str, Any] = field(default_factory=dict)
    warnings: Tuple[str, ...] = field(default=(), compare=False)

    def to_layout(self) -> LayoutSpec:
        """The project's objects as a LayoutSpec (same order, bboxes and z)."""
        return LayoutSpec(tuple(ObjectSpec(o.category, o.bbox, o.z) for o in self.objects))

    @staticmethod
    def from_layout(layout: LayoutSpec, model_name: str = "", vocabulary_digest: str = "") -> "Project":
        """A project holding the objects of ``layout`` (unlocked)."""
        objs = tuple(ProjectObject(o.category, as_bbox(o.bbox), None if o.z is None else to_float32_tuple(o.z))
                     for o in layout.objects)
        return Project(objs, model_name, vocabulary_digest)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict of the whole project (always the current format version)."""
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "model": {"name": self.model_name, "vocabulary_digest": self.vocabulary_digest},
                "objects": [o.to_dict() for o in self.objects], "meta": dict(self.meta)}

    @staticmethod
    def from_dict(data: Any, source: str = "project") -> "Project":
        """Validate and build a project from its dict form.

        Non-finite numbers in ``meta`` (float NaN/inf, or :class:`~layout2im_core.input_files.NonFinite`
        marks from :func:`load_project`) are replaced by None and reported in ``warnings``.

        Raises:
            ProjectFileError: not a project, a newer version, more than ``MAX_OBJECTS`` objects, or an
                invalid field (message names ``source`` and the field).
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ProjectFileError(f"{source}: not a Layout2Im project file (no \"format\": \"{FORMAT_NAME}\")")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProjectFileError(f"{source}: invalid format version {value_text(version)}")
        if version > FORMAT_VERSION:
            raise ProjectFileError(f"{source}: made by a newer Layout2Im Studio (format version {version}; "
                                   f"this one reads up to {FORMAT_VERSION})")
        model = data.get("model") or {}
        if not isinstance(model, dict):
            raise ProjectFileError(f"{source}: \"model\" must be an object")
        objects = data.get("objects", [])
        if not isinstance(objects, list):
            raise ProjectFileError(f"{source}: \"objects\" must be a list")
        if len(objects) > MAX_OBJECTS:
            raise ProjectFileError(f"{source}: {len(objects)} objects; a project holds at most {MAX_OBJECTS}")
        meta = data.get("meta") or {}
        if not isinstance(meta, dict):
            raise ProjectFileError(f"{source}: \"meta\" must be an object")
        names = [_optional_name(model.get(k), f"{source}: \"model\".\"{k}\"") for k in ("name", "vocabulary_digest")]
        objs = tuple(_object_from_dict(o, i, source) for i, o in enumerate(objects))
        repaired: List[Tuple[str, str]] = []
        try:
            meta = _finite_json(meta, "meta", repaired)
        except RecursionError:
            raise ProjectFileError(f"{source}: \"meta\" is nested too deeply") from None
        warnings = tuple(f"{source}: {where} was {what}, not a JSON number; replaced by null"
                         for where, what in repaired[:20])
        if len(repaired) > 20:
            warnings += (f"{source}: {len(repaired) - 20} more non-finite values in meta replaced by null",)
        return Project(objs, names[0], names[1], version, meta, warnings)


def _optional_name(v: Any, where: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, str) or len(v) > MAX_NAME_CHARS:
        raise ProjectFileError(f"{where} must be a string of at most {MAX_NAME_CHARS} characters, "
                               f"got {value_text(v, 40)}")
    return v


def _finite_json(value: Any, where: str, repaired: list) -> Any:
    """``value`` with every non-finite number (float NaN/inf or a NonFinite mark) replaced by None;
    ``repaired`` gets (path, text) of each. Depth is bounded by the loader (MAX_JSON_DEPTH)."""
    if isinstance(value, NonFinite) or (isinstance(value, float) and not math.isfinite(value)):
        repaired.append((where, repr(value)))
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v, f"{where}.{clip(str(k), 24)}", repaired) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v, f"{where}[{i}]", repaired) for i, v in enumerate(value)]
    return value


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(v)
    return float(v)


def _object_from_dict(d: Any, index: int, source: str) -> ProjectObject:
    where = f"{source}: object {index}"
    if not isinstance(d, dict):
        raise ProjectFileError(f"{where} must be an object")
    category = d.get("category")
    if not isinstance(category, str) or not category.strip() or len(category) > MAX_NAME_CHARS:
        raise ProjectFileError(f"{where}: \"category\" must be a non-empty string of at most {MAX_NAME_CHARS} "
                               f"characters, got {value_text(category, 40)}")
    bbox = d.get("bbox")
    try:
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise ValueError(bbox)
        x0, y0, x1, y1 = (_number(v) for v in bbox)
    except ValueError:
        raise ProjectFileError(f"{where}: \"bbox\" must be 4 finite numbers, got {value_text(bbox)}") from None
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise ProjectFileError(f"{where}: \"bbox\" {value_text(bbox)} must satisfy 0 <= x0 < x1 <= 1 and "
                               f"0 <= y0 < y1 <= 1")
    z = d.get("z")
    if z is not None:
        try:
            if not isinstance(z, list) or not z or len(z) > MAX_Z_VALUES:
                raise ValueError(z)
            z = to_float32_tuple([_number(v) for v in z])
            if not all(math.isfinite(v) for v in z):
                raise ValueError(z)
        except (ValueError, OverflowError):
            raise ProjectFileError(f"{where}: \"z\" must be a list of 1 to {MAX_Z_VALUES} finite float32 numbers "
                                   f"(|z| < 3.4e38) or null") from None
    locked = d.get("locked", False)
    if not isinstance(locked, bool):
        raise ProjectFileError(f"{where}: \"locked\" must be true or false, got {value_text(locked)}")
    return ProjectObject(category, (x0, y0, x1, y1), z, locked)


def load_project(path: PathLike) -> Project:
    """Read a project file (limits in the module docstring).

    Returns:
        The project; its ``warnings`` list what was repaired (non-finite numbers in ``meta``).

    Raises:
        ProjectFileError: the file is missing, not a regular file, over ``MAX_PROJECT_BYTES``,
            unreadable, not UTF-8 JSON, nested too deeply, not a project, of a newer format version,
            or has an invalid field. The message names the file.
    """
    p = Path(path)
    try:
        data = parse_json(read_text(p, MAX_PROJECT_BYTES, "project file"), str(p), nonfinite="mark")
    except InputFileError as e:
        raise ProjectFileError(str(e)) from None
    return Project.from_dict(data, str(p))


def dumps_project(project: Project) -> str:
    """The project serialised as JSON text (what :func:`save_project` writes).

    Raises:
        ProjectFileError: a value JSON cannot hold (NaN or infinite numbers, objects that are not
            JSON data); the message names where.
    """
    try:
        data = project.to_dict()
        bad: List[Tuple[str, str]] = []
        _finite_json(data, "project", bad)
    except (TypeError, ValueError, OverflowError, RecursionError) as e:
        raise ProjectFileError(f"cannot save the project: it holds a value JSON cannot store "
                               f"({clip(str(e), 100)})") from None
    if bad:
        where = ", ".join(w for w, _ in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ProjectFileError(f"cannot save the project: {where} is NaN or infinite, which JSON cannot hold")
    try:
        return json.dumps(data, indent=1, allow_nan=False) + "\n"
    except (TypeError, ValueError, RecursionError) as e:
        raise ProjectFileError(f"cannot save the project: it holds a value JSON cannot store "
                               f"({clip(str(e), 100)})") from None


def file_mode_for(path: PathLike) -> int:
    """Permission bits for (re)writing ``path``: those of the existing file, else ``0o666`` less the
    process umask (what ``open(path, "w")`` gives a new file)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask can only be read by setting it)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_project(project: Project, path: PathLike) -> None:
    """Write a project file atomically (``atomic.atomic_write``: a temporary file beside it, fsync,
    rename; a symbolic link is written through to its target; an existing file keeps its mode).

    Raises:
        ProjectFileError: a value JSON cannot hold (see :func:`dumps_project`), the folder is missing or
            not writable, the path is a folder, or the disk is full; the previous file, if any, is left
            untouched.
    """
    p = Path(path)
    text = dumps_project(project)
    try:
        atomic_write(p, text)
    except OSError as e:
        raise ProjectFileError(f"{p}: cannot save the project ({e.strerror or e})") from None
