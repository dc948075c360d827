"""Every model call runs here, on one worker thread, never on the GUI thread.

Coalescing: the worker holds at most ONE pending render request. ``render()`` replaces whatever is
pending, so while a render runs, any number of requests collapse into the newest one; when the
running render ends, the worker takes that newest one (requests in between are never computed).
Results carry their request id and an epoch; the GUI-side :class:`InferenceClient` drops a result
that is older than the image already shown, or from an older epoch (the model or the document was
replaced since it was asked for). Control jobs (load a model, change device, generic jobs) queue in
order and run before the pending render.

``layout2im_core.inference`` (and with it torch) is imported on the worker thread, at the first
model load, so the window appears before torch is imported. The worker holds the model as a
:class:`~layout2im_core.model_api.RenderModel` (the protocol ``Layout2ImModel`` implements); what
the GUI needs to know of it crosses once, as a :class:`ModelInfo`. Appearance codes are drawn on the
GUI thread (``appearance.py``), not here.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, Optional, Tuple

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal

from layout2im_core.model_api import MIN_BOX_AREA, RenderModel
from layout2im_core.model_registry import default_model_path
from layout2im_core.types import LayoutSpec

from .appearance import DEFAULT_K, LookBasis
from .layout_checks import ModelLimits


@dataclass(frozen=True)
class ModelInfo:
    """Plain facts about the loaded model (no tensors cross to the GUI)."""

    name: str
    path: str
    categories: Tuple[str, ...]
    vocabulary_digest: str
    z_dim: int
    device: str
    devices: Tuple[str, ...]
    trained: Tuple[str, ...] = ()          # categories seen in training (palette lists them first)
    has_directions: bool = False           # the model file holds appearance directions
    looks: Dict[str, LookBasis] = field(default_factory=dict, compare=False)  # category -> basis
    max_objects: int = 0                   # most objects one render takes (0: no limit known)
    trained_max_objects: int = 8           # most objects per image in training
    min_box_area: float = MIN_BOX_AREA     # smallest trained box, share of the image
    precision: str = "fp32"                # "fp32" or "bf16", as the core's precision policy chose
    precision_reason: str = ""             # why (one line, for the status bar's tooltip)

    @property
    def limits(self) -> ModelLimits:
        """What the layout checks compare a document with."""
        trained = frozenset(self.trained) if 0 < len(self.trained) < len(self.categories) else frozenset()
        return ModelLimits(frozenset(self.categories), trained, self.max_objects, self.trained_max_objects,
                           self.z_dim, self.min_box_area)

    def basis(self, category: str) -> LookBasis:
        """The look basis of ``category`` (unit axes of z for a category the model lacks)."""
        return self.looks.get(category) or LookBasis.unit_axes(self.z_dim)


@dataclass(frozen=True)
class RenderRequest:
    """A layout to render; ``epoch`` changes when the model or document is replaced."""

    request_id: int
    epoch: int
    layout: LayoutSpec
    seed: int = 0


@dataclass(frozen=True)
class RenderResult:
    """A rendered image: uint8 [64, 64, 3] and the milliseconds the model took to make it (when the
    same model renders the same layout twice in a row, the model hands back its cached image: the
    time is then that of the first render, never a meaningless ~0 ms). The app checks the layout
    against the model's trained range itself (``layout_checks.py``)."""

    request_id: int
    epoch: int
    image: np.ndarray
    elapsed_ms: float


def _message(e: BaseException) -> str:
    from layout2im_core.errors import Layout2ImError
    return str(e) if isinstance(e, Layout2ImError) else f"{type(e).__name__}: {e}"


