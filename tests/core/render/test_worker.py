"""RenderWorker: centre-first tiles off the caller's thread, supersession, cancel, close."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from cisr_zoom.core.render.session import RenderCancelled, RenderSession
from cisr_zoom.core.render.worker import BACKGROUND, FAIR_SHARE, OTHER_VIEW, IDLE, PREFETCH, RenderRequest, RenderWorker

TIMEOUT = 20.0


class SlowSession:
    """Stands in for a RenderSession: each render takes ``chunks`` chunks of ``delay`` seconds
    and checks ``should_stop`` between them, like the real one."""

    def __init__(self, delay=0.02, chunks=3, fail_on=None):
        self.delay, self.chunks, self.fail_on = delay, chunks, fail_on
        self.calls = 0
        self.chunks_run = 0

    def render(self, region, out_size, should_stop=None):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise ValueError("boom in render")
        for _ in range(self.chunks):
            if should_stop is not None and should_stop():
                raise RenderCancelled()
            time.sleep(self.delay)
            self.chunks_run += 1
        return np.full(tuple(out_size) + (3,), 0.5, np.float32)

    alpha = None
    precision = "float32"
    lr_size = (8, 8)

    def render_alpha(self, region, out_size):
        return None

    def prefetch(self, region, should_stop=None, max_fraction=0.5):
        return True

    encode_seconds = 0.0

    def encode_step(self, region, within=None, should_stop=None):
        return False

    def uncached_pixels(self, region):
        return 0


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []            # ("tile", generation, spec) | ("done", generation, error, cancelled) | marks
        self.done = {}
        self.threads = set()
        self.cv = threading.Condition(self.lock)

    def on_tile(self, tile):
        with self.cv:
            self.threads.add(threading.current_thread().name)
            self.events.append(("tile", tile.generation, tile))
            self.cv.notify_all()

    def on_done(self, generation, error, cancelled):
        with self.cv:
            self.events.append(("done", generation, error, cancelled))
            self.done[generation] = (error, cancelled)
            self.cv.notify_all()

    def mark(self, name):
        with self.cv:
            self.events.append(("mark", name))

    def wait(self, pred, timeout=TIMEOUT):
        with self.cv:
            assert self.cv.wait_for(lambda: pred(self), timeout), self.events[-5:]

    def tiles(self, generation):
        return [e[2] for e in self.events if e[0] == "tile" and e[1] == generation]


@pytest.fixture
def worker():
    w = RenderWorker(name="test-render")
    yield w
    assert w.close(timeout=10)
    assert not w.thread.is_alive()


def test_tiles_arrive_centre_first_and_match_render(worker, liif_factory, image):
    s = RenderSession(liif_factory(), image)
    rec = Recorder()
    region, size = (-0.8, -1.0, 0.9, 0.7), (70, 90)
    worker.submit(s, RenderRequest(7, "main", region, size, tile_size=32), rec.on_tile, rec.on_done)
    rec.wait(lambda r: 7 in r.done)
    assert rec.done[7] == (None, False)
    tiles = rec.tiles(7)
    assert len(tiles) == 9 and rec.threads == {"test-render"}
    assert (tiles[0].spec.top, tiles[0].spec.left) == (32, 32)       # the tile holding the centre
    canvas = np.zeros(size + (3,), np.uint8)
    for t in tiles:
        assert t.pixels.dtype == np.uint8 and t.key == "main"
        canvas[t.spec.top:t.spec.top + t.spec.height, t.spec.left:t.spec.left + t.spec.width] = t.pixels
    expected = (np.clip(s.render(region, size), 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.abs(canvas.astype(int) - expected).max() <= 1


def test_submit_returns_before_the_worker_renders(worker):
    """submit only queues: with the thread held by a job, it returns and the render starts
    after (order of events, not a duration)."""
    rec = Recorder()
    gate = threading.Event()
    worker.run_job(lambda: gate.wait(TIMEOUT))

    class Marking(SlowSession):
        def render(self, region, out_size, should_stop=None):
            rec.mark("render")
            return super().render(region, out_size, should_stop)
    worker.submit(Marking(delay=0, chunks=1), RenderRequest(1, "v", (-1, -1, 1, 1), (32, 32), 16), rec.on_tile, rec.on_done)
    rec.mark("submit returned")
    gate.set()
    rec.wait(lambda r: 1 in r.done)
    marks = [e[1] for e in rec.events if e[0] == "mark"]
    assert marks[0] == "submit returned" and marks[1:] == ["render"] * 4


def test_the_worker_renders_exactly_the_planned_tiles(worker):
    """The tile plan is made once, in the request; the worker delivers those tiles in order."""
    rec = Recorder()
    req = RenderRequest(1, "v", (-0.3, -1, 1, 0.4), (50, 37), 16)
    worker.submit(SlowSession(delay=0, chunks=1), req, rec.on_tile, rec.on_done)
    rec.wait(lambda r: 1 in r.done)
    got = rec.tiles(1)
    assert [t.spec for t in got] == list(req.tiles) and len(req.tiles) == 12
    assert all(t.seconds >= 0.0 for t in got)


def test_superseded_request_delivers_nothing_after_the_new_one(worker):
    rec = Recorder()
    slow = SlowSession(delay=0.01)
    worker.submit(slow, RenderRequest(1, "v", (-1, -1, 1, 1), (160, 160), 16), rec.on_tile, rec.on_done)
    rec.wait(lambda r: len(r.tiles(1)) >= 2)
    worker.submit(slow, RenderRequest(2, "v", (-0.5, -0.5, 0.5, 0.5), (64, 64), 16), rec.on_tile, rec.on_done)
    rec.mark("submitted 2")
    rec.wait(lambda r: 2 in r.done)
    assert rec.done[1] == (None, True) and rec.done[2] == (None, False)
    assert len(rec.tiles(1)) < 100 and len(rec.tiles(2)) == 16
    after = rec.events[rec.events.index(("mark", "submitted 2")):]
    assert not [e for e in after if e[0] == "tile" and e[1] == 1]
    first_new = next(i for i, e in enumerate(rec.events) if e[0] == "tile" and e[1] == 2)
    assert not [e for e in rec.events[first_new:] if e[0] == "tile" and e[1] == 1]


def test_cancel_stops_within_one_chunk(worker):
    rec = Recorder()
    slow = SlowSession(delay=0.05, chunks=4)     # 0.2 s per tile
    worker.submit(slow, RenderRequest(3, "v", (-1, -1, 1, 1), (64, 64), 16), rec.on_tile, rec.on_done)
    rec.wait(lambda r: len(r.tiles(3)) >= 1)
    n0 = slow.chunks_run
    worker.cancel("v")
    rec.mark("cancelled")
    rec.wait(lambda r: 3 in r.done)
    assert slow.chunks_run - n0 <= 1                     # the chunk in progress, then stop
    assert rec.done[3] == (None, True)
    after = rec.events[rec.events.index(("mark", "cancelled")):]
    assert not [e for e in after if e[0] == "tile"]


def test_different_keys_share_the_thread(worker):
    rec = Recorder()
    slow = SlowSession(delay=0.005, chunks=1)
    worker.submit(slow, RenderRequest(1, "left", (-1, -1, 1, 1), (64, 64), 16), rec.on_tile, rec.on_done)
    worker.submit(slow, RenderRequest(2, "right", (-1, -1, 1, 1), (64, 64), 16), rec.on_tile, rec.on_done)
    rec.wait(lambda r: 1 in r.done and 2 in r.done)
    assert rec.done[1] == (None, False) and rec.done[2] == (None, False)
    order = [e[1] for e in rec.events if e[0] == "tile"]
    assert order.index(2) < len(order) - order[::-1].index(1) - 1   # interleaved, not one after the other


def test_errors_are_reported_and_the_worker_goes_on(worker):
    rec = Recorder()
    worker.submit(SlowSession(delay=0, fail_on=2), RenderRequest(1, "a", (-1, -1, 1, 1), (32, 32), 16),
                  rec.on_tile, rec.on_done)
    rec.wait(lambda r: 1 in r.done)
    error, cancelled = rec.done[1]
    assert "boom in render" in error and "\n" not in error and not cancelled

    def bad_tile(tile):
        raise RuntimeError("callback bug")
    worker.submit(SlowSession(delay=0), RenderRequest(2, "b", (-1, -1, 1, 1), (32, 32), 16), bad_tile, rec.on_done)
    rec.wait(lambda r: 2 in r.done)
    assert rec.done[2] == (None, False)


def test_run_job_results_and_errors(worker):
    got = []
    ev = threading.Event()
    worker.run_job(lambda: threading.current_thread().name, on_result=got.append)
    worker.run_job(lambda: 1 / 0, on_error=lambda msg: (got.append(msg), ev.set()))
    assert ev.wait(TIMEOUT)
    assert got[0] == "test-render" and got[1].startswith("unexpected error (ZeroDivisionError")


def test_close_cancels_pending_work_and_joins():
    w = RenderWorker(name="closing")
    rec = Recorder()
    slow = SlowSession(delay=0.05)
    for g in range(3):
        w.submit(slow, RenderRequest(g, f"k{g}", (-1, -1, 1, 1), (64, 64), 16), rec.on_tile, rec.on_done)
    rec.wait(lambda r: r.tiles(0))
    n0 = slow.chunks_run
    assert w.close(timeout=TIMEOUT)
    assert not w.thread.is_alive()
    assert slow.chunks_run - n0 <= 1                     # the chunk in progress, then stop
    assert set(rec.done) == {0, 1, 2} and all(c for _, c in rec.done.values())
    with pytest.raises(RuntimeError):
        w.submit(slow, RenderRequest(9, "x", (-1, -1, 1, 1), (8, 8)), rec.on_tile, rec.on_done)


def _held(worker):
    """Hold the worker thread until the returned event is set (to queue work up first)."""
    gate = threading.Event()
    worker.run_job(lambda: gate.wait(TIMEOUT))
    return gate


def _level_centre(req, spec, origin):
    """Centre of a delivered tile on the shared level grid (request placed at ``origin``)."""
    return origin[0] + spec.top + spec.height / 2, origin[1] + spec.left + spec.width / 2


def _gap(centre, focus, spec):
    """Distance from ``focus`` to the tile's centre."""
    return ((centre[0] - focus[0]) ** 2 + (centre[1] - focus[1]) ** 2) ** 0.5


