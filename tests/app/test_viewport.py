"""Viewport: pure math, no Qt (and the None-refcount guard the views rely on)."""

import math

import pytest

from cisr_zoom.app.viewer.viewport import MAX_PHYSICAL_SCALE, Viewport


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


def test_follow_at_keeps_the_leaders_magnification_and_centres_on_a_point():
    lead = Viewport((400, 600), (1000, 500), dpr=2.0)
    lead.zoom_at(5.0, 100, 100)
    pane = Viewport((400, 600), (300, 300), dpr=1.0)
    pane.follow_at(lead, (120.0, 80.0))
    assert pane.physical_scale == pytest.approx(lead.physical_scale)   # the same magnification
    assert (pane.cx, pane.cy) == (120.0, 80.0)
    assert pane.visible_rect().width == pytest.approx(300 / pane.scale)
    assert pane.link_ratio(lead) == pytest.approx(2.0)
    pane.follow_at(lead, (-50.0, 1e6))                                 # clamped to the image
    assert (pane.cx, pane.cy) == (0.0, 400.0)


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
