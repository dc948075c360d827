"""Per-object appearance edits: sliders, seed, re-roll, lock-aware pastes, reset. Every change is one
undo step (a slider drag too). New looks are drawn here on the GUI thread (numpy: ``appearance.py``,
the model's own formula); the model itself is reached only through the inference client's worker
(``InferenceClient.run_job``). The slider <-> z mapping is in ``appearance.py``.

A locked object keeps its z: re-rolls, pastes, seeds, photos and variations skip it (with a message)
and the appearance panel disables its sliders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PySide6.QtCore import QObject, Signal

from .appearance import LookBasis, Vector, effective_base, move_sliders, random_looks, seeded_look, slider_values
from .clipboard import get_json, put_json
from .commands import LookStepCommand, UpdateObjectsCommand
from .document import DocObject, Document
from .editor import Editor

if TYPE_CHECKING:
    from .inference_worker import InferenceClient, ModelInfo

LOOK_MIME = "application/x-layout2im-look"
Look = Tuple[Optional[Vector], Optional[Vector], Optional[int]]  # z, base z, seed


class LookEditor(QObject):
    """Look operations on the editor's document. ``client``: the InferenceClient; the operations that
    need a model do nothing before one is loaded. :meth:`new_looks` is the editor's ``look_source``
    (the window connects them).

    Signals: ``message(str)`` for the status bar.
    """

    message = Signal(str)

    def __init__(self, editor: Editor, client: "InferenceClient", parent=None):
        super().__init__(parent)
        self.editor = editor
        self.client = client
        self._drag: Optional[Tuple[DocObject, LookBasis, np.ndarray]] = None  # object, basis, sliders at press

    @property
    def doc(self) -> Document:
        """The editor's document."""
        return self.editor.doc

    @property
    def info(self) -> Optional["ModelInfo"]:
        """The loaded model's facts (None before a model is loaded)."""
        return self.client.info

    # ---- reading -------------------------------------------------------------------------------
    def basis(self, category: str) -> Optional[LookBasis]:
        """The look basis of a category under the loaded model (None without a model)."""
        info = self.info
        return None if info is None else info.basis(category)

    def new_looks(self, n: int) -> List[Tuple[Optional[Tuple[float, ...]], Optional[int]]]:
        """``n`` new random looks (z, seed) of the loaded model's z size; ``(None, None)`` each
        without a model (the objects get one when a model loads: :meth:`fill_missing`)."""
        info = self.info
        if info is None:
            return [(None, None)] * n
        return list(random_looks(info.z_dim, n))

    def current(self) -> Optional[DocObject]:
        """The object the appearance panel steers: the one selected object (None otherwise)."""
        sel = self.editor.selection.uids
        return self.doc.get(sel[0]) if len(sel) == 1 and sel[0] in self.doc else None

    def steerable(self, o: Optional[DocObject]) -> Optional[LookBasis]:
        """The basis to steer ``o`` with, or None when it cannot be steered (no model, no z, a z of
        another model's size, a category the model lacks)."""
        if o is None or o.z is None or self.editor.is_unknown(o.category):
            return None
        b = self.basis(o.category)
        return b if b is not None and b.z_dim == len(o.z) else None

    def sliders_of(self, uid: int) -> Optional[np.ndarray]:
        """Slider positions (sd, unclamped) of an object, None when it cannot be steered."""
        o = self.doc.get(uid)
        b = self.steerable(o)
        return None if b is None or o.z is None else slider_values(o.z, o.base_z, b)

    # ---- absolute looks ------------------------------------------------------------------------
    def apply_looks(self, looks: Dict[int, Look], text: str) -> List[int]:
        """Give objects new looks (uid -> (z, base z, seed)) as ONE undo step; locked and vanished
        objects are skipped. Returns the uids changed."""
        before, after, locked = [], [], 0
        for uid, (z, base, seed) in looks.items():
            if uid not in self.doc or z is None:
                continue
            o = self.doc.get(uid)
            if o.locked:
                locked += 1
                continue
            n = o.with_look(z, base, seed)
            if n.look != o.look:
                before.append(o)
                after.append(n)
        if locked:
            self.message.emit(f"{locked} locked object(s) kept their look (unlock with L)")
        if after:
            self.editor.stack.push(UpdateObjectsCommand(self.doc, before, after, text))
        return [o.uid for o in after]

    def reroll(self, uids: Sequence[int], text: str) -> List[int]:
        """New random looks (each of a fresh seed) for ``uids``; locked ones keep theirs."""
        targets = self.editor.uids_in(uids)
        if not targets:
            self.message.emit("Select an object to re-roll its look")
            return []
        fresh = self.new_looks(len(targets))
        return self.apply_looks({u: (z, None, s) for u, (z, s) in zip(targets, fresh)}, text)

    def reroll_selected(self) -> List[int]:
        """R: a new random look for the selected objects."""
        return self.reroll(self.editor.selection.uids, "Re-roll look")

    def reroll_all(self) -> List[int]:
        """Shift+R: a new random look for every unlocked object."""
        return self.reroll([o.uid for o in self.doc.objects if not o.locked], "Re-roll all looks")

    def reset(self, uids: Optional[Sequence[int]] = None) -> List[int]:
        """Sliders back to 0: z = base z (keeps the seed)."""
        uids = self.editor.selection.uids if uids is None else uids
        looks: Dict[int, Look] = {}
        for u in self.editor.uids_in(uids):
            o = self.doc.get(u)
            if o.z is not None and o.base_z is not None:
                looks[u] = (o.base_z, None, o.seed)
        return self.apply_looks(looks, "Reset look")

    def typical(self, uids: Optional[Sequence[int]] = None) -> List[int]:
        """The category's typical look: z = base z = the mean of its crop codes."""
        uids = self.editor.selection.uids if uids is None else uids
        looks: Dict[int, Look] = {}
        for u in self.editor.uids_in(uids):
            b = self.steerable(self.doc.get(u))
            if b is not None and not b.fallback:
                looks[u] = (b.mean, None, None)
        return self.apply_looks(looks, "Typical look")

    def set_seed(self, uid: int, seed: int) -> None:
        """z = ``sample_z(1, seed)`` for one object (one undo step; nothing without a model)."""
        info = self.info
        if info is None:
            return
        z, seed = seeded_look(info.z_dim, seed)
        self.apply_looks({uid: (z, None, seed)}, f"Seed {seed}")

    def set_lock(self, uids: Sequence[int], locked: bool) -> None:
        """Lock or unlock the looks of ``uids`` (one undo step)."""
        self.editor.set_lock(uids, locked)

    # ---- copy / paste --------------------------------------------------------------------------
    def copy_look(self) -> bool:
        """Put the selected object's look (z, base z, seed) on the clipboard."""
        o = self._first_selected()
        if o is None or o.z is None:
            self.message.emit("Select an object with a look to copy")
            return False
        put_json(LOOK_MIME, {"z": list(o.z), "base_z": None if o.base_z is None else list(o.base_z),
                             "seed": o.seed, "category": o.category})
        self.message.emit(f"Copied the look of {o.category}")
        return True

    def paste_look(self) -> List[int]:
        """Give the selected objects the copied look (any category: each keeps its own)."""
        try:
            d = get_json(LOOK_MIME)
            if d is None:
                self.message.emit("No look on the clipboard (Copy Look first)")
                return []
            z = tuple(float(v) for v in d["z"])
            base = None if d.get("base_z") is None else tuple(float(v) for v in d["base_z"])
            seed = d["seed"] if isinstance(d.get("seed"), int) else None
        except (ValueError, KeyError, TypeError):
            self.message.emit("The clipboard holds no readable look")
            return []
        targets = [u for u in self.editor.selection.uids if u in self.doc and self._fits(self.doc.get(u), z)]
        if not targets:
            self.message.emit("Select the object(s) to paste the look onto")
            return []
        return self.apply_looks({u: (z, base, seed) for u in targets}, "Paste look")

    @staticmethod
    def _fits(o: DocObject, z: Sequence[float]) -> bool:
        """A look with code ``z`` can be pasted onto ``o`` (it has no z yet, or one of that size)."""
        return o.z is None or len(o.z) == len(z)

    def _first_selected(self) -> Optional[DocObject]:
        sel = [u for u in self.editor.selection.uids if u in self.doc]
        return self.doc.get(sel[0]) if sel else None

    # ---- sliders -------------------------------------------------------------------------------
    def begin_slider(self, uid: int) -> bool:
        """A slider drag starts on ``uid``: remember where from (False if it cannot be steered)."""
        o = self.doc.get(uid) if uid in self.doc else None
        b = self.steerable(o)
        if o is None or o.z is None or b is None or o.locked:
            self._drag = None
            return False
        self._drag = (o, b, slider_values(o.z, o.base_z, b))
        return True

    def preview_slider(self, k: int, value: float) -> None:
        """During a drag: slider ``k`` at ``value`` sd (the document shows it; not an undo step)."""
        if self._drag is None or self._drag[0].uid not in self.doc:
            return
        o, basis, start = self._drag
        self.doc.replace([self._moved(o, basis, start, k, value)])

    def end_slider(self) -> bool:
        """The drag ends: one undo step from the look at the press to the current one."""
        drag, self._drag = self._drag, None
        if drag is None or drag[0].uid not in self.doc:
            return False
        before, now = drag[0], self.doc.get(drag[0].uid)
        if now.look == before.look:
            return False
        self.editor.stack.push(UpdateObjectsCommand(self.doc, [before], [now], "Look slider"))
        return True

    @property
    def dragging(self) -> bool:
        """A slider drag is in progress."""
        return self._drag is not None

    def set_slider(self, uid: int, k: int, value: float) -> bool:
        """Slider ``k`` of ``uid`` to ``value`` sd without a drag (keys, wheel): an undo step that
        merges with the next ones on the same object within a second."""
        o = self.doc.get(uid) if uid in self.doc else None
        b = self.steerable(o)
        if o is None or o.z is None or b is None or o.locked:
            return False
        n = self._moved(o, b, slider_values(o.z, o.base_z, b), k, value)
        if n.look == o.look:
            return False
        self.editor.stack.push(LookStepCommand(self.doc, o, n))
        return True

    @staticmethod
    def _moved(o: DocObject, basis: LookBasis, start: np.ndarray, k: int, value: float) -> DocObject:
        """``o`` with slider ``k`` moved from ``start[k]`` to ``value`` (sd), the others kept."""
        assert o.z is not None  # a steerable object has a z
        new = start.copy()
        new[k] = value
        return o.with_(z=move_sliders(o.z, start, new, basis), base_z=effective_base(o.z, o.base_z))

    # ---- model-wide ----------------------------------------------------------------------------
    def fill_missing(self) -> int:
        """Give every object without a z a new random look; not an undo step: it completes a
        document that came from a file or was made before a model was loaded. Returns how many."""
        info = self.info
        if info is None:
            return 0
        missing = [o for o in self.doc.objects if o.z is None]
        if missing:
            looks = random_looks(info.z_dim, len(missing))
            self.doc.replace([o.with_look(z, None, s) for o, (z, s) in zip(missing, looks)])
        return len(missing)