def test_tiles_of_all_requests_arrive_nearest_the_focus_first(worker):
    """Two requests side by side on one level grid (left: columns 0-63, right: 64-191) with the
    focus near the right edge: the tiles arrive in order of their distance from the focus,
    whichever request they belong to (events recorded in order)."""
    rec = Recorder()
    focus = (20.0, 180.0)                                      # level pixels (y, x)
    origins = {1: (0, 0), 2: (0, 64)}
    gate = _held(worker)
    for g, (oy, ox), w in ((1, origins[1], 64), (2, origins[2], 128)):
        worker.submit(SlowSession(delay=0, chunks=1), RenderRequest(g, f"k{g}", (-1, -1, 1, 1), (64, w), 16,
                                                                      focus=(focus[0] - oy, focus[1] - ox)),
                      rec.on_tile, rec.on_done)
    gate.set()
    rec.wait(lambda r: 1 in r.done and 2 in r.done)
    got = [(e[1], e[2].spec) for e in rec.events if e[0] == "tile"]
    assert len(got) == 16 + 32
    dist = [_gap(_level_centre(None, spec, origins[g]), focus, spec) for g, spec in got]
    assert dist == sorted(dist)
    assert got[0][0] == 2 and got[-1][0] == 1                 # the far request's tiles come last