class InferenceWorker(QObject):
    """Lives on the worker thread; its public methods are safe to call from the GUI thread."""

    model_loaded = Signal(object)          # ModelInfo
    model_failed = Signal(str)
    rendered = Signal(object)              # RenderResult
    render_failed = Signal(int, int, str)  # request id, epoch, message
    job_done = Signal(str, object)         # tag, result
    job_failed = Signal(str, str)          # tag, message
    _wake = Signal()

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._jobs: Deque[Callable[[], None]] = deque()
        self._render: Optional[RenderRequest] = None
        self._scheduled = False
        self._model: Optional[RenderModel] = None
        self._path = ""
        self._last: Optional[Tuple[tuple, float]] = None  # (model, layout, seed) rendered last, its ms
        self.renders_done = 0  # read by tests and benchmarks
        self._wake.connect(self._run, Qt.QueuedConnection)

    # ---- called from the GUI thread ------------------------------------------------------------
    def render(self, request: RenderRequest) -> None:
        """Ask for a render; replaces any render still pending (newest request wins)."""
        with self._lock:
            self._render = request
        self._schedule()

    def load(self, path: Optional[str] = None, official_vocabulary: Optional[str] = None) -> None:
        """Load a model file (None: the default model). ``official_vocabulary`` ("coco" or "vg")
        imports an official Layout2Im checkpoint instead."""
        self._enqueue(lambda: self._do_load(path, official_vocabulary))

    def set_model(self, model: RenderModel) -> None:
        """Adopt an already built model (tests, benchmarks)."""
        self._enqueue(lambda: self._adopt(model, model.name))

    def set_device(self, device: str) -> None:
        """Move the model to ``device`` ("cpu", "cuda", ...)."""
        def job() -> None:
            model = self._model
            if model is None:
                return
            try:
                model.set_device(device)
                self._adopt(model, self._path)
            except Exception as e:  # noqa: BLE001 - shown to the user
                self.model_failed.emit(f"Cannot use device {device}: {_message(e)}")
        self._enqueue(job)

    def run_job(self, tag: str, fn: Callable[[Any], Any]) -> None:
        """Run ``fn(model)`` on the worker thread; answer ``job_done(tag, result)`` or ``job_failed``."""
        def job():
            try:
                self.job_done.emit(tag, fn(self._model))
            except Exception as e:  # noqa: BLE001 - shown to the user
                self.job_failed.emit(tag, _message(e))
        self._enqueue(job)

    def _enqueue(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._jobs.append(job)
        self._schedule()

    def _schedule(self) -> None:
        with self._lock:
            if self._scheduled:
                return
            self._scheduled = True
        self._wake.emit()

    # ---- on the worker thread ------------------------------------------------------------------
    def _run(self) -> None:
        with self._lock:
            job, req = None, None
            if self._jobs:
                job = self._jobs.popleft()
            elif self._render is not None:
                req, self._render = self._render, None
            more = bool(self._jobs) or self._render is not None
            self._scheduled = more
        if more:
            self._wake.emit()  # queued: one item per event, so quit() is never starved
        if job is not None:
            job()
        elif req is not None:
            self._do_render(req)

    def _do_render(self, req: RenderRequest) -> None:
        if self._model is None:
            self.render_failed.emit(req.request_id, req.epoch, "No model loaded")
            return
        key = (self._model, req.layout, req.seed)
        try:
            t0 = time.perf_counter()
            img = np.asarray(self._model.generate(req.layout, seed=req.seed), dtype=np.uint8)
            ms = (time.perf_counter() - t0) * 1000.0
        except Exception as e:  # noqa: BLE001 - any failure becomes a message, never a crash
            self._last = None
            self.render_failed.emit(req.request_id, req.epoch, _message(e))
            return
        if self._last is not None and self._last[0] == key:
            ms = self._last[1]  # the model gave back its cached image: report what making it took
        else:
            self._last = (key, ms)
        self.renders_done += 1
        self.rendered.emit(RenderResult(req.request_id, req.epoch, img, ms))

    def _do_load(self, path: Optional[str], official_vocabulary: Optional[str]) -> None:
        try:
            if path is None and not official_vocabulary:
                default = default_model_path()
                if not default.exists():
                    self.model_failed.emit(f"No model loaded: the default model {default} is missing. "
                                           "Open a model file (Model > Open Model File…).")
                    return
                path = str(default)
            from layout2im_core import inference
            model: RenderModel
            if official_vocabulary:
                model = inference.import_official(path, official_vocabulary)  # "coco", "vg" or a vocab.json path
            else:
                model = inference.Layout2ImModel.load(path)
        except Exception as e:  # noqa: BLE001 - corrupt files must never crash the app
            self.model_failed.emit(f"Cannot load the model {path}:\n{_message(e)}")
            return
        self._adopt(model, str(path))

    def _adopt(self, model: RenderModel, path: str) -> None:
        try:
            from layout2im_core.inference import available_devices  # torch is loaded by now
            info = model_info(model, path, tuple(available_devices()))
        except Exception as e:  # noqa: BLE001
            traceback.print_exc()
            self.model_failed.emit(f"The model cannot be used: {_message(e)}")
            return
        self._model, self._path = model, path
        self._last = None
        self.model_loaded.emit(info)


def model_info(model: RenderModel, path: str, devices: Tuple[str, ...]) -> ModelInfo:
    """What the GUI needs to know of ``model`` (on the worker: it asks every category's directions)."""
    looks = {c: LookBasis.from_directions(model.directions(c, DEFAULT_K)) for c in model.categories}
    return ModelInfo(str(model.name), str(path), tuple(model.categories), str(model.vocabulary.digest()),
                     int(model.z_dim), str(model.device), devices, tuple(model.trained_categories),
                     bool(model.has_directions), looks, int(model.max_objects), int(model.trained_max_objects),
                     MIN_BOX_AREA, str(model.precision), str(model.precision_reason))


class InferenceClient(QObject):
    """GUI-side handle: owns the worker thread, numbers requests, drops stale results, tracks busy.

    Signals: ``image_ready(RenderResult)`` (fresh results only), ``render_error(str)``,
    ``busy_changed(bool)``, ``model_loaded(ModelInfo)``, ``model_failed(str)``.
    """

    image_ready = Signal(object)
    render_error = Signal(str)
    busy_changed = Signal(bool)
    model_loaded = Signal(object)
    model_failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worker = InferenceWorker()
        self._thread = QThread()
        self._thread.setObjectName("inference")
        self.worker.moveToThread(self._thread)
        self._thread.start()
        QCoreApplication.instance().aboutToQuit.connect(self.shutdown)
        self.info: Optional[ModelInfo] = None
        self.epoch = 0
        self._next_id = 0
        self._finished_id = 0
        self._shown_id = 0
        self._busy = False
        self._jobs: Dict[str, Tuple[Optional[int], Callable[[Any], None], Optional[Callable[[str], None]]]] = {}
        self._job_count = 0
        self._model_gen = 0  # bumps when a model is (re)loaded: jobs asked before are answered to no one
        self.dropped = 0  # stale results dropped (tests)
        w = self.worker
        w.rendered.connect(self._on_rendered)
        w.render_failed.connect(self._on_render_failed)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self.model_failed)
        w.job_done.connect(self._on_job_done)
        w.job_failed.connect(self._on_job_failed)

    # ---- requests ------------------------------------------------------------------------------
    def request(self, layout: LayoutSpec, seed: int = 0) -> int:
        """Ask for a render of ``layout``; returns the request id."""
        self._next_id += 1
        self.worker.render(RenderRequest(self._next_id, self.epoch, layout, seed))
        self._set_busy(True)
        return self._next_id

    def new_epoch(self) -> None:
        """Results of requests made before now become stale (model or document replaced)."""
        self.epoch += 1

    @property
    def busy(self) -> bool:
        """A render was requested and its answer has not arrived yet."""
        return self._busy

    def load(self, path: Optional[str] = None, official_vocabulary: Optional[str] = None) -> None:
        """Load a model on the worker thread (None: the default model)."""
        self.worker.load(path, official_vocabulary)

    def set_model(self, model: RenderModel) -> None:
        """Use an already built model (tests)."""
        self.worker.set_model(model)

    def set_device(self, device: str) -> None:
        """Move the model to another device."""
        self.worker.set_device(device)

    def run_job(self, fn: Callable[[Any], Any], on_done: Callable[[Any], None],
                on_failed: Optional[Callable[[str], None]] = None, any_model: bool = False) -> str:
        """Run ``fn(model)`` on the worker thread (before any pending render); ``on_done(result)`` or
        ``on_failed(message)`` is called on the GUI thread, unless the model was replaced meanwhile
        (``any_model``: answered all the same, for work that does not depend on the model).
        ``fn`` must return plain values / numpy arrays. Returns the job's tag."""
        self._job_count += 1
        tag = f"job{self._job_count}"
        self._jobs[tag] = (None if any_model else self._model_gen, on_done, on_failed)
        self._set_busy(True)
        self.worker.run_job(tag, fn)
        return tag

    @property
    def jobs_pending(self) -> int:
        """Jobs asked for whose answer has not arrived yet."""
        return len(self._jobs)

    def shutdown(self, timeout_ms: int = 15000) -> None:
        """Stop the worker thread (waits for a render in progress)."""
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait(timeout_ms)

    # ---- answers -------------------------------------------------------------------------------
    def _set_busy(self, on: bool) -> None:
        if on != self._busy:
            self._busy = on
            self.busy_changed.emit(on)

    def _finish(self, request_id: int) -> None:
        self._finished_id = max(self._finished_id, request_id)
        self._set_busy(self._next_id > self._finished_id or bool(self._jobs))

    def _on_job_done(self, tag: str, result) -> None:
        epoch, on_done, _ = self._jobs.pop(tag, (None, None, None))
        self._finish(self._finished_id)
        if on_done is not None and epoch in (self._model_gen, None):
            on_done(result)

    def _on_job_failed(self, tag: str, message: str) -> None:
        epoch, _, on_failed = self._jobs.pop(tag, (None, None, None))
        self._finish(self._finished_id)
        if on_failed is not None and epoch in (self._model_gen, None):
            on_failed(message)

    def _on_rendered(self, result: RenderResult) -> None:
        self._finish(result.request_id)
        if result.epoch != self.epoch or result.request_id <= self._shown_id:
            self.dropped += 1
            return
        self._shown_id = result.request_id
        self.image_ready.emit(result)

    def _on_render_failed(self, request_id: int, epoch: int, message: str) -> None:
        self._finish(request_id)
        if epoch == self.epoch and request_id >= self._next_id:
            self.render_error.emit(message)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.info = info
        self.new_epoch()
        self._model_gen += 1
        self.model_loaded.emit(info)
