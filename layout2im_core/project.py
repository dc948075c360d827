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
kept as is). Saves are atomic: a temporary file in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from .errors import Layout2ImError
from .types import BBox, LayoutSpec, ObjectSpec

FORMAT_NAME = "layout2im-project"
FORMAT_VERSION = 1
FILE_SUFFIX = ".l2i.json"

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
    """

    objects: Tuple[ProjectObject, ...] = ()
    model_name: str = ""
    vocabulary_digest: str = ""
    version: int = FORMAT_VERSION
    meta: Dict[str, Any] = field(default_factory=dict)

    def to_layout(self) -> LayoutSpec:
        """The project's objects as a LayoutSpec (same order, bboxes and z)."""
        return LayoutSpec(tuple(ObjectSpec(o.category, tuple(o.bbox), o.z) for o in self.objects))

    @staticmethod
    def from_layout(layout: LayoutSpec, model_name: str = "", vocabulary_digest: str = "") -> "Project":
        """A project holding the objects of ``layout`` (unlocked)."""
        objs = tuple(ProjectObject(o.category, tuple(float(v) for v in o.bbox),
                                   None if o.z is None else to_float32_tuple(o.z)) for o in layout.objects)
        return Project(objs, model_name, vocabulary_digest)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready dict of the whole project (always the current format version)."""
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                "model": {"name": self.model_name, "vocabulary_digest": self.vocabulary_digest},
                "objects": [o.to_dict() for o in self.objects], "meta": dict(self.meta)}

    @staticmethod
    def from_dict(data: Any, source: str = "project") -> "Project":
        """Validate and build a project from its dict form.

        Raises:
            ProjectFileError: not a project, a newer version, or an invalid field (message names
                ``source`` and the field).
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ProjectFileError(f"{source}: not a Layout2Im project file (no \"format\": \"{FORMAT_NAME}\")")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProjectFileError(f"{source}: invalid format version {version!r}")
        if version > FORMAT_VERSION:
            raise ProjectFileError(f"{source}: made by a newer Layout2Im Studio (format version {version}; "
                                   f"this one reads up to {FORMAT_VERSION})")
        model = data.get("model") or {}
        if not isinstance(model, dict):
            raise ProjectFileError(f"{source}: \"model\" must be an object")
        objects = data.get("objects", [])
        if not isinstance(objects, list):
            raise ProjectFileError(f"{source}: \"objects\" must be a list")
        meta = data.get("meta") or {}
        if not isinstance(meta, dict):
            raise ProjectFileError(f"{source}: \"meta\" must be an object")
        objs = tuple(_object_from_dict(o, i, source) for i, o in enumerate(objects))
        return Project(objs, str(model.get("name") or ""), str(model.get("vocabulary_digest") or ""),
                       version, meta)


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(v)
    return float(v)


def _object_from_dict(d: Any, index: int, source: str) -> ProjectObject:
    where = f"{source}: object {index}"
    if not isinstance(d, dict):
        raise ProjectFileError(f"{where} must be an object")
    category = d.get("category")
    if not isinstance(category, str) or not category.strip():
        raise ProjectFileError(f"{where}: \"category\" must be a non-empty string, got {category!r}")
    bbox = d.get("bbox")
    try:
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            raise ValueError(bbox)
        x0, y0, x1, y1 = (_number(v) for v in bbox)
    except ValueError:
        raise ProjectFileError(f"{where}: \"bbox\" must be 4 finite numbers, got {bbox!r}") from None
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise ProjectFileError(f"{where}: \"bbox\" {bbox!r} must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    z = d.get("z")
    if z is not None:
        try:
            if not isinstance(z, list) or not z:
                raise ValueError(z)
            z = to_float32_tuple([_number(v) for v in z])
            if not all(math.isfinite(v) for v in z):
                raise ValueError(z)
        except ValueError:
            raise ProjectFileError(f"{where}: \"z\" must be a non-empty list of finite float32 numbers or null") from None
    locked = d.get("locked", False)
    if not isinstance(locked, bool):
        raise ProjectFileError(f"{where}: \"locked\" must be true or false, got {locked!r}")
    return ProjectObject(category, (x0, y0, x1, y1), z, locked)


def load_project(path: PathLike) -> Project:
    """Read a project file.

    Raises:
        ProjectFileError: the file is missing or unreadable, not UTF-8 JSON, not a project, of a newer
            format version, or has an invalid field. The message names the file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectFileError(f"{p}: no such project file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProjectFileError(f"{p}: cannot read the project file ({e})") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ProjectFileError(f"{p}: not a valid project file (corrupt JSON: {e})") from None
    return Project.from_dict(data, str(p))


def dumps_project(project: Project) -> str:
    """The project serialised as JSON text (what :func:`save_project` writes)."""
    return json.dumps(project.to_dict(), indent=1, allow_nan=False) + "\n"


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
    """Write a project file atomically: a temporary file in the same folder, fsync, then os.replace.
    The file keeps the mode of the file it replaces; a new one gets the user's usual mode (umask).

    Raises:
        ProjectFileError: the folder is not writable or the disk is full; the previous file, if any,
            is left untouched.
    """
    p = Path(path)
    text = dumps_project(project)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=str(p.parent or Path(".")))
        if hasattr(os, "fchmod"):  # mkstemp makes 0600; the file gets the mode a plain write would give
            os.fchmod(fd, file_mode_for(p))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as e:
        raise ProjectFileError(f"{p}: cannot save the project ({e})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
