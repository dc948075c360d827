"""Vocabulary: category names <-> integer ids, stored inside every model file.

Index 0 is always ``__image__`` (the reference reserves it; it is never a real object). Ids follow
the data set: COCO-Stuff keeps its raw, non-contiguous ids (1-182, ``other`` = 183), so the vocabulary
has 184 entries and the ids missing from COCO get placeholder names ``__unused_<id>__``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple, Type, Union

from .errors import Layout2ImError, UnknownCategoryError, clip

IMAGE_TOKEN = "__image__"
_RESOURCES = Path(__file__).resolve().parent / "resources"


def placeholder(idx: int) -> str:
    """Name given to an id that has no category (e.g. COCO's unused id 12)."""
    return f"__unused_{idx}__"


def is_placeholder(name: str) -> bool:
    """True for ``__image__`` and for placeholder names: entries that are never real objects."""
    return name.startswith("__") and name.endswith("__")


@dataclass(frozen=True)
class Vocabulary:
    """Ordered category names; the position of a name is its id.

    Attributes:
        names: tuple of names, ``names[0] == "__image__"``.
    """

    names: Tuple[str, ...]
    _index: Dict[str, int] = field(init=False, repr=False, compare=False)  # name -> id

    def __post_init__(self):
        if not isinstance(self.names, tuple) or not all(isinstance(n, str) for n in self.names):
            raise ValueError("vocabulary names must be a tuple of strings")
        if not self.names or self.names[0] != IMAGE_TOKEN:
            raise ValueError(f"vocabulary must start with {IMAGE_TOKEN!r}")
        real = [n for n in self.names if not is_placeholder(n)]
        if len(set(real)) != len(real):
            dup = sorted({n for n in real if real.count(n) > 1})
            raise ValueError(f"vocabulary has duplicate names: {clip(str(dup[:5]), 120)}")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)

    @property
    def categories(self) -> List[str]:
        """Names of real categories (no ``__image__``, no placeholders), in id order."""
        return [n for n in self.names if not is_placeholder(n)]

    @property
    def category_ids(self) -> List[int]:
        """Ids of real categories, in id order."""
        return [i for i, n in enumerate(self.names) if not is_placeholder(n)]

    def __contains__(self, name: str) -> bool:
        return isinstance(name, str) and name in self._index and not is_placeholder(name)

    def id_of(self, name: str) -> int:
        """Id of a category name. Raises UnknownCategoryError for unknown or placeholder names (and
        anything that is not a string); the message clips long names."""
        if name not in self:
            raise UnknownCategoryError(f"unknown category {clip(repr(name), 60)} (not in this model's "
                                       f"{len(self.categories)}-category vocabulary)", [name])
        return self._index[name]

    def ids_of(self, names: Iterable[str]) -> List[int]:
        """Ids of several names; raises UnknownCategoryError naming every unknown one (``labels``
        holds them all; the message the first ten, each clipped)."""
        names = list(names)
        unknown = sorted({n for n in names if n not in self}, key=lambda n: (str(type(n)), str(n)))
        if unknown:
            shown = ", ".join(clip(repr(n), 60) for n in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise UnknownCategoryError(f"categories not in this model's vocabulary: [{shown}]{more}", unknown)
        return [self._index[n] for n in names]

    def name_of(self, idx: int) -> str:
        """Name of an id. Raises UnknownCategoryError for ids out of range or without a category."""
        if not 0 <= int(idx) < len(self.names) or is_placeholder(self.names[int(idx)]):
            raise UnknownCategoryError(f"unknown category id {idx} (vocabulary has ids 0..{len(self) - 1})",
                                       [str(idx)])
        return self.names[int(idx)]

    def digest(self) -> str:
        """sha256 (hex, first 16 chars) of the names: identifies the vocabulary in project files."""
        return hashlib.sha256(json.dumps(list(self.names)).encode()).hexdigest()[:16]

    def to_dict(self) -> Dict:
        return {"object_idx_to_name": list(self.names)}

    @staticmethod
    def from_dict(d: Dict) -> "Vocabulary":
        """Build from ``{"object_idx_to_name": [...]}`` (our format and sg2im/VG ``vocab.json``)."""
        if "object_idx_to_name" not in d:
            raise ValueError("vocabulary dict lacks 'object_idx_to_name'")
        return Vocabulary(tuple(str(n) for n in d["object_idx_to_name"]))

    @staticmethod
    def from_id_names(id_to_name: Dict[int, str]) -> "Vocabulary":
        """Build from a sparse {id: name} map (ids >= 1); gaps get placeholder names."""
        size = max(id_to_name) + 1 if id_to_name else 1
        names = [IMAGE_TOKEN] + [id_to_name.get(i, placeholder(i)) for i in range(1, size)]
        return Vocabulary(tuple(names))

    @staticmethod
    def from_names(names: Sequence[str]) -> "Vocabulary":
        """Contiguous vocabulary: ``__image__`` then ``names`` as ids 1..len(names)."""
        return Vocabulary((IMAGE_TOKEN,) + tuple(names))

    @staticmethod
    def builtin(name: str) -> "Vocabulary":
        """A vocabulary shipped with the package: ``"coco"`` (COCO-Stuff 2017, 184 entries, raw
        ids) or ``"vg"`` (Visual Genome sg2im vocabulary, 179 entries). Raises KeyError otherwise."""
        files = {"coco": "vocab_coco_stuff.json", "vg": "vocab_visual_genome.json"}
        if name not in files:
            raise KeyError(f"no built-in vocabulary {name!r}; choose one of {sorted(files)}")
        return Vocabulary.from_dict(json.loads((_RESOURCES / files[name]).read_text()))


def read_vocabulary(path: Union[str, Path], max_bytes: int, error: Type[Layout2ImError]) -> Vocabulary:
    """The vocabulary of a sg2im-style ``vocab.json`` (``object_idx_to_name``; 179 entries for Visual
    Genome), read with the bounds of ``input_files.read_json`` (at most ``max_bytes``).

    Raises:
        error (the caller's documented type, e.g. DataError or ModelFileError): the file is missing,
            not a regular file, too large, not JSON, nested too deeply, lacks the field, or its names
            are not a vocabulary. The message names the file.
    """
    from .input_files import InputFileError, read_json

    path = Path(path)
    try:
        data = read_json(path, max_bytes, "vocabulary file")
    except InputFileError as e:
        raise error(str(e)) from None
    if not isinstance(data, dict) or not isinstance(data.get("object_idx_to_name"), list):
        raise error(f"{path}: missing field 'object_idx_to_name' (a list of names)")
    try:
        return Vocabulary.from_dict(data)
    except ValueError as e:
        raise error(f"{path}: field 'object_idx_to_name': {clip(str(e), 160)}") from None