def test_refocus_reorders_the_rest_and_loses_nothing(worker):
    """The cursor moves after two tiles: the remaining tiles follow the new point; every tile
    is delivered exactly once and the request is not cancelled."""
    rec = Recorder()
    req = RenderRequest(5, "v", (-1, -1, 1, 1), (96, 96), 16, focus=(0.0, 0.0))
    moved_at = []

    def on_tile(tile):
        rec.on_tile(tile)
        if len(rec.tiles(5)) == 2:
            assert worker.refocus("v", (96.0, 96.0))          # bottom-right corner
            moved_at.append(2)
    worker.submit(SlowSession(delay=0, chunks=1), req, on_tile, rec.on_done)
    rec.wait(lambda r: 5 in r.done)
    assert rec.done[5] == (None, False) and moved_at == [2]
    specs = [t.spec for t in rec.tiles(5)]
    assert sorted((s.top, s.left) for s in specs) == sorted((s.top, s.left) for s in req.tiles)   # each once
    assert (specs[0].top, specs[0].left) == (0, 0)
    after = [_gap((s.top + s.height / 2, s.left + s.width / 2), (96.0, 96.0), s) for s in specs[2:]]
    assert after == sorted(after) and (specs[2].top, specs[2].left) == (80, 80)
    assert not worker.refocus("v", (0.0, 0.0))                # nothing live any more


