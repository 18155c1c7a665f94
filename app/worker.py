"""The bridge between the GUI thread and the one render worker thread.

:class:`RenderBridge` (a QObject living on the GUI thread) owns a
:class:`cisr_zoom.core.render.worker.RenderWorker`. Everything that computes -- decoding an
image, loading a model, creating a render session, rendering tiles, exporting -- runs on that
worker thread. Its callbacks reach the GUI thread through an inbox: the worker puts a
closure in a thread-safe queue and emits an argument-less queued signal; the GUI thread
drains the queue and emits the public signals from there. No Python object crosses the
thread boundary inside a Qt signal (PySide6 on Python 3.11 can corrupt the reference count
of ``None`` passed that way: it crashed the interpreter in a long benchmark run). The
:class:`~cisr_zoom.core.render.sources.SessionPool` (models, render sources, the current image)
is only ever touched by jobs running on the worker thread. Widgets are never touched from the worker.

Sources: a model id from :class:`~cisr_zoom.app.model_catalog.ModelCatalog`, or ``"bicubic"``.
An *epoch* numbers the images opened; sessions belong to one epoch, device and precision.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

from cisr_zoom.core.checkpoint import load_checkpoint
from cisr_zoom.core.coords import region_of_rect
from cisr_zoom.core.errors import CisrError
from cisr_zoom.core.imageio import load_image, to_uint8
from cisr_zoom.core.render.session import RenderCancelled
from cisr_zoom.core.render.sources import RenderSource, SessionPool
from cisr_zoom.core.render.worker import RenderRequest, RenderWorker

from .model_catalog import ModelCatalog

#: Smallest side of the coarsest preview pyramid level.
PYRAMID_MIN_SIDE = 64


def describe_error(e: BaseException) -> str:
    """A one-line message for the user."""
    if isinstance(e, CisrError):
        return str(e)
    text = (str(e).strip().splitlines() or [""])[0]
    if isinstance(e, MemoryError) or "OutOfMemory" in type(e).__name__ or "out of memory" in text.lower():
        return "out of memory: try a smaller output, the CPU device, or close other programs" + (f" ({text[:160]})" if text else "")
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def is_cancellation(e: BaseException) -> bool:
    return isinstance(e, RenderCancelled)


@dataclass
class ImageData:
    """An opened image (built on the worker, used read-only on the GUI thread)."""

    epoch: int
    path: Optional[Path]
    size: Tuple[int, int]                 # (h, w)
    pyramid: List[QImage]                 # level j is downscaled 2**j (level 0: the image itself)
    has_alpha: bool
    bit_depth: int


def build_pyramid(rgb8: np.ndarray) -> List[QImage]:
    """QImages of the image and its successive halvings (box filter), for smooth zoomed-out previews."""
    h, w = rgb8.shape[:2]
    base = QImage(rgb8.data, w, h, 3 * w, QImage.Format.Format_RGB888).convertToFormat(QImage.Format.Format_RGB32)
    out = [base]
    cur = rgb8.astype(np.float32)
    while min(cur.shape[0], cur.shape[1]) >= 2 * PYRAMID_MIN_SIDE:
        hh, ww = cur.shape[0] // 2 * 2, cur.shape[1] // 2 * 2
        c = cur[:hh, :ww]
        cur = 0.25 * (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2])
        a = np.ascontiguousarray(np.clip(cur + 0.5, 0, 255).astype(np.uint8))
        out.append(QImage(a.data, a.shape[1], a.shape[0], 3 * a.shape[1],
                          QImage.Format.Format_RGB888).convertToFormat(QImage.Format.Format_RGB32))
    return out


def device_label(device) -> str:
    """``CPU``, ``CUDA (GPU name)`` or ``MPS``."""
    d = str(device)
    if d.startswith("cuda"):
        try:
            import torch
            return f"CUDA ({torch.cuda.get_device_name(device)})"
        except Exception:  # noqa: BLE001 - cosmetic only
            return "CUDA"
    return d.upper()


def precision_for(device, reduced: bool) -> str:
    """``float32``, or ``auto``: the renderer's best reduced precision for the device
    (bfloat16/int8 on CPUs, bfloat16/float16 on GPUs)."""
    return "auto" if reduced else "float32"


class RenderBridge(QObject):
    """GUI-side handle of the render worker. All signals arrive on the GUI thread."""

    tileReady = Signal(object)                    # RenderedTile
    requestDone = Signal(object, object, bool)    # request key, error message or None, cancelled
    imageLoaded = Signal(object)                  # ImageData
    imageFailed = Signal(str, str)                # path, message
    sessionReady = Signal(int, str, object)       # epoch, source, session (opaque on the GUI side)
    sessionFailed = Signal(int, str, str)         # epoch, source, message
    deviceChanged = Signal(str, str)              # device name, label
    deviceFailed = Signal(str)                    # message
    exportProgress = Signal(float)                # fraction done, 0..1
    exportFinished = Signal(str, object, bool)    # path, error message or None, cancelled
    speedMeasured = Signal(str, float)            # source, seconds per output megapixel
    _wake = Signal()                              # internal: the inbox has work for the GUI thread

    def __init__(self, catalog: ModelCatalog, device: str = "auto", reduced_precision: bool = False,
                 feature_cache_bytes: int = 512 * 2 ** 20, parent=None):
        super().__init__(parent)
        self.catalog = catalog
        self.device_name = device
        self.device_text = "…"
        self.reduced_precision = reduced_precision
        self._worker = RenderWorker(name="cisr-render")
        self._pool = SessionPool(feature_cache_bytes)
        self._export_stop = threading.Event()
        self._closed = False
        self._inbox: "queue.SimpleQueue[Callable[[], None]]" = queue.SimpleQueue()
        self._wake.connect(self._drain_inbox, Qt.ConnectionType.QueuedConnection)
        self.set_device(device)

    @Slot()
    def _drain_inbox(self) -> None:
        while True:
            try:
                fn = self._inbox.get_nowait()
            except queue.Empty:
                return
            try:
                fn()
            except BaseException:
                if not self._inbox.empty():
                    self._wake.emit()   # the rest still runs
                raise

    @property
    def worker(self) -> RenderWorker:
        """The core render worker (its thread does all the compute)."""
        return self._worker

    # -- plumbing ------------------------------------------------------------------------
    def _on_gui(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the GUI thread (called from the worker thread)."""
        if not self._closed:
            self._inbox.put(fn)
            self._wake.emit()   # no arguments cross the thread boundary through Qt

    def _job(self, fn: Callable[[], Any], done: Callable[[Any, Optional[BaseException]], None]) -> None:
        """Run ``fn`` on the worker; ``done(result, error)`` then runs on the GUI thread."""
        def run():
            try:
                res, err = fn(), None
            except BaseException as e:  # noqa: BLE001 - every failure is reported to the user
                res, err = None, e
            self._on_gui(lambda: done(res, err))
        if not self._closed:
            self._worker.run_job(run)

    def _model_paths(self) -> Dict[str, Path]:
        return {e.id: e.path for e in self.catalog.entries()}

    # -- images --------------------------------------------------------------------------
    def load_image(self, path: str | Path, epoch: int) -> None:
        pool = self._pool

        def work():
            loaded = load_image(path)
            pyramid = build_pyramid(to_uint8(loaded.rgb))
            pool.set_image(loaded, epoch)
            return ImageData(epoch, Path(path), loaded.size, pyramid, loaded.alpha is not None, loaded.bit_depth)

        def done(res, err):
            if err is None:
                self.imageLoaded.emit(res)
            else:
                self.imageFailed.emit(str(path), describe_error(err))
        self._job(work, done)

    # -- sessions ------------------------------------------------------------------------
    def request_session(self, source: str, epoch: int) -> None:
        pool, paths, reduced = self._pool, self._model_paths(), self.reduced_precision

        def work():
            pool.model_paths = paths
            return pool.source(source, epoch, precision_for(pool.device, reduced))

        def done(res, err):
            if err is None:
                self.sessionReady.emit(epoch, source, res)
            elif not is_cancellation(err):
                self.sessionFailed.emit(epoch, source, describe_error(err))
        self._job(work, done)

    def validate_model(self, path: str | Path, done: Callable[[Optional[str]], None]) -> None:
        """Load ``path`` on the worker (CPU) to check it; ``done(error message or None)`` on the GUI thread."""
        def check():
            load_checkpoint(path, "cpu")   # raises CheckpointError with a one-line message

        self._job(check, lambda res, err: done(None if err is None else describe_error(err)))

    # -- devices -------------------------------------------------------------------------
    def set_device(self, name: str, reduced_precision: Optional[bool] = None) -> None:
        """Switch device (``auto``/``cpu``/``cuda``/``mps``); models and sessions are rebuilt lazily."""
        pool = self._pool
        if reduced_precision is not None:
            self.reduced_precision = reduced_precision

        fell_back = []

        def work():
            from cisr_zoom.core.devices import pick_device
            try:
                dev = pick_device(name)
            except Exception:
                if pool.device is None:            # at start-up: render on the CPU instead
                    pool.set_device("cpu")
                    fell_back.append(1)
                raise
            pool.set_device(dev)
            return dev

        def done(dev, err):
            if err is None:
                self.device_name = name
                self.device_text = device_label(dev)
                self.deviceChanged.emit(name, self.device_text)
                return
            self.deviceFailed.emit(describe_error(err))
            if fell_back:
                self.device_name, self.device_text = "cpu", "CPU"
                self.deviceChanged.emit("cpu", "CPU")
        self._job(work, done)

    # -- rendering -----------------------------------------------------------------------
    def submit(self, session: RenderSource, request: RenderRequest) -> None:
        def on_tile(tile):
            self._on_gui(lambda: self.tileReady.emit(tile))

        def on_done(generation, error: Optional[str], cancelled: bool):
            if error and "out of memory" in error.lower():
                error = f"out of memory while rendering; try the CPU device or a smaller window ({error[:160]})"
            self._on_gui(lambda: self.requestDone.emit(request.key, error or None, bool(cancelled)))

        if not self._closed:
            self._worker.submit(session, request, on_tile, on_done)

    def cancel(self, key=None) -> None:
        if not self._closed:
            self._worker.cancel(key)

    @property
    def closed(self) -> bool:
        return self._closed

    def measure_speed(self, source: str, epoch: int, scale: float = 4.0) -> None:
        """Time a small render (features of its area included) for export estimates:
        emits ``speedMeasured(source, seconds per output megapixel)``. Nothing on failure."""
        pool, paths, reduced = self._pool, self._model_paths(), self.reduced_precision

        def work():
            pool.model_paths = paths
            s = pool.source(source, epoch, precision_for(pool.device, reduced))
            h, w = s.lr_size
            lr = max(4, min(h, w, 32))             # a 32x32 LR patch in the middle
            y0, x0 = (h - lr) // 2, (w - lr) // 2
            region = region_of_rect((h, w), y0, x0, y0 + lr, x0 + lr)
            side = int(min(512, max(64, lr * scale)))
            t0 = time.perf_counter()
            s.render(region, (side, side))
            return (time.perf_counter() - t0) / (side * side / 1e6)

        def done(res, err):
            if err is None:
                self.speedMeasured.emit(source, float(res))
        self._job(work, done)

    # -- export --------------------------------------------------------------------------
    def export(self, source: str, epoch: int, path: str | Path, out_size: Tuple[int, int],
               region=(-1.0, -1.0, 1.0, 1.0), fmt: Optional[str] = None, jpeg_quality: int = 95) -> None:
        from cisr_zoom.core.render.export import export_image
        pool, paths, reduced = self._pool, self._model_paths(), self.reduced_precision
        self._export_stop.clear()
        stop = self._export_stop

        def progress(*args):
            if len(args) >= 2 and args[1]:
                frac = float(args[0]) / float(args[1])
            elif args:
                frac = float(args[0])
            else:
                return
            frac = min(max(frac, 0.0), 1.0)
            self._on_gui(lambda: self.exportProgress.emit(frac))

        def work():
            if stop.is_set():
                raise RenderCancelled()
            pool.model_paths = paths
            session = pool.source(source, epoch, precision_for(pool.device, reduced))
            export_image(session, path, out_size, region=region, fmt=fmt, jpeg_quality=jpeg_quality,
                         progress=progress, should_stop=stop.is_set)

        def done(res, err):
            if err is None:
                self.exportFinished.emit(str(path), None, False)
            elif is_cancellation(err):
                self.exportFinished.emit(str(path), None, True)
            else:
                self.exportFinished.emit(str(path), describe_error(err), False)
        self._job(work, done)

    def cancel_export(self) -> None:
        self._export_stop.set()

    # -- shutdown ------------------------------------------------------------------------
    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything and join the worker thread."""
        if self._closed:
            return
        self._export_stop.set()
        self._worker.cancel()
        self._closed = True
        self._worker.close(timeout)
