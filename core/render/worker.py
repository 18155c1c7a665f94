"""The one render thread (plain :mod:`threading`, no Qt): requests in, tiles out.

A :class:`RenderWorker` owns a single non-daemon thread that does all compute. Callers (the GUI
thread) only enqueue work and return at once:

* :meth:`RenderWorker.submit` queues a :class:`RenderRequest` for a
  :class:`~.sources.RenderSource`; the result comes back as :class:`RenderedTile` callbacks,
  then one ``on_done(generation, error_message_or_None, cancelled)``. A new request with the
  same ``key`` supersedes (cancels) every pending or running request with that key; a cancelled
  request stops within one render chunk (or one encoder layer) and delivers no tile after the
  call that cancelled it returned.
* :meth:`RenderWorker.refocus` moves the point a request's remaining tiles are ordered from
  (the cursor moved): nothing already rendered or in progress is lost.
* :meth:`RenderWorker.run_job` runs any function on the thread (model loading, image decoding...);
  :meth:`RenderWorker.run_steps` runs a generator one step at a time (an export: one chunk per
  step), at a lower priority than the views.
* :meth:`RenderWorker.encode_ahead` encodes a source's features ahead of need at :data:`IDLE`
  priority, nearest a focus first (:meth:`RenderWorker.refocus_ahead` moves it), until the
  source says nothing is left worth encoding.

**Scheduling.** All work is cut into *steps* of bounded length: rendering one tile, encoding
one box of features (at most ``max_box`` LR pixels a side) that the next tile needs, one export
chunk. Before each step the worker picks the job ranked first by ``(priority class, distance of
its next tile from its focus, order of arrival)``: function jobs first (they are short and
other work waits on them), then :data:`VIEW` requests (the main view's) nearest their focus
(the cursor, or the view centre), then :data:`OTHER_VIEW` requests (loupes, grid views), then
:data:`PREFETCH` requests, then :data:`BACKGROUND` steps (exports). While an
export competes with other work it gets a fair share of the thread's *time*, not of its steps:
the worker keeps the seconds the other work ran while the export waited, less the seconds the
export ran (:attr:`RenderWorker.export_credit`), and steps the export whenever that credit is
positive. So an export at most doubles in time however long the user keeps zooming (plus one
step of the other work), the view's first tile still comes first (the credit starts at zero),
and the view waits at most about one of its own steps' time for the export's catch-up. :data:`IDLE` steps (encoding ahead) run only when nothing else is queued, and an idle step is
*preempted*: its stop check is true as soon as any other work is queued, so it gives the
thread up within one encoder layer and is retried later. Distances are in output pixels of the requests' level, so tiles of different requests of
one view interleave nearest first. Callbacks run on the worker thread; an exception in a
callback is logged and does not stop the worker.

**Instrumentation.** Every tile carries its :class:`TileTiming` (queue wait, encode and decode
seconds); with the environment variable ``CISR_ZOOM_RENDER_LOG`` set (``1``: stderr, else a
file path) each step is logged as one line (see :func:`enable_render_log`).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np

from ..coords import Region
from ..errors import error_message
from ..imageio import to_uint8
from .session import RenderCancelled
from .sources import RenderSource
from .tiles import TileSpec, plan_tiles

log = logging.getLogger(__name__)

#: priority classes of render requests and stepped jobs (lower runs first)
VIEW = 0          # tiles the main view shows now
OTHER_VIEW = 1    # tiles the other views show (loupes, grid views): after the main view's, never before
PREFETCH = 2      # work ahead of need (nothing on screen waits for it)
BACKGROUND = 3    # exports and batches (File > Upscale Folder...)
#: the share of the render thread's time a :data:`BACKGROUND` job (an export) gets while other
#: work competes: one half, so an export never takes more than twice its own time
FAIR_SHARE = 0.5
IDLE = 4          # encoding ahead: only when nothing else is queued, preempted by any other work

#: environment variable: set to ``1`` (stderr) or a file path to log every step
RENDER_LOG_ENV = "CISR_ZOOM_RENDER_LOG"
_log_target: Optional[str] = None   # where enable_render_log sent the log (once per target)


def enable_render_log(target: Optional[str] = None) -> bool:
    """Log every worker step (kind, job, seconds, queue) at DEBUG to ``target`` (``"1"``:
    stderr, else a file path; default: the :data:`RENDER_LOG_ENV` variable). False if unset."""
    target = os.environ.get(RENDER_LOG_ENV) if target is None else target
    if not target:
        return False
    global _log_target
    if _log_target == target:
        return True
    _log_target = target
    handler = logging.StreamHandler() if target in ("1", "-", "stderr") else logging.FileHandler(target)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    return True


@dataclass(frozen=True)
class RenderRequest:
    """Render ``region`` (``(y0, x0, y1, x1)`` of ``[-1, 1]^2``) at ``out_size = (H, W)`` output
    pixels, delivered in tiles of ``tile_size``. ``key`` names the view (requests with equal keys
    supersede each other); ``generation`` is echoed back so stale results can be dropped.
    ``focus``: the point ``(y, x)`` in this request's output pixels that tiles are ordered
    from (nearest first; None: the request's centre; it may lie outside the request).
    ``priority``: :data:`VIEW`, :data:`OTHER_VIEW` or :data:`PREFETCH`. ``within``: the region (same convention)
    whose features may be encoded along with this request's, in the same encoder boxes (e.g.
    the whole view a piece belongs to; default ``region``). ``tiles`` is the tile plan, made once
    here: the worker renders exactly these tiles (in the order of their distance from the
    focus, which :meth:`RenderWorker.refocus` may move)."""

    generation: int
    key: Any
    region: Region
    out_size: Tuple[int, int]
    tile_size: int = 256
    focus: Optional[Tuple[float, float]] = None
    priority: int = VIEW
    within: Optional[Region] = None
    tiles: Tuple[TileSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiles", tuple(plan_tiles(self.region, self.out_size, self.tile_size, self.focus)))


@dataclass(frozen=True)
class TileTiming:
    """Where a tile's time went, in seconds (render thread, wall clock): ``queued`` from the
    request's submission to the start of this tile's first step (waiting for other work and
    for the request's earlier tiles), ``encode`` in the encoder for this tile (boxes encoded
    ahead for it and inside its render), ``decode`` rendering it from cached features."""

    queued: float = 0.0
    encode: float = 0.0
    decode: float = 0.0


@dataclass(frozen=True)
class RenderedTile:
    generation: int
    key: Any
    spec: TileSpec
    pixels: np.ndarray   # (h, w, 3) uint8
    seconds: float = 0.0  # time spent rendering this tile (wall clock, render thread)
    timing: TileTiming = TileTiming()


class _Job:
    priority = VIEW

    def __init__(self, key: Any = None):
        self.key = key
        self.cancelled = threading.Event()
        self.seq = 0                 # order of arrival (set by the worker)
        self.submitted = time.perf_counter()
        # held while a result is delivered, so that once cancel() has returned nothing more is
        # delivered (re-entrant: a callback may itself submit or cancel)
        self.deliver_lock = threading.RLock()

    def cancel(self) -> None:
        self.cancelled.set()
        self.wait_delivery()

    def wait_delivery(self) -> None:
        """Return once no delivery of this job is in progress (call after setting ``cancelled``)."""
        with self.deliver_lock:
            pass

    def distance(self) -> float:
        """Distance of the next piece of work from the job's focus (0: no such notion)."""
        return 0.0

    def rank(self) -> Tuple[int, float, int]:
        return (self.priority, self.distance(), self.seq)

    def step(self) -> bool:
        """Do one step of the work; True when the job is finished."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Finish without running (the worker is closing, or the job was cancelled)."""