def test_visible_tiles_come_before_prefetch(worker):
    rec = Recorder()
    gate = _held(worker)
    worker.submit(SlowSession(delay=0, chunks=1), RenderRequest(1, "ahead", (-1, -1, 1, 1), (48, 48), 16,
                                                                  priority=PREFETCH), rec.on_tile, rec.on_done)
    worker.submit(SlowSession(delay=0, chunks=1), RenderRequest(2, "view", (-1, -1, 1, 1), (48, 48), 16),
                  rec.on_tile, rec.on_done)
    gate.set()
    rec.wait(lambda r: 1 in r.done and 2 in r.done)
    order = [e[1] for e in rec.events if e[0] == "tile"]
    assert order == [2] * 9 + [1] * 9


def test_the_main_views_tiles_come_before_the_other_views(worker):
    """A loupe's request (OTHER_VIEW) whose tiles lie right at its focus, queued first, still
    waits for every tile of the main view's request (VIEW), even those far from its focus."""
    rec = Recorder()
    gate = _held(worker)
    worker.submit(SlowSession(delay=0, chunks=1), RenderRequest(1, "loupe", (-1, -1, 1, 1), (48, 48), 16,
                                                                  focus=(24.0, 24.0), priority=OTHER_VIEW),
                  rec.on_tile, rec.on_done)
    worker.submit(SlowSession(delay=0, chunks=1), RenderRequest(2, "main", (-1, -1, 1, 1), (48, 48), 16,
                                                                  focus=(500.0, 500.0)), rec.on_tile, rec.on_done)
    worker.submit(SlowSession(delay=0, chunks=1), RenderRequest(3, "ahead", (-1, -1, 1, 1), (48, 48), 16,
                                                                  priority=PREFETCH), rec.on_tile, rec.on_done)
    gate.set()
    rec.wait(lambda r: {1, 2, 3} <= set(r.done))
    order = [e[1] for e in rec.events if e[0] == "tile"]
    assert order == [2] * 9 + [1] * 9 + [3] * 9


def test_a_running_export_does_not_stop_visible_tiles(worker):
    """A slow background job (an export: one chunk per step) is running when a view asks for
    tiles: the view's tiles arrive while the export still has work, and the export keeps
    getting steps in between (it is not starved)."""
    rec = Recorder()
    chunks = 200
    started = threading.Event()

    def export_steps(should_stop):
        for i in range(chunks):
            if should_stop():
                return i
            rec.mark("export chunk")
            started.set()
            time.sleep(0.002)
            yield
        return chunks

    results = []
    handle = worker.run_steps(export_steps, BACKGROUND, on_result=results.append,
                              on_error=lambda e: results.append(e))
    assert started.wait(TIMEOUT)
    worker.submit(SlowSession(delay=0.002, chunks=1), RenderRequest(1, "view", (-1, -1, 1, 1), (80, 80), 16),
                  rec.on_tile, rec.on_done)
    rec.wait(lambda r: 1 in r.done)
    with rec.lock:
        events = list(rec.events)
    first = next(i for i, e in enumerate(events) if e[0] == "tile")
    last = max(i for i, e in enumerate(events) if e[0] == "tile")
    assert len([e for e in events if e[0] == "tile"]) == 25
    between = events[first:last + 1]
    assert sum(e == ("mark", "export chunk") for e in between) >= 5   # the export is not starved
    assert not results or results[0] < chunks                  # the view finished first
    handle.cancel()


