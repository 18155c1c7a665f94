"""Viewport and level geometry: pure math, no Qt."""

import math

import numpy as np

import pytest

from cisr_zoom.app.viewer.geometry import (PixelRect, level_for_scale, level_rect_region, level_rect_to_image,
                                           level_size, order_centre_first, subtract_all, visible_level_rect)
from cisr_zoom.app.viewer.viewport import MAX_PHYSICAL_SCALE, ImageRect, Viewport


def test_fit_centres_and_shows_whole_image():
    vp = Viewport((400, 600), (1000, 500))
    assert vp.scale == pytest.approx(500 / 400)
    r = vp.visible_rect()
    assert r.x0 <= 0 and r.y0 == pytest.approx(0) and r.x1 >= 600 and r.y1 == pytest.approx(400)
    assert (vp.cx, vp.cy) == (300, 200)


@pytest.mark.parametrize("anchor", [(130.0, 20.0), (500.0, 250.0), (870.5, 3.25)])
def test_zoom_keeps_anchor_point_fixed(anchor):
    """Zooming in keeps the image point under the cursor exactly there; zooming out
    too, until the middle of the view would leave the image."""
    vp = Viewport((400, 600), (1000, 500))
    sx, sy = anchor
    p = vp.screen_to_image(sx, sy)
    for f in [1.5, 1.26, 3.0, 0.8, 10.0, 1.01, 0.5]:
        vp.zoom_at(f, sx, sy)
        q = vp.image_to_screen(*p)
        assert math.hypot(q[0] - sx, q[1] - sy) < 1e-6


def test_zoom_limits():
    vp = Viewport((400, 600), (1000, 500), dpr=2.0)
    vp.zoom_at(1e6, 500, 250)
    assert vp.physical_scale == pytest.approx(MAX_PHYSICAL_SCALE)
    vp.zoom_at(1e-9, 500, 250)
    assert vp.physical_scale == pytest.approx(min(vp.fit_scale * 2, 1 / 8))
    big = Viewport((40000, 60000), (1000, 500))
    big.zoom_at(1e-9)
    assert big.scale == pytest.approx(big.fit_scale)  # fit is smaller than 1/8: stop at fit


def test_pan_keeps_view_centre_over_image():
    vp = Viewport((400, 600), (1000, 500))
    vp.zoom_at(4.0)
    vp.pan_by(100, -50)
    assert vp.cx == pytest.approx(300 - 100 / vp.scale) and vp.cy == pytest.approx(200 + 50 / vp.scale)
    vp.pan_by(1e7, 1e7)
    assert (vp.cx, vp.cy) == (0, 0)
    vp.pan_by(-1e7, -1e7)
    assert (vp.cx, vp.cy) == (600, 400)


def test_follow_shows_leader_region_and_shares_anchor():
    lead = Viewport((400, 600), (1000, 500))
    lead.zoom_at(5.0, 100, 100)
    pane = Viewport((400, 600), (300, 300))
    pane.follow(lead)
    lr, pr = lead.visible_rect(), pane.visible_rect()
    assert pr.contains(lr, tol=1e-9)
    assert (pr.x0 + pr.x1) / 2 == pytest.approx((lr.x0 + lr.x1) / 2)
    assert pr.width == pytest.approx(lr.width)  # width-limited: the same horizontal extent


def test_image_to_unit_region():
    vp = Viewport((400, 600), (1000, 500))
    assert vp.image_to_unit(ImageRect(0, 0, 600, 400)) == pytest.approx((-1, -1, 1, 1))
    assert vp.image_to_unit(ImageRect(150, 100, 300, 200)) == pytest.approx((-0.5, -0.5, 0, 0))


def test_levels():
    assert level_for_scale(0.5) == 0 and level_for_scale(1.0) == 0
    assert level_for_scale(2.0) == 4 and level_for_scale(2.0 ** 0.25) == 1
    assert level_for_scale(2.0 ** 1.1) == 4  # nearest in log scale
    assert level_size((400, 600), 4) == (800, 1200)


def test_visible_level_rect_covers_exactly_the_visible_pixels():
    vis = ImageRect(10.3, 20.0, 50.7, 30.5)
    r = visible_level_rect((400, 600), 4, vis)  # 2x
    assert r == PixelRect(40, 20, 61, 102)
    back = level_rect_to_image((400, 600), 4, r)
    assert back.contains(vis) and back.x0 > vis.x0 - 0.5 and back.x1 < vis.x1 + 0.5
    assert visible_level_rect((400, 600), 4, ImageRect(-50, -50, 10000, 10000)) == PixelRect(0, 0, 800, 1200)
    y0, x0, y1, x1 = level_rect_region((400, 600), 4, PixelRect(0, 0, 400, 600))
    assert (y0, x0, y1, x1) == pytest.approx((-1, -1, 0, 0))


def test_rect_subtraction_is_exact():
    outer = PixelRect(0, 0, 100, 100)
    holes = [PixelRect(10, 10, 40, 60), PixelRect(30, 50, 120, 70), PixelRect(-5, 90, 5, 200)]
    pieces = subtract_all(outer, holes)
    covered = set()
    for p in pieces:
        for y in range(p.top, p.bottom):
            for x in range(p.left, p.right):
                assert (y, x) not in covered
                covered.add((y, x))
    expect = {(y, x) for y in range(100) for x in range(100)
              if not any(h.top <= y < h.bottom and h.left <= x < h.right for h in holes)}
    assert covered == expect


def test_centre_first_order():
    rs = [PixelRect(0, 0, 10, 10), PixelRect(45, 45, 55, 55), PixelRect(90, 90, 100, 100)]
    assert order_centre_first(rs, 50, 50)[0] == rs[1]


def test_none_refcount_guard_keeps_qt_calls_safe():
    """After the guard, a burst of void Qt calls cannot exhaust None's references."""
    import sys
    from cisr_zoom.app.qt_compat import leaks_none_references, protect_none_refcount
    from PySide6.QtCore import QTimer
    protect_none_refcount()
    if leaks_none_references():
        assert sys.getrefcount(None) > 2 ** 39
    t = QTimer()
    for _ in range(20000):
        t.stop()
    assert sys.getrefcount(None) > 1000


def test_rect_subtraction_random_cases(rng):
    for _ in range(30):
        outer = PixelRect(0, 0, int(rng.integers(5, 40)), int(rng.integers(5, 40)))
        holes = []
        for _ in range(int(rng.integers(0, 12))):
            t, l = int(rng.integers(-5, 40)), int(rng.integers(-5, 40))
            holes.append(PixelRect(t, l, t + int(rng.integers(1, 20)), l + int(rng.integers(1, 20))))
        pieces = subtract_all(outer, holes)
        mask = np.zeros((outer.bottom, outer.right), int)
        for p in pieces:
            assert outer.contains(p) and not p.is_empty()
            mask[p.top:p.bottom, p.left:p.right] += 1
        want = np.ones_like(mask)
        for h in holes:
            want[max(h.top, 0):max(h.bottom, 0), max(h.left, 0):max(h.right, 0)] = 0
        assert (mask == want).all()


def test_subtracting_a_grid_of_tiles():
    tiles = [PixelRect(y, x, y + 128, x + 128) for y in range(0, 1400, 128) for x in range(0, 2200, 128)]
    view = PixelRect(37, 51, 1300, 2100)
    assert subtract_all(view, tiles) == []
    assert subtract_all(view, tiles[1:]) == [PixelRect(37, 51, 128, 128)]
