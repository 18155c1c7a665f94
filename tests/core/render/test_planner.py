"""RequestPlanner: what is asked for, what stays in flight, stale tiles dropped, progress."""

from __future__ import annotations

import numpy as np
import pytest

from cisr_zoom.core.render.levels import ImageRect, PixelRect, level_size, subtract_all, visible_level_rect
from cisr_zoom.core.render.planner import RequestKey, RequestPlanner, SlotState
from cisr_zoom.core.render.worker import RenderedTile

SIZE = (100, 160)          # image (h, w)
LEVEL = 8                  # 4x: the level grid is 400 x 640


class Cache:
    """Stands in for the tile layer: rendered rectangles per (source, level)."""

    def __init__(self):
        self.rects = {}

    def __call__(self, source, level, rect):
        return [r for r in self.rects.get((source, level), []) if r.intersect(rect) is not None]

    def add(self, source, level, rect):
        self.rects.setdefault((source, level), []).append(rect)


@pytest.fixture
def cache():
    return Cache()


@pytest.fixture
def planner(cache):
    p = RequestPlanner(cache)
    p.set_image(SIZE)
    return p


def slot(visible, source="m", level=LEVEL, view="main", index=0):
    return SlotState(view, index, source, level, visible)


def plan(planner, s, focus=(80.0, 50.0), tile=64, ready=True):
    return planner.plan(s, focus, tile, ready=lambda src: ready)


def tiles_of(req):
    """Every tile of a request, as the worker would deliver them."""
    return [RenderedTile(req.generation, req.key, spec, np.zeros((spec.height, spec.width, 3), np.uint8))
            for spec in req.tiles]


def rect_of(planner, req):
    return next(i.rect for i in planner.live() if i.key == req.key)


def test_asks_for_exactly_the_visible_pixels_focus_first(planner):
    vis = ImageRect(20.0, 10.0, 120.0, 70.0)
    want = visible_level_rect(SIZE, LEVEL, vis)
    p = plan(planner, slot(vis), focus=(30.0, 20.0), tile=64)
    assert p.cancelled == () and p.requests
    rects = [rect_of(planner, r) for r in p.requests]
    first = rects[0]
    assert (first.height, first.width) == (32, 32) and first.contains(PixelRect(80, 120, 81, 121))   # around (y, x) = 4 * (20, 30)
    assert subtract_all(want, rects) == []                                             # all of it ...
    assert sum(r.area for r in rects) == want.area                                     # ... once
    assert all(isinstance(r.key, RequestKey) and r.key.view == "main" for r in p.requests)
    assert len({r.key.id for r in p.requests}) == len(p.requests)
    assert all(r.out_size == (rr.height, rr.width) for r, rr in zip(p.requests, rects))


def test_cached_and_in_flight_pixels_are_not_asked_again(planner, cache):
    vis = ImageRect(0.0, 0.0, 80.0, 50.0)
    cache.add("m", LEVEL, PixelRect(0, 0, 200, 160))
    p = plan(planner, slot(vis))
    rects = [rect_of(planner, r) for r in p.requests]
    assert all(r.intersect(PixelRect(0, 0, 200, 160)) is None for r in rects)
    again = plan(planner, slot(vis))
    assert again.cancelled == () and again.requests == ()


def test_a_pan_cancels_what_left_the_view_and_keeps_the_rest(planner):
    p = plan(planner, slot(ImageRect(0.0, 0.0, 80.0, 50.0)), focus=(40.0, 25.0))
    keys = {r.key: rect_of(planner, r) for r in p.requests}   # focus tile, strips around it
    moved = ImageRect(0.0, 5.0, 80.0, 55.0)                   # 20 level pixels down
    want = visible_level_rect(SIZE, LEVEL, moved)
    q = plan(planner, slot(moved), focus=(40.0, 25.0))
    assert set(q.cancelled) == {k for k, r in keys.items() if not want.contains(r)} and q.cancelled
    kept = [r for k, r in keys.items() if k not in q.cancelled]
    assert kept and subtract_all(want, kept + [rect_of(planner, r) for r in q.requests]) == []


def test_new_level_or_source_or_not_ready(planner):
    vis = ImageRect(0.0, 0.0, 40.0, 40.0)
    first = plan(planner, slot(vis))
    other = plan(planner, slot(vis, level=LEVEL + 1))
    assert set(other.cancelled) == {r.key for r in first.requests} and other.requests
    waiting = plan(planner, slot(vis, source="other"), ready=False)
    assert set(waiting.cancelled) == {r.key for r in other.requests} and waiting.requests == ()
    assert plan(planner, slot(vis, level=0)).requests == ()       # level 0 is the image itself
    assert plan(planner, slot(None)).requests == ()


