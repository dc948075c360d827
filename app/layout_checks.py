"""Where a layout leaves what the loaded model can render or was trained on, as lines for the banner
above the image. Qt-free.

Objects are named as the object list shows them: their number in fusion order counted from 1 and
their category ("#3 sea"), whether or not the model renders them, so a warning points at a list row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import FrozenSet, List, Optional, Sequence

from layout2im_core.boxes import area_in_image

MIN_BOX_AREA = 0.02   # share of the image below which a box is outside the trained range (the core's)
MAX_NAMED = 6         # objects named in one line; the rest are counted


@dataclass(frozen=True)
class ModelLimits:
    """What the loaded model can render and was trained on.

    Attributes:
        known: categories of its vocabulary.  trained: those it saw in training (empty: all known).
        max_objects: most objects one render takes (more is an error).
        trained_max_objects: most objects per image in training (more is allowed, but warned).
        z_dim: size of an appearance code.  min_box_area: smallest trained box, as a share of the image.
    """

    known: FrozenSet[str]
    trained: FrozenSet[str] = field(default_factory=frozenset)
    max_objects: int = 0
    trained_max_objects: int = 8
    z_dim: int = 0
    min_box_area: float = MIN_BOX_AREA


@dataclass(frozen=True)
class LayoutCheck:
    """The banner lines of a layout; ``blocking`` is set when the model cannot render it at all."""

    notes: List[str]
    blocking: Optional[str] = None

    @property
    def lines(self) -> List[str]:
        """``blocking`` first, then the notes."""
        return ([self.blocking] if self.blocking else []) + self.notes


def _named(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_NAMED])
    return shown + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


def check_layout(objects: Sequence, limits: ModelLimits) -> LayoutCheck:
    """Check document objects (anything with ``category``, ``bbox`` and ``z``) against ``limits``."""
    unknown, untrained, small, mismatch = [], [], [], []
    rendered = 0
    for number, o in enumerate(objects, 1):
        name = f"#{number} {o.category}"
        if o.category not in limits.known:
            unknown.append(name)
            continue
        rendered += 1
        if limits.trained and o.category not in limits.trained:
            untrained.append(name)
        if area_in_image(o.bbox) < limits.min_box_area:
            small.append(name)
        if o.z is not None and limits.z_dim and len(o.z) != limits.z_dim:
            mismatch.append(name)
    notes = []
    if unknown:
        notes.append(f"labels unknown to this model (kept, not rendered): {_named(unknown)}")
    if untrained:
        notes.append(f"categories this model was not trained on (drawn poorly): {_named(untrained)}")
    if limits.trained_max_objects and rendered > limits.trained_max_objects:
        notes.append(f"{rendered} objects: this model was trained with at most {limits.trained_max_objects}")
    if small:
        notes.append(f"boxes under {limits.min_box_area:.0%} of the image (outside the trained range): "
                     f"{_named(small)}")
    if mismatch:
        notes.append(f"looks (z) made for another model, drawn with a random look: {_named(mismatch)}")
    blocking = None
    if limits.max_objects and rendered > limits.max_objects:
        blocking = (f"{rendered} objects: this model renders at most {limits.max_objects}. Showing the last "
                    f"image it could render; remove {rendered - limits.max_objects} object(s) to render again.")
    return LayoutCheck(notes, blocking)