class FakeClock:
    """The worker's clock, moved only by the steps themselves: a step of ``d`` seconds
    advances it by ``d`` (the scheduling is then exact and machine-independent)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def spend(self, seconds):
        self.now += seconds


class ClockSession(SlowSession):
    """A render that costs ``seconds`` on the fake clock."""

    def __init__(self, clock, seconds):
        super().__init__(delay=0, chunks=1)
        self.clock, self.seconds = clock, seconds

    def render(self, region, out_size, should_stop=None):
        self.clock.spend(self.seconds)
        return np.full(tuple(out_size) + (3,), 0.5, np.float32)


@pytest.mark.parametrize("view_step, chunk", [(3.0, 1.0), (1.0, 1.0), (0.5, 2.0)])
def test_an_export_at_most_doubles_while_the_user_keeps_zooming(view_step, chunk):
    """The scheduling rule: however long the views keep asking (each tile supersedes the
    request with a new one, as zooming does), an export gets half of the render thread's
    time, so it takes at most twice its own time plus one view step; the view's first tile
    still comes before the export's next chunk, and a view waits at most about one of its own
    steps for the export's catch-up (plus one chunk)."""
    clock = FakeClock()
    worker = RenderWorker(name="test-render", clock=clock)
    rec = Recorder()
    n_chunks = 30
    span = {}

    def export_steps(should_stop):
        span["start"] = clock()
        for _ in range(n_chunks):
            clock.spend(chunk)
            rec.mark("export chunk")
            yield
        span["end"] = clock()

    gen = iter(range(2, 10_000))
    session = ClockSession(clock, view_step)

    def on_tile(tile):
        rec.on_tile(tile)
        with rec.lock:
            rec.events[-1] = ("tile", tile.generation, clock())
        if "end" not in span:                       # the user zooms again: a new request supersedes
            g = next(gen)
            worker.submit(session, RenderRequest(g, "view", (-1, -1, 1, 1), (64, 64), 16), on_tile, rec.on_done)

    gate = threading.Event()
    worker.run_job(lambda: gate.wait(TIMEOUT))      # hold the thread: both wait when it is released
    done = threading.Event()
    worker.run_steps(export_steps, BACKGROUND, on_result=lambda r: done.set(), on_error=lambda e: done.set())
    worker.submit(session, RenderRequest(1, "view", (-1, -1, 1, 1), (64, 64), 16), on_tile, rec.on_done)
    gate.set()
    assert done.wait(TIMEOUT)
    worker.cancel()
    assert worker.close(timeout=10)
    with rec.lock:
        events = [e for e in rec.events if e[0] in ("tile", "mark")]
    assert events[0][0] == "tile"                    # the view's first tile first
    own = n_chunks * chunk
    assert span["end"] - span["start"] <= own / FAIR_SHARE + view_step + 1e-9
    assert span["end"] - span["start"] >= own         # (the views did run meanwhile)
    assert sum(e[0] == "tile" for e in events) >= own / view_step * (1 - FAIR_SHARE) - 1
    times = [e[2] for e in events if e[0] == "tile"]
    assert max(b - a for a, b in zip(times, times[1:])) <= 2 * view_step + chunk + 1e-9


def test_cancelled_steps_close_the_generator(worker):
    """A background job cancelled mid-way: its generator is closed (its ``finally`` runs, as
    an export's temporary file is removed there) and on_error gets RenderCancelled."""
    closed, running = threading.Event(), threading.Event()
    errors = []
    gate = threading.Event()

    def steps(should_stop):
        try:
            while True:
                running.set()
                gate.wait(TIMEOUT)
                yield
        finally:
            closed.set()
    handle = worker.run_steps(steps, on_error=errors.append)
    assert running.wait(TIMEOUT)
    handle.cancelled.set()          # cancel() would wait for the step in progress
    gate.set()
    assert closed.wait(TIMEOUT)
    assert len(errors) == 1 and isinstance(errors[0], RenderCancelled)


def test_tiles_report_where_their_time_went(worker, liif_factory, image):
    """Each tile's timing: queued (from submission), encode (features encoded for it, ahead or
    inside its render) and decode; the first tile pays the encoder, later ones reuse boxes."""
    s = RenderSession(liif_factory(), image)
    rec = Recorder()
    worker.submit(s, RenderRequest(1, "v", (-1, -1, 1, 1), (64, 64), 32), rec.on_tile, rec.on_done)
    rec.wait(lambda r: 1 in r.done)
    tiles = rec.tiles(1)
    assert len(tiles) == 4
    assert tiles[0].timing.encode > 0 and all(t.timing.decode > 0 for t in tiles)
    queued = [t.timing.queued for t in tiles]
    assert queued == sorted(queued)
    assert sum(t.timing.encode for t in tiles) == pytest.approx(s.encode_seconds, rel=0.05, abs=1e-3)