class _CallJob(_Job):
    priority = -1   # before any render step: others wait on it (model loads, image decodes)

    def __init__(self, fn, on_result, on_error):
        super().__init__(None)
        self.fn, self.on_result, self.on_error = fn, on_result, on_error

    def step(self) -> bool:
        if self.cancelled.is_set():
            self.abandon()
            return True
        try:
            result = self.fn()
        except BaseException as e:  # noqa: BLE001 - reported through on_error
            if self.on_error is not None:
                _safe(self.on_error, error_message(e))
            else:
                log.exception("job failed")
            return True
        if self.on_result is not None:
            _safe(self.on_result, result)
        return True

    def abandon(self) -> None:
        if self.on_error is not None:
            _safe(self.on_error, "cancelled")


class _StepJob(_Job):
    """A generator run one ``next()`` per step; its return value goes to ``on_result``."""

    def __init__(self, steps: Callable[[Callable[[], bool]], Iterator[Any]], priority: int, on_result, on_error,
                 name: str = "steps"):
        super().__init__(None)
        self.priority = int(priority)
        self.name = name
        self.on_result, self.on_error = on_result, on_error
        self._make = steps
        self._it: Optional[Iterator[Any]] = None
        self._finished = False

    def step(self) -> bool:
        try:
            if self.cancelled.is_set():
                raise RenderCancelled()
            if self._it is None:
                self._it = self._make(self.cancelled.is_set)
            next(self._it)
            return False
        except StopIteration as stop:
            self._finish(stop.value, None)
        except BaseException as e:  # noqa: BLE001 - reported through on_error
            self._finish(None, e)
        return True

    def abandon(self) -> None:
        self._finish(None, RenderCancelled())

    def _finish(self, result, error: Optional[BaseException]) -> None:
        if self._finished:
            return
        self._finished = True
        if self._it is not None:
            self._it.close()      # a generator stopped mid-way cleans up (temporary files...)
        if error is None:
            if self.on_result is not None:
                _safe(self.on_result, result)
        elif self.on_error is not None:
            _safe(self.on_error, error)
        elif not isinstance(error, RenderCancelled):
            log.error("%s failed: %s", self.name, error_message(error))


