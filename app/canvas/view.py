"""The layout canvas: a QGraphicsView showing one box item per object, and the mouse and keyboard
editing of boxes (draw, move, resize by 8 handles, select, drop from the palette, zoom, pan).

Stacking follows the object list: the item of object ``i`` (fusion order) has z value ``i``, so later
objects are drawn on top, and a click picks the topmost box under the mouse (``box_at``), after any
edit, undo or redo. Two tools: **select** (drag a box to move it, drag on empty canvas to draw one)
and **draw** (every drag draws a box of the current category, also over other boxes: the way to add a
box on a fully covered canvas); ``tool_changed`` tells the status bar.

The view never edits objects itself: it translates events into :class:`app.editor.Editor` calls. A
drag previews through ``Editor.preview_bboxes`` and becomes one undo step at release. Hit-testing of
handles is done here in screen pixels, so the hit zone is the same at any zoom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Literal, Optional, Sequence, Tuple, Union

from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QMenu

from layout2im_core.boxes import BBox, clamp_bbox, contains

from ..colors import category_rgb
from ..document import DocEvent, DocObject
from .box_item import BoxItem
from .handles import HANDLE_DRAW_PX, MIN_SIZE, drawn_bbox, hit_handle, move_bboxes, resize_bbox
from .painting import paint_background, paint_handles

if TYPE_CHECKING:
    from ..editor import Editor

CATEGORY_MIME = "application/x-layout2im-category"
SIDE = 512.0            # canvas side in scene units
DROP_SIZE = 0.25        # side of a box dropped from the palette (fraction of the canvas)
ZOOM_STEP = 1.25
ZOOM_RANGE = (0.05, 40.0)

Tool = Literal["select", "draw"]
DragMode = Literal["pan", "move", "resize", "draw", "band"]


@dataclass
class Drag:
    """A mouse drag in progress: ``mode`` says what it does; the other fields are those its mode uses."""

    mode: DragMode
    start: Tuple[float, float] = (0.0, 0.0)   # where it began, normalised (all but pan)
    now: Tuple[float, float] = (0.0, 0.0)     # where the mouse is, normalised (draw, band)
    last: Optional[QPointF] = None            # the last viewport position (pan)
    uid: Optional[int] = None                 # the box pressed (move, resize)
    handle: str = ""                          # the handle pressed (resize)
    before: Dict[int, BBox] = field(default_factory=dict)  # bboxes at the press (move, resize)
    mods: bool = False                        # Ctrl or Shift held at the press (move)
    base: List[int] = field(default_factory=list)  # the selection at the press (band)


_C = Qt.CursorShape
_CURSORS = {"nw": _C.SizeFDiagCursor, "se": _C.SizeFDiagCursor, "ne": _C.SizeBDiagCursor, "sw": _C.SizeBDiagCursor,
            "n": _C.SizeVerCursor, "s": _C.SizeVerCursor, "e": _C.SizeHorCursor, "w": _C.SizeHorCursor}


class CanvasView(QGraphicsView):
    """Editable view of the document's boxes. ``context_actions`` fill the right-click menu."""

    zoom_changed = Signal(float)
    tool_changed = Signal(str)  # "select" or "draw"

    def __init__(self, editor: "Editor", parent=None):
        super().__init__(parent)
        self.editor = editor
        self.context_actions: List = []
        self._items: Dict[int, BoxItem] = {}
        self._drag: Optional[Drag] = None
        self._auto_fit = True
        self._space = False
        self._tool: Tool = "select"
        scene = QGraphicsScene(self)
        m = SIDE * 0.08
        scene.setSceneRect(QRectF(-m, -m, SIDE + 2 * m, SIDE + 2 * m))
        self.setScene(scene)
        # boxes are axis-aligned: no antialiasing needed, and repainting only what changed keeps the
        # GUI thread (and the GIL) free for the renderer during a drag
        self.setRenderHints(QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # pan: middle drag or Space+drag
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.setMinimumSize(200, 200)
        editor.doc.subscribe(self._on_doc)
        editor.selection.changed.connect(self._on_selection)

    # ---- coordinates ---------------------------------------------------------------------------
    def to_norm(self, pos) -> Tuple[float, float]:
        """Viewport position (pixels) -> normalised canvas coordinates (may lie outside [0, 1])."""
        p = self.mapToScene(QPoint(round(pos.x()), round(pos.y())))
        return p.x() / SIDE, p.y() / SIDE

    def to_viewport(self, x: float, y: float) -> QPointF:
        """Normalised canvas coordinates -> viewport position in pixels (float)."""
        t = self.viewportTransform()
        return t.map(QPointF(x * SIDE, y * SIDE))

    def _bbox_px(self, bbox) -> Tuple[float, float, float, float]:
        a, b = self.to_viewport(bbox[0], bbox[1]), self.to_viewport(bbox[2], bbox[3])
        return a.x(), a.y(), b.x(), b.y()

    # ---- document sync -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw every item from the document (also after the model's vocabulary changed)."""
        objs = self.editor.doc.objects
        alive = {o.uid for o in objs}
        for uid in [u for u in self._items if u not in alive]:
            self.scene().removeItem(self._items.pop(uid))
        for i, o in enumerate(objs):
            item = self._items.get(o.uid)
            if item is None:
                item = self._items[o.uid] = BoxItem(o.uid, SIDE)
                item.set_scale(self.transform().m11(), self._pad())
                self.scene().addItem(item)
            self._show(item, o)
            item.setZValue(i)
            item.set_selected(o.uid in self.editor.selection)

    def _show(self, item: BoxItem, o: DocObject) -> None:
        """An item shows its object's box, category and lock."""
        x0, y0, x1, y1 = o.bbox
        item.set_rect(QRectF(x0 * SIDE, y0 * SIDE, (x1 - x0) * SIDE, (y1 - y0) * SIDE))
        item.set_object(o.category, self.editor.is_unknown(o.category), o.locked,
                        self.editor.is_untrained(o.category))

    def _refresh_objects(self, uids: Sequence[int]) -> None:
        """Redraw the items of ``uids`` only (same objects in the same order as before)."""
        doc = self.editor.doc
        for uid in uids:
            if uid not in self._items or uid not in doc:
                self.refresh()
                return
            self._show(self._items[uid], doc.get(uid))

    def _pad(self) -> float:
        return (HANDLE_DRAW_PX + 4) / max(self.transform().m11(), 1e-6)

    def _zoomed(self) -> None:
        pad, scale = self._pad(), self.transform().m11()
        for item in self._items.values():
            item.set_scale(scale, pad)
        self.viewport().update()
        self.zoom_changed.emit(self.transform().m11())

    def _on_doc(self, event: DocEvent) -> None:
        if event.kind in ("geometry", "attrs"):
            self._refresh_objects(event.uids)
        elif event.kind != "look":  # boxes do not show the look
            self.refresh()

    def _on_selection(self) -> None:
        for uid, item in self._items.items():
            item.set_selected(uid in self.editor.selection)
        self.viewport().update()

    def item(self, uid: int) -> BoxItem:
        """The box item of an object (tests and overlays)."""
        return self._items[uid]

    # ---- hit testing ---------------------------------------------------------------------------
    def handle_at(self, pos) -> Optional[Tuple[int, str]]:
        """(uid, handle) of a selected box's handle under a viewport position, or None."""
        doc = self.editor.doc
        for uid in reversed(doc.uids()):
            if uid in self.editor.selection:
                h = hit_handle(self._bbox_px(doc.get(uid).bbox), pos.x(), pos.y())
                if h:
                    return uid, h
        return None

    def box_at(self, pos) -> Optional[int]:
        """The object under a viewport position: the topmost one, i.e. the last in fusion order (the
        order the canvas stacks the boxes in), or None."""
        x, y = self.to_norm(pos)
        for o in reversed(self.editor.doc.objects):
            if contains(o.bbox, x, y):
                return o.uid
        return None

    # ---- tools ---------------------------------------------------------------------------------
    @property
    def tool(self) -> Tool:
        """"select" or "draw"."""
        return self._tool

    def set_tool(self, tool: str) -> None:
        """Switch between the select tool and the draw tool (B); ends a drag in progress."""
        chosen: Tool = "draw" if tool == "draw" else "select"
        if chosen == self._tool:
            return
        self.cancel_drag()
        self._tool = chosen
        self.viewport().setCursor(QCursor(Qt.CursorShape.CrossCursor))
        self.tool_changed.emit(chosen)

    # ---- mouse ---------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        pos = event.position()
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space):
            self._drag = Drag("pan", last=pos)
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() == Qt.MouseButton.RightButton:
            uid = self.box_at(pos)
            if uid is not None and uid not in self.editor.selection:
                self.editor.selection.set([uid])
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        start = self.to_norm(pos)
        if self._tool == "draw":
            self._start_draw(start)
            return
        hit = self.handle_at(pos)
        if hit:
            uid, handle = hit
            self._drag = Drag("resize", start, uid=uid, handle=handle, before={uid: self.editor.doc.get(uid).bbox})
            return
        mods = event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        uid = self.box_at(pos)
        sel = self.editor.selection
        if uid is not None:
            if mods:
                sel.toggle(uid)
                if uid not in sel:
                    return
            elif uid not in sel:
                sel.set([uid])
            doc = self.editor.doc
            self._drag = Drag("move", start, uid=uid, mods=bool(mods),
                              before={u: doc.get(u).bbox for u in self.editor.uids_in(sel.uids)})
            return
        if mods:
            self._drag = Drag("band", start, start, base=sel.uids)
            return
        sel.clear()
        self._start_draw(start)

    def _start_draw(self, start: Tuple[float, float]) -> None:
        if self.editor.current_category:
            self._drag = Drag("draw", start, start)
        else:
            self.editor.message.emit("Pick a category in the palette first")

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        d = self._drag
        if d is None:
            self._update_cursor(pos)
            return
        if not event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.MiddleButton):
            self._end_drag(pos)  # the release went elsewhere (e.g. a message box popped up)
            return
        if d.mode == "pan":
            delta = pos - d.last
            d.last = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(delta.y()))
            return
        x, y = self.to_norm(pos)
        dx, dy = x - d.start[0], y - d.start[1]
        if d.mode == "move":
            self.editor.preview_bboxes(move_bboxes(d.before, dx, dy))
        elif d.mode == "resize" and d.uid is not None:
            self.editor.preview_bboxes({d.uid: resize_bbox(d.before[d.uid], d.handle, dx, dy)})
        else:
            d.now = (x, y)
            if d.mode == "band":
                band = drawn_bbox(*d.start, x, y)
                inside = [o.uid for o in self.editor.doc.objects
                          if o.bbox[0] >= band[0] and o.bbox[1] >= band[1] and o.bbox[2] <= band[2]
                          and o.bbox[3] <= band[3]]
                self.editor.selection.set(d.base + inside)
            self.viewport().update()

    def mouseReleaseEvent(self, event) -> None:
        self._end_drag(event.position())

    def focusOutEvent(self, event) -> None:
        if self._drag is not None:
            self._end_drag(self.mapFromGlobal(QCursor.pos()).toPointF())
        super().focusOutEvent(event)

    def _end_drag(self, pos) -> None:
        """Finish the drag in progress at viewport position ``pos`` (move/resize: one undo step)."""
        d, self._drag = self._drag, None
        if d is None:
            return
        mode = d.mode
        if mode == "pan":
            self._update_cursor(pos)
        elif mode == "move":
            if not self.editor.commit_bboxes(d.before, "Move") and not d.mods and len(d.before) > 1 \
                    and d.uid is not None:
                self.editor.selection.set([d.uid])  # a click (no drag) on one of several selected
        elif mode == "resize":
            self.editor.commit_bboxes(d.before, "Resize")
        elif mode == "draw":
            bbox = drawn_bbox(*d.start, *self.to_norm(pos))
            if bbox[2] - bbox[0] >= MIN_SIZE / 2 or bbox[3] - bbox[1] >= MIN_SIZE / 2:
                self.editor.add_object(self.editor.current_category, clamp_bbox(bbox, MIN_SIZE))
        self.viewport().update()

    def cancel_drag(self) -> bool:
        """Esc: abandon a drag in progress, restoring the boxes. True if there was one."""
        d, self._drag = self._drag, None
        if d is None:
            return False
        if d.mode in ("move", "resize"):
            self.editor.preview_bboxes(d.before)
        elif d.mode == "band":
            self.editor.selection.set(d.base)
        self.viewport().update()
        return True

    def _update_cursor(self, pos) -> None:
        hit = None if self._tool == "draw" else self.handle_at(pos)
        if self._space:
            cursor = Qt.CursorShape.OpenHandCursor
        elif self._tool == "draw":
            cursor = Qt.CursorShape.CrossCursor
        elif hit:
            cursor = _CURSORS[hit[1]]
        elif self.box_at(pos) is not None:
            cursor = Qt.CursorShape.SizeAllCursor
        else:
            cursor = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(QCursor(cursor))

    def contextMenuEvent(self, event) -> None:
        if self.context_actions and len(self.editor.selection):
            menu = QMenu(self)
            for a in self.context_actions:
                menu.addSeparator() if a is None else menu.addAction(a)
            menu.exec(event.globalPos())

    # ---- keyboard ------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:
        key, mods = event.key(), event.modifiers()
        arrows = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        if key in arrows and not mods & Qt.KeyboardModifier.ControlModifier:
            self.editor.nudge_selected(*arrows[key], big=bool(mods & Qt.KeyboardModifier.ShiftModifier))
        elif key in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            back = key == Qt.Key.Key_Backtab or mods & Qt.KeyboardModifier.ShiftModifier
            self.editor.cycle_selection(-1 if back else 1)
        elif key == Qt.Key.Key_Escape:
            if self.cancel_drag():
                pass
            elif self._tool == "draw":
                self.set_tool("select")
            else:
                self.editor.selection.clear()
        elif key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            super().keyReleaseEvent(event)

    def focusNextPrevChild(self, forward: bool) -> bool:
        return False  # Tab cycles the selection instead of moving focus

    # ---- drop from the palette -----------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(CATEGORY_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event) -> None:
        if not event.mimeData().hasFormat(CATEGORY_MIME):
            event.ignore()
            return
        category = bytes(event.mimeData().data(CATEGORY_MIME)).decode("utf-8")
        x, y = self.to_norm(event.position())
        h = DROP_SIZE / 2
        self.editor.add_object(category, clamp_bbox((x - h, y - h, x + h, y + h), MIN_SIZE))
        self.editor.set_current_category(category)
        event.acceptProposedAction()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    # ---- zoom ----------------------------------------------------------------------------------
    def zoom_by(self, factor: float, anchor_under_mouse: bool = False) -> None:
        """Zoom by ``factor`` (about the mouse with ``anchor_under_mouse``, else the centre)."""
        cur = self.transform().m11()
        factor = min(max(cur * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1]) / cur
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse if anchor_under_mouse
                                     else QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self._auto_fit = False
        self.scale(factor, factor)
        self._zoomed()

    def zoom_in(self) -> None:
        """Ctrl+=: zoom in about the centre."""
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        """Ctrl+-: zoom out about the centre."""
        self.zoom_by(1 / ZOOM_STEP)

    def fit(self) -> None:
        """Ctrl+0: fit the whole canvas in the view (and keep fitting on resize)."""
        self._auto_fit = True
        m = SIDE * 0.03
        self.fitInView(QRectF(-m, -m, SIDE + 2 * m, SIDE + 2 * m), Qt.AspectRatioMode.KeepAspectRatio)
        self._zoomed()

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP ** steps, anchor_under_mouse=True)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    # ---- painting ------------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: Union[QRectF, QRect]) -> None:
        paint_background(painter, QRectF(rect), self.palette(), SIDE)

    def drawForeground(self, painter: QPainter, rect: Union[QRectF, QRect]) -> None:
        d = self._drag
        if d and d.mode in ("draw", "band"):
            b = drawn_bbox(*d.start, *d.now)
            color = QColor(*category_rgb(self.editor.current_category)) if d.mode == "draw" \
                else self.palette().color(self.palette().ColorRole.Highlight)
            pen = QPen(color, 1.5, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(b[0] * SIDE, b[1] * SIDE, (b[2] - b[0]) * SIDE, (b[3] - b[1]) * SIDE))
        boxes = [(self._bbox_px(self.editor.doc.get(uid).bbox),
                  self._items[uid].color if uid in self._items else QColor(Qt.GlobalColor.gray))
                 for uid in self.editor.uids_in(self.editor.selection.uids)]
        paint_handles(painter, boxes)
