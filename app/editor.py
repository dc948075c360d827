"""Editing operations on the document, each pushed as one undo command. Widgets (canvas, object list,
menus) call these; nothing else changes the document."""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from layout2im_core.boxes import clamp_bbox

from .canvas.handles import MIN_SIZE, move_bboxes
from .clipboard import get_json, put_json
from .commands import AddObjectsCommand, RemoveObjectsCommand, ReorderCommand, UpdateObjectsCommand
from .document import DocObject, Document, new_uid
from .selection import Selection

OBJECTS_MIME = "application/x-layout2im-objects"
NUDGE = 1.0 / 256.0     # one arrow-key step, as a fraction of the canvas side (Shift: x10)
PASTE_OFFSET = 0.03     # each paste of the same objects lands this much further right and down
MAX_RECENT = 9


class Editor(QObject):
    """The document, its undo stack and selection, and every edit as an undoable operation.

    Attributes:
        doc: the Document.  stack: its QUndoStack (no limit).  selection: the Selection.
        look_source: ``look_source(n) -> list of n (z, seed)`` used for new objects (default:
            ``(None, None)``, no look yet; the window sets ``LookEditor.new_looks``).
        known: category names the loaded model knows (None: no model; nothing is flagged).
        trained: category names the loaded model was trained on (None: all it knows).
    """

    current_category_changed = Signal(str)
    recent_changed = Signal(list)
    message = Signal(str)

    def __init__(self, doc: Optional[Document] = None, parent=None):
        super().__init__(parent)
        self.doc = doc or Document()
        self.stack = QUndoStack(self)
        self.stack.setUndoLimit(0)  # 0 = unlimited
        self.selection = Selection(self)
        self.look_source: Callable[[int], List[Tuple[Optional[Tuple[float, ...]], Optional[int]]]] = \
            lambda n: [(None, None)] * n
        self.known: Optional[set] = None
        self.trained: Optional[set] = None
        self._current = ""
        self._recent: List[str] = []
        self._paste_count = 0
        self.doc.subscribe(lambda ev: self.selection.keep_only(self.doc.uids()))

    # ---- categories ----------------------------------------------------------------------------
    @property
    def current_category(self) -> str:
        """The category new boxes get ("" when none)."""
        return self._current

    @property
    def recent(self) -> List[str]:
        """Recently used categories, most recent first (keys 1-9)."""
        return list(self._recent)

    def set_current_category(self, name: str) -> None:
        """Make ``name`` the category of newly drawn boxes (it joins the recent ones once used)."""
        if name and name != self._current:
            self._current = name
            self.current_category_changed.emit(name)

    def pick_recent(self, index: int) -> None:
        """Key 1-9: make the recent category ``index`` (0-based) current."""
        if 0 <= index < len(self._recent):
            self.set_current_category(self._recent[index])

    def _touch_recent(self, name: str) -> None:
        if not name:
            return
        # keep numbers stable while picking: only new names enter (at the front)
        if name not in self._recent:
            self._recent = ([name] + self._recent)[:MAX_RECENT]
            self.recent_changed.emit(self.recent)

    def is_unknown(self, category: str) -> bool:
        """True when a model is loaded and does not know ``category``."""
        return self.known is not None and category not in self.known

    def is_untrained(self, category: str) -> bool:
        """True when the loaded model knows ``category`` but was not trained on it (drawn poorly)."""
        return (self.known is not None and self.trained is not None and category in self.known
                and category not in self.trained)

    # ---- adding and removing -------------------------------------------------------------------
    def add_object(self, category: str, bbox, select: bool = True) -> int:
        """Add one box of ``category`` at the end of the fusion order; returns its uid."""
        bbox = clamp_bbox(bbox, MIN_SIZE)
        z, seed = self.look_source(1)[0]
        obj = DocObject(new_uid(), category, bbox, z, seed=seed)
        self.stack.push(AddObjectsCommand(self.doc, [(len(self.doc), obj)], f"Add {category}",
                                          self.selection if select else None))
        self._touch_recent(category)
        if select:
            self.selection.set([obj.uid])
        return obj.uid

    def add_objects(self, objs: Sequence[DocObject], text: str) -> List[int]:
        """Append objects (already carrying uids) as one step and select them."""
        n = len(self.doc)
        cmd = AddObjectsCommand(self.doc, [(n + i, o) for i, o in enumerate(objs)], text, self.selection)
        self.stack.push(cmd)
        self.selection.set(cmd.uids)
        return cmd.uids

    def delete_selected(self) -> None:
        """Delete the selected objects."""
        uids = [u for u in self.doc.uids() if u in self.selection]
        if uids:
            self.stack.push(RemoveObjectsCommand(self.doc, uids, f"Delete {len(uids)} object(s)", self.selection))

    def duplicate_selected(self) -> List[int]:
        """Copy the selected objects (same look) slightly offset; the copies get selected."""
        objs = self._selected_objects()
        if not objs:
            return []
        return self.add_objects([self._offset_copy(o, PASTE_OFFSET) for o in objs], "Duplicate")

    def _offset_copy(self, o: DocObject, off: float) -> DocObject:
        x0, y0, x1, y1 = o.bbox
        return o.with_(uid=new_uid(), bbox=clamp_bbox((x0 + off, y0 + off, x1 + off, y1 + off), MIN_SIZE))

    def _selected_objects(self) -> List[DocObject]:
        return [o for o in self.doc.objects if o.uid in self.selection]

    # ---- clipboard -----------------------------------------------------------------------------
    def copy_selected(self) -> bool:
        """Put the selected objects on the clipboard (JSON, also as text). False if none selected."""
        objs = self._selected_objects()
        if not objs:
            return False
        put_json(OBJECTS_MIME, [{"category": o.category, "bbox": list(o.bbox), "locked": o.locked,
                                 "z": None if o.z is None else list(o.z), "seed": o.seed,
                                 "base_z": None if o.base_z is None else list(o.base_z)} for o in objs])
        self._paste_count = 0
        return True

    def paste(self) -> List[int]:
        """Paste objects from the clipboard, offset a little more at each paste."""
        try:
            items = get_json(OBJECTS_MIME)
            if items is None:
                self.message.emit("Nothing to paste")
                return []
            self._paste_count += 1
            off = PASTE_OFFSET * self._paste_count
            objs = [self._offset_copy(DocObject(0, str(d["category"]), tuple(d["bbox"]), None,
                                                bool(d.get("locked", False))).with_(
                z=d.get("z"), base_z=d.get("base_z") if d.get("z") else None,
                seed=d["seed"] if isinstance(d.get("seed"), int) else None), off) for d in items]
        except (ValueError, KeyError, TypeError):
            self.message.emit("The clipboard holds no readable objects")
            return []
        return self.add_objects(objs, "Paste")

    # ---- geometry ------------------------------------------------------------------------------
    def preview_bboxes(self, bboxes: Dict[int, tuple]) -> None:
        """Show a drag in progress (not an undo step)."""
        self.doc.set_bboxes(bboxes)

    def commit_bboxes(self, before: Dict[int, tuple], text: str) -> bool:
        """End a drag: one undo step from ``before`` (uid -> bbox) to the current bboxes."""
        after = {uid: self.doc.get(uid).bbox for uid in before if uid in self.doc}
        if all(after.get(u) == tuple(b) for u, b in before.items()):
            return False
        objs_after = [self.doc.get(u) for u in after]
        objs_before = [o.with_(bbox=before[o.uid]) for o in objs_after]
        self.stack.push(UpdateObjectsCommand(self.doc, objs_before, objs_after, text))
        return True

    def nudge_selected(self, dx_steps: int, dy_steps: int, big: bool = False) -> None:
        """Move the selection by arrow-key steps (x10 with ``big``), clamped inside the canvas."""
        objs = self._selected_objects()
        if not objs:
            return
        step = NUDGE * (10 if big else 1)
        moved = move_bboxes({o.uid: o.bbox for o in objs}, dx_steps * step, dy_steps * step)
        after = [o.with_(bbox=moved[o.uid]) for o in objs]
        if any(a.bbox != o.bbox for a, o in zip(after, objs)):
            self.stack.push(UpdateObjectsCommand(self.doc, objs, after, "Nudge"))

    # ---- attributes ----------------------------------------------------------------------------
    def set_category_of_selected(self, category: str) -> None:
        """Give the selected objects another category (their bbox, z and lock stay)."""
        objs = [o for o in self._selected_objects() if o.category != category]
        if category and objs:
            self.stack.push(UpdateObjectsCommand(self.doc, objs, [o.with_(category=category) for o in objs],
                                                 f"Change category to {category}"))
            self._touch_recent(category)

    def toggle_lock_selected(self) -> None:
        """Lock the selected objects' look, or unlock them if all are locked."""
        objs = self._selected_objects()
        if objs:
            lock = not all(o.locked for o in objs)
            self.stack.push(UpdateObjectsCommand(self.doc, objs, [o.with_(locked=lock) for o in objs],
                                                 "Lock" if lock else "Unlock"))

    def set_lock(self, uids: Iterable[int], locked: bool) -> None:
        """Lock or unlock the looks of ``uids`` (one undo step; nothing when none changes)."""
        objs = [o for o in (self.doc.get(u) for u in self.uids_in(uids)) if o.locked != locked]
        if objs:
            self.stack.push(UpdateObjectsCommand(self.doc, objs, [o.with_(locked=locked) for o in objs],
                                                 "Lock look" if locked else "Unlock look"))

    def set_z(self, uid: int, z, text: str = "Change look", seed: Optional[int] = None) -> None:
        """Give one object a new look ``z`` (its new slider base; undoable)."""
        o = self.doc.get(uid)
        self.stack.push(UpdateObjectsCommand(self.doc, [o], [o.with_look(z, None, seed)], text))

    # ---- order ---------------------------------------------------------------------------------
    def reorder(self, uids: Sequence[int]) -> None:
        """Set the fusion order (from the object list's drag-to-reorder)."""
        before = self.doc.uids()
        if list(uids) != before and sorted(uids) == sorted(before):
            self.stack.push(ReorderCommand(self.doc, before, list(uids), "Reorder"))

    def shift_selected(self, step: int) -> None:
        """Move the selection later (+1, fused after, drawn on top) or earlier (-1) in fusion order."""
        order = self.doc.uids()
        sel = [u for u in order if u in self.selection]
        if not sel:
            return
        idx = [order.index(u) for u in sel]
        for i in (reversed(idx) if step > 0 else idx):
            j = i + step
            if 0 <= j < len(order) and order[j] not in sel:
                order[i], order[j] = order[j], order[i]
        self.reorder(order)

    # ---- selection -----------------------------------------------------------------------------
    def select_all(self) -> None:
        """Select every object."""
        self.selection.set(self.doc.uids())

    def cycle_selection(self, step: int = 1) -> None:
        """Tab: select the next (or previous) object in fusion order."""
        order = self.doc.uids()
        if not order:
            return
        cur = self.selection.uids[-1] if len(self.selection) else None
        i = order.index(cur) + step if cur in order else (0 if step > 0 else -1)
        self.selection.set([order[i % len(order)]])

    def uids_in(self, uids: Iterable[int]) -> List[int]:
        """``uids`` that exist, in fusion order."""
        wanted = set(uids)
        return [u for u in self.doc.uids() if u in wanted]
