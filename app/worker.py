"""The bridge between the GUI thread and the one render worker thread, as asyncio.

:class:`RenderBridge` (a QObject living on the GUI thread) owns a
:class:`cisr_zoom.core.render.worker.RenderWorker`. Everything that computes -- decoding an
image, loading a model, creating a render source, rendering tiles, exporting, upscaling a folder -- runs on that
worker thread; the GUI side awaits it on the asyncio loop that qasync runs on Qt's event loop
(:mod:`cisr_zoom.app.event_loop`). A job's result comes back as an asyncio future, a render
request's tiles as a :class:`TileStream` (``async for tile in stream``); the worker hands
them over with ``loop.call_soon_threadsafe`` and nothing else. The
:class:`~cisr_zoom.core.render.sources.SessionPool` (models, render sources, the current
image) is only ever touched by jobs running on the worker thread. Widgets are never touched
from the worker. After :meth:`RenderBridge.close` the thread has ended and every future or
stream still open is settled (cancelled), so no coroutine waits forever.

Sources: a model id from :class:`~cisr_zoom.app.model_catalog.ModelCatalog`, or ``"bicubic"``.
An *epoch* numbers the images opened; sessions belong to one epoch, device and precision.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from cisr_zoom.core.batch import BatchEvents
from cisr_zoom.core.fixed_scale import load_model
from cisr_zoom.core.coords import region_of_rect
from cisr_zoom.core.errors import error_message
from cisr_zoom.core.imageio import load_image, to_uint8
from cisr_zoom.core.render.estimate import RenderCost
from cisr_zoom.core.render.session import DEFAULT_FEATURE_CACHE_BYTES, RenderCancelled
from cisr_zoom.core.render.sources import RenderSource, SessionPool
from cisr_zoom.core.render.worker import RenderedTile, RenderRequest, RenderWorker

from .model_catalog import ModelCatalog

#: Smallest side of the coarsest preview pyramid level.
PYRAMID_MIN_SIDE = 64


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
    """``CPU``, ``CUDA (GPU name)``, ``CUDA N (GPU name)`` for ``cuda:N``, or ``MPS``."""
    d = str(device)
    if d.startswith("cuda"):
        try:
            import torch
            index = torch.device(device).index
            which = f" {index}" if index is not None else ""
            return f"CUDA{which} ({torch.cuda.get_device_name(device)})"
        except Exception:  # noqa: BLE001 - cosmetic only
            return "CUDA"
    return d.upper()


def precision_for(exact_float32: bool) -> str:
    """``auto`` (the default: the fastest precision whose error is invisible on the session's
    device, see :func:`cisr_zoom.core.precision.resolve_precision`), or ``float32`` when exact
    is asked for."""
    return "float32" if exact_float32 else "auto"


class TileStream:
    """The tiles of one render request as they reach the GUI loop: ``async for tile in
    stream``. When the iteration ends, :attr:`error` (a one-line message or None) and
    :attr:`cancelled` say how the request ended."""

    def __init__(self, request: RenderRequest):
        self.request = request
        self.error: Optional[str] = None
        self.cancelled = False
        self.ended = False
        self._queue: "asyncio.Queue[Optional[RenderedTile]]" = asyncio.Queue()

    def _put(self, tile: RenderedTile) -> None:
        if not self.ended:
            self._queue.put_nowait(tile)

    def _end(self, error: Optional[str], cancelled: bool) -> None:
        if not self.ended:
            self.ended = True
            self.error, self.cancelled = error, cancelled
            self._queue.put_nowait(None)

    def __aiter__(self) -> "TileStream":
        return self

    async def __anext__(self) -> RenderedTile:
        tile = await self._queue.get()
        if tile is None:
            raise StopAsyncIteration
        return tile


class GuiEvents(BatchEvents):
    """A batch's events (render thread) handed to ``events`` on the GUI loop through ``to_gui``,
    each call with ``generation`` first."""

    def __init__(self, to_gui: Callable, events, generation: int):
        self._to_gui, self._events, self._generation = to_gui, events, generation

    def file_started(self, *args) -> None:
        self._to_gui(self._events.file_started, self._generation, *args)

    def file_rendering(self, *args) -> None:
        self._to_gui(self._events.file_rendering, self._generation, *args)

    def file_progress(self, *args) -> None:
        self._to_gui(self._events.file_progress, self._generation, *args)

    def file_finished(self, *args) -> None:
        self._to_gui(self._events.file_finished, self._generation, *args)


class RenderBridge(QObject):
    """GUI-side handle of the render worker: coroutines and streams on the GUI loop."""

    deviceChanged = Signal(str, str)              # device name, label
    deviceFailed = Signal(str)                    # message

    def __init__(self, catalog: ModelCatalog, device: str = "auto", exact_float32: bool = False,
                 exact_decoder: bool = False, feature_cache_bytes: int = DEFAULT_FEATURE_CACHE_BYTES, loop: Optional[asyncio.AbstractEventLoop] = None,
                 parent=None):
        super().__init__(parent)
        self.catalog = catalog
        self.device_name = device
        self.device_text = "…"
        self.exact_float32 = exact_float32
        self.exact_decoder = exact_decoder     # the pool's choice of which model renders (core.twins)
        self._loop = loop or asyncio.get_event_loop()
        self._worker = RenderWorker(name="cisr-render")
        self._pool = SessionPool(feature_cache_bytes)
        self._export_stop = threading.Event()
        self._batch_stop = threading.Event()
        self._closed = False
        self._futures: Set[asyncio.Future] = set()
        self._streams: Set[TileStream] = set()
        self._tasks: Set[asyncio.Task] = set()
        self.spawn(self.set_device(device))

    @property
    def worker(self) -> RenderWorker:
        """The core render worker (its thread does all the compute)."""
        return self._worker

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    # -- plumbing ------------------------------------------------------------------------
    def spawn(self, coro) -> Optional[asyncio.Task]:
        """Run ``coro`` as a task on the GUI loop (kept until it ends; cancelled by :meth:`close`)."""
        if self._closed:
            coro.close()
            return None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _to_gui(self, fn: Callable, *args) -> None:
        """Call ``fn(*args)`` on the GUI loop (from the worker thread)."""
        if self._closed:
            return
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:   # the loop was closed meanwhile: nobody is waiting any more
            pass

    def _awaited(self) -> Tuple["asyncio.Future", Optional[Callable[[Any, Optional[BaseException]], None]]]:
        """A future on the GUI loop that :meth:`close` cancels if still open, and ``settle(result,
        error)`` that completes it (on the GUI loop; a no-op once it is done). ``settle`` is None
        (the future already cancelled) when the bridge is closed."""
        fut = self._loop.create_future()
        if self._closed:
            fut.cancel()
            return fut, None
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

        def settle(result, error) -> None:
            if fut.done():
                return
            if error is None:
                fut.set_result(result)
            else:
                fut.set_exception(error)
        return fut, settle

    def run(self, fn: Callable[[], Any]) -> "asyncio.Future":
        """Run ``fn()`` on the render thread; await the returned future for its result (its
        exception is raised there)."""
        fut, settle = self._awaited()
        if settle is None:
            return fut

        def job():
            try:
                result, error = fn(), None
            except BaseException as e:  # noqa: BLE001 - every failure goes to the awaiting coroutine
                result, error = None, e
            self._to_gui(settle, result, error)
        self._worker.run_job(job)
        return fut

    def _model_paths(self) -> Dict[str, Path]:
        return {e.id: e.path for e in self.catalog.entries()}

    def _source(self, source: str, epoch: int, exact_float32: bool) -> RenderSource:
        """The render source (render thread only)."""
        return self._pool.source(source, epoch, precision_for(exact_float32))

    # -- images --------------------------------------------------------------------------
    async def load_image(self, path: str | Path, epoch: int) -> ImageData:
        """Decode ``path`` on the worker and make it the current image (numbered ``epoch``)."""
        pool = self._pool

        def work():
            loaded = load_image(path)
            pyramid = build_pyramid(to_uint8(loaded.rgb))
            self._worker.cancel_ahead()      # the previous image's sources are dropped
            pool.set_image(loaded, epoch)
            return ImageData(epoch, Path(path), loaded.size, pyramid, loaded.alpha is not None, loaded.bit_depth)
        return await self.run(work)

    # -- sources -------------------------------------------------------------------------
    async def open_source(self, source: str, epoch: int) -> RenderSource:
        """The render source ``source`` of image ``epoch`` (a model is loaded if needed);
        raises :class:`RenderCancelled` when the image changed meanwhile."""
        paths, exact = self._model_paths(), self.exact_float32

        def work():
            self._pool.model_paths = paths
            return self._source(source, epoch, exact)
        return await self.run(work)

    async def validate_model(self, path: str | Path) -> None:
        """Load ``path`` on the worker (CPU) to check it (an INN checkpoint, or a fixed-scale model
        through spandrel); raises with a one-line message if it does not load."""
        await self.run(lambda: load_model(path, "cpu"))

    # -- devices -------------------------------------------------------------------------
    async def set_device(self, name: str, exact_float32: Optional[bool] = None,
                         exact_decoder: Optional[bool] = None) -> None:
        """Switch device (``auto``/``cpu``/``cuda``/``cuda:N``/``mps``), and optionally the precision
        choice and whether models render through their LM twins (``exact_decoder`` False, the
        default) or themselves; models and sources are rebuilt lazily. Announced by
        ``deviceChanged`` or ``deviceFailed``."""
        pool = self._pool
        if exact_float32 is not None:
            self.exact_float32 = exact_float32
        if exact_decoder is not None:
            self.exact_decoder = bool(exact_decoder)
        exact_dec = self.exact_decoder
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
            self._worker.cancel_ahead()
            pool.set_device(dev, exact_decoder=exact_dec)
            return dev
        try:
            dev = await self.run(work)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - reported to the user
            self.deviceFailed.emit(error_message(e))
            if fell_back:
                self.device_name, self.device_text = "cpu", "CPU"
                self.deviceChanged.emit("cpu", "CPU")
            return
        self.device_name = name
        self.device_text = device_label(dev)
        self.deviceChanged.emit(name, self.device_text)

    # -- rendering -----------------------------------------------------------------------
    def render(self, session: RenderSource, request: RenderRequest) -> TileStream:
        """Queue ``request`` on the worker; its tiles arrive through the returned stream."""
        stream = TileStream(request)
        if self._closed:
            stream._end(None, True)
            return stream
        self._streams.add(stream)

        def on_done(_generation, error: Optional[str], cancelled: bool):
            self._to_gui(self._end_stream, stream, error or None, bool(cancelled))

        self._worker.submit(session, request, lambda tile: self._to_gui(stream._put, tile), on_done)
        return stream

    def encode_ahead(self, session: RenderSource, focus: Tuple[float, float], refocus: bool = True) -> None:
        """Encode the rest of ``session``'s image whenever the render thread has nothing else
        to do (:data:`~cisr_zoom.core.render.worker.IDLE`: any view or export request
        preempts it within one encoder layer), nearest ``focus`` first (``(y, x)`` input
        pixels: the middle of the view that settled), within the feature budget. A live job
        for ``session`` is kept, and moved to ``focus`` when ``refocus``; one that finished is
        started again (the view moved: tiles nearer it may now be worth encoding). Jobs of
        several sources run one after the other, oldest first. Stopped when the image or
        device changes."""
        if self._closed:
            return
        key = ("ahead", id(session))
        focus = (float(focus[0]), float(focus[1]))
        self._worker.encode_ahead(session, key=key, focus=focus, restart=False)
        if refocus:
            self._worker.refocus_ahead(key, focus)

    def encoding_ahead(self) -> bool:
        """Whether an encode-ahead job is still live (queued or running)."""
        return self._worker.ahead_live()

    def _end_stream(self, stream: TileStream, error: Optional[str], cancelled: bool) -> None:
        self._streams.discard(stream)
        stream._end(error, cancelled)

    def cancel(self, key=None) -> None:
        if not self._closed:
            self._worker.cancel(key)

    def refocus(self, key, focus: Tuple[float, float]) -> None:
        """Reorder the remaining tiles of request ``key`` from ``focus`` (its output pixels ``(y, x)``)."""
        if not self._closed:
            self._worker.refocus(key, focus)

    async def measure_speed(self, source: str, epoch: int, region, out_size: Tuple[int, int]) -> RenderCost:
        """What the middle chunk of an export of ``region`` at ``out_size`` costs (decoding, and
        encoding the features of its area that were not cached), rendered the way the export's
        own steps render it (:func:`~cisr_zoom.core.render.export.middle_chunk`), for the speed
        book's :data:`~cisr_zoom.core.render.estimate.PROBE` figures."""
        from cisr_zoom.core.render.export import middle_chunk
        paths, exact = self._model_paths(), self.exact_float32
        sub, size = middle_chunk(region, out_size)

        def work():
            self._pool.model_paths = paths
            s = self._source(source, epoch, exact)
            h, w = s.lr_size
            # warm: the first render of a session sets up its kernels (seconds), which an export
            # pays once, not per megapixel; a tiny untimed render in the corner takes that
            s.render(region_of_rect((h, w), 0, 0, min(h, 8), min(w, 8)), (8, 8))
            t0, e0, uncached = time.perf_counter(), s.encode_seconds, s.uncached_pixels(sub)
            s.render(sub, size)
            return RenderCost(time.perf_counter() - t0, s.encode_seconds - e0, size[0] * size[1], uncached)
        return await self.run(work)

    # -- export --------------------------------------------------------------------------
    async def export(self, source: str, epoch: int, path: str | Path, out_size: Tuple[int, int],
                     region=(-1.0, -1.0, 1.0, 1.0), fmt: Optional[str] = None, jpeg_quality: int = 95,
                     progress: Optional[Callable[[int, int], None]] = None, *, lossless: bool = False,
                     pyramid: bool = False, encoded: Optional[Callable[[int], None]] = None) -> RenderCost:
        """Export on the worker as a background job: one chunk per step, the views' tiles in
        between (:mod:`cisr_zoom.core.render.worker`); ``progress(rows done, rows)`` runs on the
        GUI loop after each band of rows is written, ``encoded(boxes)`` after each encoder box
        (the count so far; a cold export's first rows wait for a row of them). The output keeps the image's ICC profile,
        EXIF, resolution (scaled), 16 bits and greyness where the format allows (the export is
        given the image). ``lossless``: lossless WebP; ``pyramid``: tiled pyramidal TIFF.
        Raises :class:`RenderCancelled` after :meth:`cancel_export` (nothing is left on disk),
        or the export's error. Returns what it cost
        (:class:`~cisr_zoom.core.render.estimate.RenderCost`: its own steps' time and encoding,
        not the views' work in between), for the speed book."""
        from cisr_zoom.core.render.export import measured_export_steps
        paths, exact = self._model_paths(), self.exact_float32
        self._export_stop.clear()
        stop = self._export_stop

        def on_rows(done: int, total: int) -> None:
            if progress is not None and total:
                self._to_gui(progress, done, total)

        def on_box(boxes: int) -> None:
            if encoded is not None:
                self._to_gui(encoded, boxes)

        def steps(job_stopped):
            def should_stop() -> bool:
                return stop.is_set() or job_stopped()
            if should_stop():
                raise RenderCancelled()
            self._pool.model_paths = paths
            source_ = self._source(source, epoch, exact)
            # its own steps' time only, not the views' steps in between (see measured_export_steps)
            return (yield from measured_export_steps(
                source_, path, out_size, region=region, fmt=fmt, jpeg_quality=jpeg_quality, progress=on_rows,
                should_stop=should_stop, image=self._pool.image, lossless=lossless, pyramid=pyramid,
                encoded=on_box))
        return await self._background(steps, "export")

    def _background(self, steps, name: str) -> "asyncio.Future":
        """Run the generator ``steps(job_stopped)`` on the worker as a :data:`BACKGROUND` job (one
        step at a time, the views' tiles in between, a fair share of the thread's time); await the
        returned future for its return value or its exception."""
        from cisr_zoom.core.render.worker import BACKGROUND
        fut, settle = self._awaited()
        if settle is None:
            return fut
        self._worker.run_steps(steps, BACKGROUND, on_result=lambda r: self._to_gui(settle, r, None),
                               on_error=lambda e: self._to_gui(settle, None, e), name=name)
        return fut

    async def uncached_pixels(self, source: str, epoch: int, region) -> int:
        """Input pixels of ``region`` whose features ``source`` has not encoded yet (estimates)."""
        paths, exact = self._model_paths(), self.exact_float32

        def work():
            self._pool.model_paths = paths
            return self._source(source, epoch, exact).uncached_pixels(region)
        return int(await self.run(work))

    def cancel_export(self) -> None:
        """Stop the running export within one chunk; its temporary file is removed."""
        self._export_stop.set()

    # -- batch ---------------------------------------------------------------------------
    async def upscale_batch(self, files: List[str], folder: str | Path, options, events,
                            generation: int = 0):
        """Upscale ``files`` into ``folder`` on the worker as a background job, through the one
        batch job of ``cisr upscale`` (:class:`~cisr_zoom.core.batch.Batch`: the same names, policy
        for existing outputs, metadata and atomic writes): the model is loaded in the first step,
        then one export chunk or encoder box per step, the views' tiles in between. ``options``: a
        :class:`~cisr_zoom.core.batch.BatchOptions` (its device, precision and decoder choice are
        set here from the bridge's). ``events`` (a :class:`~cisr_zoom.core.batch.BatchEvents`) hears
        every event on the GUI loop, each with ``generation`` prepended (so a dialog drops the
        events of an earlier batch). Returns the :class:`~cisr_zoom.core.batch.Outcome`
        (:attr:`~cisr_zoom.core.batch.Outcome.cancelled` after :meth:`cancel_batch`: the file in
        progress is not written); raises when the model does not load."""
        from dataclasses import replace

        from cisr_zoom.core.batch import Batch
        batch = Batch(replace(options, device=self.device_name, precision=precision_for(self.exact_float32),
                              exact_decoder=self.exact_decoder))
        self._batch_stop.clear()
        stop = self._batch_stop
        relay = GuiEvents(self._to_gui, events, generation)

        def steps(job_stopped):
            def should_stop() -> bool:
                return stop.is_set() or job_stopped()
            if should_stop():
                raise RenderCancelled()
            batch.model()                 # one step; a model that does not load ends the batch here
            yield
            return (yield from batch.steps(list(files), Path(folder), should_stop, relay))
        return await self._background(steps, "batch")

    def cancel_batch(self) -> None:
        """Stop the running batch within one step; the file in progress is not written."""
        self._batch_stop.set()

    # -- shutdown ------------------------------------------------------------------------
    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything, join the worker thread, and settle what is still awaited."""
        if self._closed:
            return
        self._export_stop.set()
        self._batch_stop.set()
        self._worker.cancel()
        self._closed = True
        self._worker.close(timeout)
        for stream in list(self._streams):
            stream._end(None, True)
        self._streams.clear()
        for fut in list(self._futures):
            fut.cancel()
        for task in list(self._tasks):
            task.cancel()