def test_many_missing_pieces_are_merged(cache):
    planner = RequestPlanner(cache, max_requests_per_slot=2)
    planner.set_image(SIZE)
    for x in range(0, 640, 40):
        cache.add("m", LEVEL, PixelRect(0, x, 400, x + 20))     # stripes: 16 holes
    p = plan(planner, slot(ImageRect(0.0, 0.0, 160.0, 100.0)), focus=(0.0, 0.0))
    assert len(p.requests) == 1 and rect_of(planner, p.requests[0]) == PixelRect(0, 20, 400, 640)


def test_tiles_of_live_requests_are_placed_stale_ones_dropped(planner):
    p = plan(planner, slot(ImageRect(0.0, 0.0, 40.0, 40.0)))
    req = p.requests[0]
    r = rect_of(planner, req)
    tile = tiles_of(req)[0]
    placed = planner.accept(tile)
    assert placed.source == "m" and placed.level == LEVEL and r.contains(placed.rect)
    assert (placed.rect.top - r.top, placed.rect.left - r.left) == (tile.spec.top, tile.spec.left)
    bad = RenderedTile(req.generation, req.key, tile.spec, np.zeros((1, 1, 3), np.uint8))
    assert planner.accept(bad) is None                            # wrong shape
    assert planner.accept(RenderedTile(req.generation, ("main", 0, req.generation), tile.spec, tile.pixels)) is None
    planner.cancel_view("main")
    assert planner.accept(tiles_of(req)[-1]) is None               # its request is gone
    assert not planner.finish(req.key)


def test_progress_counts_the_planned_tiles(planner):
    p = plan(planner, slot(ImageRect(0.0, 0.0, 60.0, 40.0)), tile=64)
    plan(planner, slot(ImageRect(0.0, 0.0, 60.0, 40.0), view="pane0"), tile=64)
    n = sum(len(r.tiles) for r in p.requests)
    assert planner.start_batch("main") == (0, n)
    delivered = 0
    for req in p.requests:
        for t in tiles_of(req):
            assert planner.accept(t) is not None
            delivered += 1
            assert planner.progress("main") == (delivered, n)
        planner.finish(req.key)
    assert planner.progress("main") == (n, n) and not planner.live("main")
    assert planner.live("pane0")                                  # other views are untouched
    total_done, total = planner.progress()
    assert total_done == n and total >= n


def test_completeness(planner, cache):
    vis = ImageRect(0.0, 0.0, 40.0, 40.0)
    s = slot(vis)
    assert planner.is_complete([slot(vis, level=0)], failed=lambda src: False)
    p = plan(planner, s)
    assert not planner.is_complete([s], failed=lambda src: False)         # requests in flight
    for req in p.requests:
        planner.finish(req.key)
    assert not planner.is_complete([s], failed=lambda src: False)         # nothing cached
    assert planner.is_complete([s], failed=lambda src: src == "m")        # a failed source is skipped
    cache.add("m", LEVEL, PixelRect(0, 0, *level_size(SIZE, LEVEL)))
    assert planner.is_complete([s], failed=lambda src: False)


def test_a_new_image_drops_everything(planner):
    p = plan(planner, slot(ImageRect(0.0, 0.0, 40.0, 40.0)))
    assert set(planner.set_image((10, 10))) == {r.key for r in p.requests}
    assert not planner.live() and planner.progress() == (0, 0)


def test_requests_carry_the_focus_and_follow_it_when_it_moves(planner):
    """Every request gets the focus in its own output pixels, so the worker can order the
    tiles of all of them by the distance to one point; refocus moves it without cancelling."""
    vis = ImageRect(20.0, 10.0, 120.0, 70.0)
    p = plan(planner, slot(vis), focus=(30.0, 20.0), tile=64)
    for req in p.requests:
        r = rect_of(planner, req)
        assert req.focus == (80.0 - r.top, 120.0 - r.left)          # (y, x) = 4 * (20, 30) on the level
    moved = planner.refocus("main", (100.0, 60.0))
    assert sorted(k.id for k, _ in moved) == sorted(r.key.id for r in p.requests)
    for key, (fy, fx) in moved:
        r = next(i.rect for i in planner.live() if i.key == key)
        assert (fy + r.top, fx + r.left) == (240.0, 400.0)
    assert len(planner.live()) == len(p.requests)                    # nothing cancelled
    # a focus outside the slot is clamped to its edge (the nearest visible pixels come first)
    far = dict(planner.refocus("main", (1000.0, -50.0)))
    key = p.requests[0].key
    r = rect_of(planner, p.requests[0])
    assert (far[key][0] + r.top, far[key][1] + r.left) == (visible_level_rect(SIZE, LEVEL, vis).top,
                                                           visible_level_rect(SIZE, LEVEL, vis).right)
    assert planner.refocus("other-view", (1.0, 1.0)) == []
