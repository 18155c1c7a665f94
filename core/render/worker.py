"""The one render thread (plain :mod:`threading`, no Qt): requests in, tiles out.

A :class:`RenderWorker` owns a single non-daemon thread that does all compute. Callers (the GUI
thread) only enqueue work and return at once:

* :meth:`RenderWorker.submit` queues a :class:`RenderRequest` for a
  :class:`~.sources.RenderSource`; the result comes back as :class:`RenderedTile` callbacks in
  the order of the request's tile plan (centre of the view first, :func:`.tiles.plan_tiles`,
  planned once when the request is made), then one ``on_done(generation,
  error_message_or_None, cancelled)``. A new request with the same ``key`` supersedes (cancels) every pending or
  running request with that key; a cancelled request stops within one render chunk (or one
  encoder layer) and delivers no tile after the call that cancelled it returned.
* :meth:`RenderWorker.run_job` runs any function on the thread (model loading, export...).

Render requests for different keys share the thread round-robin, one tile at a time, so a
second view (e.g. a comparison panel) is not starved by the first. Callbacks run on the worker
thread; an exception in a callback is logged and does not stop the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Iterator, Optional, Tuple

import numpy as np

from ..coords import Region
from ..errors import error_message
from ..imageio import to_uint8
from .session import RenderCancelled
from .sources import RenderSource
from .tiles import TileSpec, plan_tiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderRequest:
    """Render ``region`` (``(y0, x0, y1, x1)`` of ``[-1, 1]^2``) at ``out_size = (H, W)`` output
    pixels, delivered in tiles of ``tile_size``. ``key`` names the view (requests with equal keys
    supersede each other); ``generation`` is echoed back so stale results can be dropped.
    ``tiles`` is the tile plan, made once here: the worker renders exactly these tiles."""

    generation: int
    key: Any
    region: Region
    out_size: Tuple[int, int]
    tile_size: int = 256
    tiles: Tuple[TileSpec, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiles", tuple(plan_tiles(self.region, self.out_size, self.tile_size)))


@dataclass(frozen=True)
class RenderedTile:
    generation: int
    key: Any
    spec: TileSpec
    pixels: np.ndarray   # (h, w, 3) uint8
    seconds: float = 0.0  # time spent rendering this tile (wall clock, render thread)


class _Job:
    def __init__(self, key: Any = None):
        self.key = key
        self.cancelled = threading.Event()
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

    def step(self) -> bool:
        """Do a slice of the work; True when the job is finished."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Finish without running (the worker is closing, or the job was cancelled)."""


class _CallJob(_Job):
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


class _RenderJob(_Job):
    def __init__(self, session: RenderSource, request: RenderRequest, on_tile, on_done):
        super().__init__(request.key)
        self.session, self.request = session, request
        self.on_tile, self.on_done = on_tile, on_done
        self._steps: Optional[Iterator[None]] = None
        self._finished = False

    def _run(self) -> Iterator[None]:
        req = self.request
        stop = self.cancelled.is_set
        specs = req.tiles
        for n, spec in enumerate(specs):
            t0 = time.perf_counter()
            pixels = to_uint8(self.session.render(spec.region, (spec.height, spec.width), should_stop=stop))
            seconds = time.perf_counter() - t0
            with self.deliver_lock:
                if stop():
                    raise RenderCancelled()
                _safe(self.on_tile, RenderedTile(req.generation, req.key, spec, pixels, seconds))
            if n == 0 and len(specs) > 1:
                yield
                # the first tile encoded only what it needed; now encode the rest of the
                # view in large boxes (fewer halos) if it fits the feature cache
                self.session.prefetch(req.region, should_stop=stop)
            yield

    def step(self) -> bool:
        if self._steps is None:
            self._steps = self._run()
        try:
            if self.cancelled.is_set():
                raise RenderCancelled()
            next(self._steps)
            return False
        except StopIteration:
            self._done(None, False)
        except RenderCancelled:
            self._done(None, True)
        except BaseException as e:  # noqa: BLE001 - reported through on_done
            log.exception("render request %s failed", self.request.generation)
            self._done(error_message(e), False)
        return True

    def abandon(self) -> None:
        self._done(None, True)

    def _done(self, error: Optional[str], cancelled: bool) -> None:
        if self._finished:
            return
        self._finished = True
        if self._steps is not None:
            self._steps.close()
        if self.on_done is not None:
            _safe(self.on_done, self.request.generation, error, cancelled)


def _safe(fn: Callable, *args) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - a broken callback must not kill the worker
        log.exception("render callback failed")


class RenderWorker:
    """One thread that runs all render work (see the module docstring)."""

    def __init__(self, name: str = "cisr-render"):
        self._cv = threading.Condition()
        self._queue: Deque[_Job] = deque()
        self._current: Optional[_Job] = None
        self._closed = False
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
            self._queue.append(job)
            self._cv.notify()
        for j in old:               # outside the queue lock: wait out a delivery in progress
            j.wait_delivery()

    def run_job(self, fn: Callable[[], Any], on_result: Optional[Callable[[Any], None]] = None,
                on_error: Optional[Callable[[str], None]] = None) -> _Job:
        """Run ``fn()`` on the worker thread; ``on_result(value)`` or ``on_error(message)`` after.
        Returns a handle whose ``cancel()`` skips the job if it has not started."""
        job = _CallJob(fn, on_result, on_error)
        with self._cv:
            if self._closed:
                raise RuntimeError("the render worker is closed")
            self._queue.append(job)
            self._cv.notify()
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

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                job = self._queue.popleft()
                self._current = job
            try:
                finished = job.step()
            except BaseException:  # noqa: BLE001 - never let the thread die
                log.exception("render worker job failed")
                finished = True
            with self._cv:
                self._current = None
                if not finished:
                    self._queue.append(job)   # round-robin with the other requests
