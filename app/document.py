"""The layout document: ordered objects with a bbox, category, z and lock flag. Qt-free.

Widgets never change objects behind the document's back: they call its methods (through undo
commands in ``commands.py``, or directly for the live preview of a drag) and redraw when it notifies
them. Each object has a ``uid`` that stays the same through every edit, undo and redo, so views can
map objects to their items.

Listeners get a :class:`DocEvent` whose ``kind`` (:data:`EventKind`) is one of:
    ``reset``      everything changed (new / opened document)
    ``structure``  objects were inserted, removed or reordered
    ``geometry``   only bboxes changed (a drag: views that do not draw boxes may ignore it)
    ``attrs``      category or lock flag changed (maybe z too)
    ``look``       only the look changed (z, base z, seed): views that do not show it may ignore it
Events are sent only for a real change, and name only the objects that changed (``uids``), so views
redraw just those: an undo command's first ``redo`` that re-applies what a drag preview already
shows sends nothing, and so causes no second refresh or render.

Per-object look state beyond ``z`` and ``locked`` (the base code of the sliders and the seed, see
``appearance.py``) is saved in the project's ``meta["looks"]``: a list in object order of
``{"base_z": [...] | null, "seed": int | null}`` (the project format keeps no other per-object fields).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterable, List, Literal, Optional, Sequence, Tuple

from layout2im_core.project import Project, ProjectObject, to_float32_tuple
from layout2im_core.types import BBox, LayoutSpec, ObjectSpec

_uids = itertools.count(1)
LOOKS_KEY = "looks"  # project meta key of the per-object base z and seed
EventKind = Literal["reset", "structure", "geometry", "attrs", "look"]


def new_uid() -> int:
    """A fresh object uid, unique in this process."""
    return next(_uids)


@dataclass(frozen=True)
class DocObject:
    """One object of the document (immutable: edits replace it).

    Attributes:
        uid: identity of the object within this process.
        category: category name (may be unknown to the loaded model; kept, flagged).
        bbox: (x0, y0, x1, y1) in [0, 1].
        z: appearance code (float32 values as Python floats) or None (random with the render seed).
        locked: the object's look is locked (re-rolls, pastes, sliders leave z alone).
        base_z: base code of the look sliders (None: ``z`` itself, all sliders at 0).
        seed: the seed ``base_z`` was sampled with (``sample_z(1, seed)``), None when it came
            from elsewhere (a photo, a variation of unknown seed, a file).
    """

    uid: int
    category: str
    bbox: BBox
    z: Optional[Tuple[float, ...]] = None
    locked: bool = False
    base_z: Optional[Tuple[float, ...]] = None
    seed: Optional[int] = None

    def with_(self, **changes) -> "DocObject":
        """A copy with fields replaced (bbox, z and base_z are normalised to tuples of floats)."""
        if "bbox" in changes:
            changes["bbox"] = tuple(float(v) for v in changes["bbox"])
        for key in ("z", "base_z"):
            if changes.get(key) is not None:
                changes[key] = to_float32_tuple(changes[key])
        return replace(self, **changes)

    def with_look(self, z, base_z=None, seed: Optional[int] = None) -> "DocObject":
        """A copy with a new look: ``z`` with its base (None: ``z`` itself, sliders at 0) and seed."""
        return self.with_(z=z, base_z=base_z, seed=seed)

    @property
    def look(self) -> Tuple:
        """(z, base_z, seed): what copy/paste of a look carries."""
        return (self.z, self.base_z, self.seed)


@dataclass(frozen=True)
class DocEvent:
    """What changed: ``kind`` (see module docstring) and the uids concerned (empty for reset)."""

    kind: EventKind
    uids: Tuple[int, ...] = ()


@dataclass(frozen=True)
class LayoutBuild:
    """A document turned into a renderable layout.

    Attributes:
        layout: the objects the model can render, in fusion order.
        unknown: uids skipped because the model does not know their category.
        z_mismatch: uids whose z does not fit the model's z size (rendered with a random z).
    """

    layout: LayoutSpec
    unknown: Tuple[int, ...] = ()
    z_mismatch: Tuple[int, ...] = ()


class Document:
    """Ordered objects (fusion order: index 0 is fused first) and change notification."""

    def __init__(self) -> None:
        self._objects: List[DocObject] = []
        self._listeners: List[Callable[[DocEvent], None]] = []
        self.model_name = ""
        self.vocabulary_digest = ""
        self.meta: Dict = {}

    # ---- reading -------------------------------------------------------------------------------
    @property
    def objects(self) -> Tuple[DocObject, ...]:
        """All objects in fusion order."""
        return tuple(self._objects)

    def __len__(self) -> int:
        return len(self._objects)

    def uids(self) -> List[int]:
        """Uids in fusion order."""
        return [o.uid for o in self._objects]

    def get(self, uid: int) -> DocObject:
        """The object with ``uid`` (KeyError if absent)."""
        for o in self._objects:
            if o.uid == uid:
                return o
        raise KeyError(uid)

    def index_of(self, uid: int) -> int:
        """Position of ``uid`` in fusion order (KeyError if absent)."""
        for i, o in enumerate(self._objects):
            if o.uid == uid:
                return i
        raise KeyError(uid)

    def __contains__(self, uid: int) -> bool:
        return any(o.uid == uid for o in self._objects)

    # ---- listeners -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[DocEvent], None]) -> None:
        """Call ``listener(event)`` after every change."""
        self._listeners.append(listener)

    def _notify(self, kind: EventKind, uids: Iterable[int] = ()) -> None:
        event = DocEvent(kind, tuple(uids))
        for fn in list(self._listeners):
            fn(event)

    # ---- changes (called by undo commands and drag previews) ------------------------------------
    def insert(self, items: Sequence[Tuple[int, DocObject]]) -> None:
        """Insert objects at indices, in the given order (each index counts the ones before)."""
        for index, obj in items:
            self._objects.insert(max(0, min(index, len(self._objects))), obj)
        if items:
            self._notify("structure", [o.uid for _, o in items])

    def remove(self, uids: Iterable[int]) -> List[Tuple[int, DocObject]]:
        """Remove objects; returns (index, object) pairs in ascending index, ready for ``insert``."""
        wanted = set(uids)
        removed = [(i, o) for i, o in enumerate(self._objects) if o.uid in wanted]
        self._objects = [o for o in self._objects if o.uid not in wanted]
        if removed:
            self._notify("structure", [o.uid for _, o in removed])
        return removed

    def replace(self, objects: Sequence[DocObject]) -> None:
        """Replace objects by uid with new versions (same uids); the event names those that changed
        (none: no event)."""
        new = {o.uid: o for o in objects}
        attrs = look = geometry = False
        changed = set()
        for i, o in enumerate(self._objects):
            n = new.get(o.uid)
            if n is None or n == o:
                continue
            attrs |= (n.category, n.locked) != (o.category, o.locked)
            look |= n.look != o.look
            geometry |= n.bbox != o.bbox
            self._objects[i] = n
            changed.add(o.uid)
        if changed:
            kind: EventKind = "attrs" if attrs or (look and geometry) else "look" if look else "geometry"
            self._notify(kind, [u for u in new if u in changed])

    def set_bboxes(self, bboxes: Dict[int, BBox]) -> None:
        """Set the bbox of several objects (the live preview of a drag uses this)."""
        self.replace([self.get(uid).with_(bbox=b) for uid, b in bboxes.items()])

    def set_order(self, uids: Sequence[int]) -> None:
        """Reorder: ``uids`` must be a permutation of the current uids."""
        if sorted(uids) != sorted(self.uids()):
            raise ValueError("set_order needs a permutation of the document's uids")
        if list(uids) == self.uids():
            return
        by_uid = {o.uid: o for o in self._objects}
        self._objects = [by_uid[u] for u in uids]
        self._notify("structure", uids)

    def reset(self, objects: Sequence[DocObject] = (), model_name: str = "", vocabulary_digest: str = "",
              meta: Optional[Dict] = None) -> None:
        """Replace the whole content (new or opened document)."""
        self._objects = list(objects)
        self.model_name, self.vocabulary_digest = model_name, vocabulary_digest
        self.meta = {k: v for k, v in (meta or {}).items() if k != LOOKS_KEY}  # the objects hold those
        self._notify("reset")

    # ---- conversion ----------------------------------------------------------------------------
    def to_project(self, model_name: Optional[str] = None, vocabulary_digest: Optional[str] = None) -> Project:
        """The document as a Project (model identity defaults to the document's own)."""
        objs = tuple(ProjectObject(o.category, o.bbox, o.z, o.locked) for o in self._objects)
        meta = dict(self.meta)
        looks = [{"base_z": None if o.base_z is None else list(o.base_z), "seed": o.seed} for o in self._objects]
        if any(d["base_z"] is not None or d["seed"] is not None for d in looks):
            meta[LOOKS_KEY] = looks
        return Project(objs, self.model_name if model_name is None else model_name,
                       self.vocabulary_digest if vocabulary_digest is None else vocabulary_digest,
                       meta=meta)

    @staticmethod
    def objects_from_project(project: Project) -> List[DocObject]:
        """Fresh DocObjects (new uids) for a project's objects (with their base z and seed from
        ``meta["looks"]`` when it fits; anything unreadable there is ignored)."""
        looks = project.meta.get(LOOKS_KEY)
        if not isinstance(looks, list) or len(looks) != len(project.objects):
            looks = [None] * len(project.objects)
        out = []
        for o, look in zip(project.objects, looks):
            base, seed = _read_look(look, o.z)
            out.append(DocObject(new_uid(), o.category, o.bbox, o.z, o.locked, base, seed))
        return out

    def load_project(self, project: Project) -> None:
        """Replace the content with a project's."""
        self.reset(self.objects_from_project(project), project.model_name, project.vocabulary_digest,
                   project.meta)

    def to_layout(self, known: Optional[Iterable[str]] = None, z_dim: Optional[int] = None) -> LayoutBuild:
        """The renderable layout: objects of unknown category are left out, a z of the wrong size is
        replaced by None (random). ``known=None`` keeps every category."""
        known_set = None if known is None else set(known)
        specs, unknown, mismatch = [], [], []
        for o in self._objects:
            if known_set is not None and o.category not in known_set:
                unknown.append(o.uid)
                continue
            z = o.z
            if z is not None and z_dim is not None and len(z) != z_dim:
                mismatch.append(o.uid)
                z = None
            specs.append(ObjectSpec(o.category, o.bbox, z))
        return LayoutBuild(LayoutSpec(tuple(specs)), tuple(unknown), tuple(mismatch))


SEED_LIMIT = 2 ** 63  # seeds of looks are whole numbers in [0, SEED_LIMIT)


def _read_look(look, z) -> Tuple[Optional[Tuple[float, ...]], Optional[int]]:
    """(base_z, seed) from one ``meta["looks"]`` entry; (None, None) for anything unusable (a base_z
    of the wrong size or with values that are not finite in float32, e.g. 1e308)."""
    if not isinstance(look, dict) or z is None:
        return None, None
    base, seed = look.get("base_z"), look.get("seed")
    try:
        ok = isinstance(base, list) and len(base) == len(z) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in base)
        base = to_float32_tuple(base) if ok and isinstance(base, list) else None
        if base is not None and not all(math.isfinite(v) for v in base):
            base = None
    except (TypeError, ValueError, OverflowError):
        base = None
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < SEED_LIMIT else None
    return base, seed


def look_repairs(project: Project) -> List[str]:
    """What loading ``project``'s ``meta["looks"]`` drops, one line each (at most 10): entries whose
    ``base_z`` or ``seed`` is given but unusable. Empty when the looks are fine or absent."""
    looks = project.meta.get(LOOKS_KEY)
    if looks is None:
        return []
    if not isinstance(looks, list) or len(looks) != len(project.objects):
        return ["meta.looks does not list one look per object; the slider bases were reset"]
    out = []
    for i, (o, look) in enumerate(zip(project.objects, looks)):
        if not isinstance(look, dict):
            continue
        base, seed = _read_look(look, o.z)
        if (look.get("base_z") is not None and base is None) or (look.get("seed") is not None and seed is None):
            out.append(f"object {i}: its look's base or seed was unusable and was reset")
    return out[:10] + ([f"and {len(out) - 10} more looks reset"] if len(out) > 10 else [])