class AheadSource(SlowSession):
    """A source whose encode-ahead has ``boxes`` boxes to do; the first box runs until its
    ``should_stop`` turns true (as a long encoder box would, layer by layer), once."""

    def __init__(self, rec, boxes=3, block_first=True):
        super().__init__(delay=0, chunks=1)
        self.rec, self.left, self.block_first = rec, boxes, block_first
        self.started = threading.Event()
        self.focuses = []

    def encode_ahead(self, focus=None, should_stop=None):
        self.focuses.append(focus)
        if self.block_first:
            self.block_first = False
            self.started.set()
            deadline = time.monotonic() + TIMEOUT
            while not should_stop():
                assert time.monotonic() < deadline, "the idle step was never told to stop"
                time.sleep(0.001)
            self.rec.mark("ahead preempted")
            raise RenderCancelled()
        if self.left == 0:
            return False
        self.left -= 1
        self.rec.mark("ahead box")
        return True


def test_a_visible_request_preempts_encoding_ahead(worker):
    """The encode-ahead step in progress gives the thread up as soon as a view request is
    queued; the view's tiles come first, then the idle job resumes and finishes its boxes."""
    rec = Recorder()
    src = AheadSource(rec, boxes=3)
    done = []
    job = worker.encode_ahead(src, key="a", focus=(5.0, 6.0), on_done=done.append)
    assert src.started.wait(TIMEOUT)
    worker.submit(SlowSession(delay=0, chunks=1), RenderRequest(1, "view", (-1, -1, 1, 1), (32, 32), 16),
                  rec.on_tile, rec.on_done)
    rec.wait(lambda r: 1 in r.done and sum(1 for e in r.events if e == ("mark", "ahead box")) == 3)
    kinds = [e[0] if e[0] != "mark" else e[1] for e in rec.events]
    assert kinds[0] == "ahead preempted"
    assert kinds.index("ahead box") > max(i for i, k in enumerate(kinds) if k == "tile")   # after every tile
    assert job.preempted == 1 and job.steps == 3
    deadline = time.monotonic() + TIMEOUT
    while not done and time.monotonic() < deadline:
        time.sleep(0.005)
    assert done == [True] and src.focuses[0] == (5.0, 6.0)


def test_encoding_ahead_waits_for_exports_and_gets_no_fair_share(worker):
    """An idle job runs only when nothing else is queued: an export (background) takes every
    step before it, unlike the view/export fair share."""
    rec = Recorder()
    gate = _held(worker)
    src = AheadSource(rec, boxes=2, block_first=False)
    worker.encode_ahead(src, key="a")

    def export(stop):
        for i in range(10):
            rec.mark("export")
            yield i
    worker.run_steps(export, BACKGROUND)
    gate.set()
    rec.wait(lambda r: sum(1 for e in r.events if e == ("mark", "ahead box")) == 2)
    marks = [e[1] for e in rec.events if e[0] == "mark"]
    assert marks == ["export"] * 10 + ["ahead box"] * 2
    assert IDLE > BACKGROUND


def test_encode_ahead_supersedes_by_key_and_refocuses(worker):
    rec = Recorder()
    gate = _held(worker)
    a, b = AheadSource(rec, boxes=1, block_first=False), AheadSource(rec, boxes=1, block_first=False)
    first = worker.encode_ahead(a, key="k")
    assert worker.encode_ahead(a, key="k", restart=False) is first       # kept while live
    worker.encode_ahead(b, key="k")                                      # a new source supersedes
    assert worker.refocus_ahead("k", (1.0, 2.0)) and not worker.refocus_ahead("other", (0.0, 0.0))
    gate.set()
    rec.wait(lambda r: ("mark", "ahead box") in r.events)
    worker.run_job(lambda: None)
    deadline = time.monotonic() + TIMEOUT
    while len(b.focuses) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert a.focuses == [] and b.focuses[0] == (1.0, 2.0)