class _RenderJob(_Job):
    def __init__(self, session: RenderSource, request: RenderRequest, on_tile, on_done):
        super().__init__(request.key)
        self.priority = int(request.priority)
        self.session, self.request = session, request
        self.on_tile, self.on_done = on_tile, on_done
        self._todo: List[TileSpec] = list(request.tiles)
        self._focus = request.focus
        self._new_focus: Optional[Tuple[float, float]] = None
        self._focus_lock = threading.Lock()     # refocus (any thread) vs. its use (render thread)
        self._spent: dict = {}      # tile index -> (first step start, encode seconds so far)
        self._finished = False

    # -- order ----------------------------------------------------------------------------
    def refocus(self, focus: Tuple[float, float]) -> None:
        """Order the remaining tiles from ``focus`` (applied before the next step; any thread)."""
        with self._focus_lock:
            self._new_focus = (float(focus[0]), float(focus[1]))

    def _apply_focus(self) -> None:
        with self._focus_lock:
            f, self._new_focus = self._new_focus, None
        if f is not None:
            self._focus = f
            self._todo.sort(key=lambda t: _tile_distance(t, f))

    def distance(self) -> float:
        self._apply_focus()
        if not self._todo:
            return 0.0
        f = self._focus
        if f is None:
            H, W = self.request.out_size
            f = (H / 2.0, W / 2.0)
        return math.sqrt(_tile_distance(self._todo[0], f))

    # -- steps ----------------------------------------------------------------------------
    def step(self) -> bool:
        try:
            if self.cancelled.is_set():
                raise RenderCancelled()
            self._apply_focus()
            if not self._todo:
                self._done(None, False)
                return True
            self._step()
            if not self._todo:
                self._done(None, False)
                return True
            return False
        except RenderCancelled:
            self._done(None, True)
        except BaseException as e:  # noqa: BLE001 - reported through on_done
            log.exception("render request %s failed", self.request.generation)
            self._done(error_message(e), False)
        return True

    def _step(self) -> None:
        """Encode one box of features the nearest tile needs, or (all there) render it."""
        req, stop = self.request, self.cancelled.is_set
        spec = self._todo[0]
        t0 = time.perf_counter()
        started, encoded = self._spent.get(id(spec), (t0, 0.0))
        e0 = self.session.encode_seconds
        if self.session.encode_step(spec.region, req.within or req.region, should_stop=stop):
            dt = self.session.encode_seconds - e0       # the encoder's own time, as inside renders
            self._spent[id(spec)] = (started, encoded + dt)
            log.debug("encode  job %s tile (%d,%d) box %.3f s", req.generation, spec.top, spec.left, dt)
            return
        pixels = to_uint8(self.session.render(spec.region, (spec.height, spec.width), should_stop=stop))
        seconds = time.perf_counter() - t0
        inner = self.session.encode_seconds - e0        # features the render itself had to encode
        timing = TileTiming(queued=started - self.submitted, encode=encoded + inner, decode=seconds - inner)
        with self.deliver_lock:
            if stop():
                raise RenderCancelled()
            self._todo.pop(0)
            self._spent.pop(id(spec), None)
            _safe(self.on_tile, RenderedTile(req.generation, req.key, spec, pixels, seconds + encoded, timing))
        log.debug("tile    job %s tile (%d,%d) %dx%d queued %.3f encode %.3f decode %.3f s", req.generation,
                  spec.top, spec.left, spec.width, spec.height, timing.queued, timing.encode, timing.decode)

    def abandon(self) -> None:
        self._done(None, True)

    def _done(self, error: Optional[str], cancelled: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if self.on_done is not None:
            _safe(self.on_done, self.request.generation, error, cancelled)


class _AheadJob(_Job):
    """Encodes ``source``'s features ahead of need at :data:`IDLE` priority, one box per step,
    nearest ``focus`` first; ``busy()`` (the worker has other work queued) preempts a step."""

    priority = IDLE

    def __init__(self, source: RenderSource, key: Any, focus: Optional[Tuple[float, float]],
                 busy: Callable[[], bool], on_done: Optional[Callable[[bool], None]] = None):
        super().__init__(key)
        self.source, self.busy, self.on_done = source, busy, on_done
        self._focus_lock = threading.Lock()
        self._focus = focus
        self.steps = 0          # boxes encoded
        self.preempted = 0      # steps given up for other work
        self._finished = False

    def refocus(self, focus: Tuple[float, float]) -> None:
        with self._focus_lock:
            self._focus = (float(focus[0]), float(focus[1]))

    def step(self) -> bool:
        if self.cancelled.is_set():
            self._done(False)
            return True
        with self._focus_lock:
            focus = self._focus
        stop = lambda: self.cancelled.is_set() or self.busy()   # noqa: E731
        try:
            t0 = time.perf_counter()
            worked = self.source.encode_ahead(focus, should_stop=stop)
        except RenderCancelled:
            if self.cancelled.is_set():
                self._done(False)
                return True
            self.preempted += 1
            log.debug("ahead   job %s preempted", self.key)
            return False
        except BaseException:  # noqa: BLE001 - encoding ahead is optional: log and stop
            log.exception("encoding ahead failed")
            self._done(False)
            return True
        if not worked:
            self._done(True)
            return True
        self.steps += 1
        log.debug("ahead   job %s box %.3f s", self.key, time.perf_counter() - t0)
        return False

    def abandon(self) -> None:
        self._done(False)

    def _done(self, complete: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if self.on_done is not None:
            _safe(self.on_done, complete)


def _tile_distance(spec: TileSpec, focus: Tuple[float, float]) -> float:
    """Squared distance (output pixels) from ``focus`` to the centre of ``spec`` (the measure
    :func:`.tiles.plan_tiles` orders by)."""
    dy = spec.top + spec.height / 2.0 - focus[0]
    dx = spec.left + spec.width / 2.0 - focus[1]
    return dy * dy + dx * dx


def _safe(fn: Callable, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a broken callback must not kill the worker
        log.exception("render callback failed")


class RenderWorker:
    """One thread that runs all render work (see the module docstring)."""

    def __init__(self, name: str = "cisr-render", clock: Callable[[], float] = time.perf_counter):
        self._cv = threading.Condition()
        self._queue: List[_Job] = []
        self._current: Optional[_Job] = None
        self._closed = False
        self._seq = itertools.count()
        self._clock = clock           # times the steps, for the export's fair share
        #: seconds of the other work while a :data:`BACKGROUND` job waited, less its own (weighted by
        #: :data:`FAIR_SHARE`); the background job is stepped while it is positive
        self.export_credit = 0.0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=False)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _jobs_for_locked(self, key: Any) -> list:
        """Render jobs (queued or running) for ``key`` (all when None); call with the lock held."""
        jobs = list(self._queue) + ([self._current] if self._current is not None else [])
        return [j for j in jobs if isinstance(j, _RenderJob) and (key is None or j.key == key)]

    def _enqueue_locked(self, job: _Job) -> None:
        if self._closed:
            raise RuntimeError("the render worker is closed")
        job.seq = next(self._seq)
        self._queue.append(job)
        self._cv.notify()

    def submit(self, session: RenderSource, request: RenderRequest, on_tile: Callable[[RenderedTile], None],
               on_done: Optional[Callable[[int, Optional[str], bool], None]] = None) -> None:
        """Queue ``request``; supersedes pending/running requests with the same key."""
        job = _RenderJob(session, request, on_tile, on_done)
        with self._cv:
            if self._closed:
                raise RuntimeError("the render worker is closed")
            old = self._jobs_for_locked(request.key)
            for j in old:
                j.cancelled.set()   # before the new job is queued: old ones deliver nothing more
            self._enqueue_locked(job)
        for j in old:               # outside the queue lock: wait out a delivery in progress
            j.wait_delivery()

    def refocus(self, key: Any, focus: Tuple[float, float]) -> bool:
        """Order the remaining tiles of the live request ``key`` from ``focus`` (``(y, x)`` in
        that request's output pixels); tiles rendered or in progress are kept. False if no
        such request is live."""
        with self._cv:
            jobs = [j for j in self._jobs_for_locked(key) if not j.cancelled.is_set()]
        for j in jobs:
            j.refocus(focus)
        return bool(jobs)

    def encode_ahead(self, source: RenderSource, key: Any = "ahead", focus: Optional[Tuple[float, float]] = None,
                     on_done: Optional[Callable[[bool], None]] = None, restart: bool = True) -> _Job:
        """Encode ``source``'s features ahead of need at :data:`IDLE` priority (one bounded
        box per step, nearest ``focus`` = ``(y, x)`` input pixels first, default where the
        source last rendered; within its feature budget), superseding an earlier such job with
        the same ``key`` (``restart=False``: keep a live one instead and return it).
        ``on_done(complete)`` after: True when nothing was left worth encoding, False when
        cancelled or failed."""
        job = _AheadJob(source, key, focus, self._busy, on_done)
        with self._cv:
            old = self._ahead_jobs_locked(key)
            if not restart:
                live = [j for j in old if not j.cancelled.is_set() and j.source is source]
                if live:
                    return live[0]
            for j in old:
                j.cancelled.set()
            self._enqueue_locked(job)
        return job

    def refocus_ahead(self, key: Any, focus: Tuple[float, float]) -> bool:
        """Move the focus of the encode-ahead job ``key`` (``(y, x)`` input pixels); False if none is live."""
        with self._cv:
            jobs = [j for j in self._ahead_jobs_locked(key) if not j.cancelled.is_set()]
        for j in jobs:
            j.refocus(focus)
        return bool(jobs)

    def cancel_ahead(self, key: Any = None) -> None:
        """Stop encoding ahead for ``key`` (all when None)."""
        with self._cv:
            jobs = self._ahead_jobs_locked(key)
        for j in jobs:
            j.cancel()

    def ahead_live(self, key: Any = None) -> bool:
        """Whether an encode-ahead job for ``key`` (any when None) is queued or running."""
        with self._cv:
            return any(not j.cancelled.is_set() for j in self._ahead_jobs_locked(key))

    def _ahead_jobs_locked(self, key: Any) -> list:
        jobs = list(self._queue) + ([self._current] if self._current is not None else [])
        return [j for j in jobs if isinstance(j, _AheadJob) and (key is None or j.key == key)]

    def _busy(self) -> bool:
        """Whether work other than encoding ahead is queued (read without the lock: a stale
        answer costs one layer of delay at most)."""
        return any(j.priority < IDLE for j in list(self._queue))

    def run_job(self, fn: Callable[[], Any], on_result: Optional[Callable[[Any], None]] = None,
                on_error: Optional[Callable[[str], None]] = None) -> _Job:
        """Run ``fn()`` on the worker thread; ``on_result(value)`` or ``on_error(message)`` after.
        Returns a handle whose ``cancel()`` skips the job if it has not started."""
        job = _CallJob(fn, on_result, on_error)
        with self._cv:
            self._enqueue_locked(job)
        return job

    def run_steps(self, steps: Callable[[Callable[[], bool]], Iterator[Any]], priority: int = BACKGROUND,
                  on_result: Optional[Callable[[Any], None]] = None,
                  on_error: Optional[Callable[[BaseException], None]] = None, name: str = "steps") -> _Job:
        """Run the generator ``steps(should_stop)`` on the worker thread one ``next()`` per step
        (other work may run between steps, see the module docstring); ``on_result(return
        value)`` or ``on_error(exception)`` after (``RenderCancelled`` once ``cancel()`` was
        called on the returned handle; the generator is closed, so its ``finally`` blocks run)."""
        job = _StepJob(steps, priority, on_result, on_error, name)
        with self._cv:
            self._enqueue_locked(job)
        return job

    def cancel(self, key: Any = None) -> None:
        """Cancel render requests for ``key`` (all of them when ``key`` is None)."""
        with self._cv:
            jobs = self._jobs_for_locked(key)
        for j in jobs:
            j.cancel()

    def close(self, timeout: float = 5.0) -> bool:
        """Cancel everything, let the thread finish, join it. True when the thread has ended."""
        with self._cv:
            self._closed = True
            jobs = list(self._queue) + ([self._current] if self._current is not None else [])
            self._cv.notify_all()
        for job in jobs:
            job.cancel()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _pick_locked(self) -> _Job:
        """The job to step next (see the module docstring): the best rank, unless a
        :data:`BACKGROUND` job is owed time (:attr:`export_credit` > 0)."""
        best = min(self._queue, key=lambda j: j.rank())
        if best.priority < BACKGROUND and self.export_credit > 0:
            owed = [j for j in self._queue if j.priority == BACKGROUND]
            if owed:
                best = min(owed, key=lambda j: j.rank())
        self._queue.remove(best)
        return best

    def _account_locked(self, job: _Job, seconds: float) -> None:
        """``job`` ran ``seconds``: move the background job's credit (reset when nothing competes)."""
        others = [j.priority for j in self._queue]
        if job.priority == BACKGROUND:
            if any(p < BACKGROUND for p in others):
                self.export_credit -= seconds * (1.0 - FAIR_SHARE)
            else:
                self.export_credit = 0.0          # it ran alone: nothing owed either way
        elif job.priority < BACKGROUND:
            if BACKGROUND in others:
                self.export_credit += seconds * FAIR_SHARE
            else:
                self.export_credit = 0.0

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                if self._closed:
                    job = self._queue.pop(0)
                else:
                    job = self._pick_locked()
                self._current = job
            t0 = self._clock()
            try:
                finished = job.step() if not self._closed else (job.abandon() or True)
            except BaseException:  # noqa: BLE001 - never let the thread die
                log.exception("render worker job failed")
                finished = True
            seconds = self._clock() - t0
            with self._cv:
                self._current = None
                self._account_locked(job, seconds)
                if not finished:
                    self._queue.append(job)
