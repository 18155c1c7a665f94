"""Comparison at the same magnification (issue 17, item 1), on the real main window with tiny
models, driven through Qt events on the offscreen platform.

The comparison panes are loupes: the main view's zoom, centred on the image point under the
cursor in the main view (its centre once the cursor is elsewhere), synchronised on zoom, pan
and cursor; their tiles come through the scene's requests to the one render thread.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cisr_zoom.core.render.levels import level_size, visible_level_rect
from test_main_window import drag, record_submits, send_mouse, send_wheel, wait_idle, wait_session


def move(view, pos: QPointF):
    send_mouse(view, QMouseEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton)


def leave(view):
    QApplication.sendEvent(view, QEvent(QEvent.Type.Leave))


def mid(view) -> QPointF:
    return QPointF(view.viewport().width() / 2, view.viewport().height() / 2)


def assert_same_magnification(pane_view, main_view):
    """Same screen pixels per image pixel, by the views' mappings and by the transform the
    painter draws the level tiles with."""
    assert pane_view.vp.physical_scale == pytest.approx(main_view.vp.physical_scale, rel=1e-9)
    assert pane_view.current_level() == main_view.current_level()
    h, w = main_view.scene.image.size
    H, W = level_size((h, w), main_view.current_level())
    tp, tm = pane_view.painter.image_transform(W, H), main_view.painter.image_transform(W, H)
    assert (tp.m11(), tp.m22()) == pytest.approx((tm.m11(), tm.m22()), rel=1e-9)
    r = pane_view.vp.visible_rect()
    assert r.width == pytest.approx(pane_view.viewport().width() / main_view.vp.scale, rel=1e-9)
    assert r.height == pytest.approx(pane_view.viewport().height() / main_view.vp.scale, rel=1e-9)


def assert_centred_on(pane_view, point):
    r = pane_view.vp.visible_rect()
    assert ((r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2) == pytest.approx(point, abs=1e-6)


def test_panes_are_loupes_at_the_main_views_zoom_around_the_cursor(make_window, test_image, qtbot):
    win = make_window(test_image, size=(1100, 700))
    main = win.view
    panes = [p.view for p in win.compare.panes]
    views = [main] + panes
    wait_session(qtbot, win)
    main.zoom_at(4.0)                       # about the middle: the cursor is not over the view yet
    wait_idle(qtbot, views)
    # the cursor is elsewhere: every pane shows the main view's centre at its zoom
    for pv in panes:
        assert pv.isVisible() and pv.follow_mode == "loupe"
        assert_same_magnification(pv, main)
        assert_centred_on(pv, (main.vp.cx, main.vp.cy))
        # a loupe, not an overview: it shows less of the image than the main view
        assert pv.vp.visible_rect().width < main.vp.visible_rect().width
    # the cursor over the main view: the panes centre on the image point under it
    seen = record_submits(win.bridge.worker)
    cursor = QPointF(0.2 * main.viewport().width(), 0.25 * main.viewport().height())
    move(main, cursor)
    under = main.vp.screen_to_image(cursor.x(), cursor.y())
    assert abs(under[0] - main.vp.cx) > 5 and abs(under[1] - main.vp.cy) > 5
    for pv in panes:
        assert_same_magnification(pv, main)
        assert_centred_on(pv, under)
        assert pv.marker_point() == pytest.approx((pv.vp.view_w / 2, pv.vp.view_h / 2))   # the cross
    assert main.marker_point() is None          # the real cursor is there
    wait_idle(qtbot, views)
    # the panes' pixels of that region came through the render thread, at the main view's level
    k = main.current_level()
    pane_requests = [r for r in seen if r.key.view.startswith("pane")]
    assert pane_requests and {r.out_size[0] > 0 for r in pane_requests} == {True}
    for pane in win.compare.panes:
        pv = pane.view
        want = visible_level_rect(win.scene.image.size, k, pv.slot_visible_image_rect(pv.slots[0]))
        assert win.scene.tile_layer.covers(pane.source, k, want)
    # synchronised on zoom: the wheel over the main view, anchored at the cursor
    before = main.vp.physical_scale
    send_wheel(main, cursor, 120)
    assert main.vp.physical_scale > before * 1.2
    under2 = main.vp.screen_to_image(cursor.x(), cursor.y())
    assert under2 == pytest.approx(under, abs=1e-6)
    for pv in panes:
        assert_same_magnification(pv, main)
        assert_centred_on(pv, under)
    # synchronised on pan: a drag in the main view; the panes follow the point under the cursor
    end = cursor + QPointF(140, 90)
    drag(main, cursor, end)
    moved = main.vp.screen_to_image(end.x(), end.y())
    for pv in panes:
        assert_same_magnification(pv, main)
        assert_centred_on(pv, moved)
    # the cursor leaves: back to the main view's centre
    leave(main)
    for pv in panes:
        assert_centred_on(pv, (main.vp.cx, main.vp.cy))
        assert pv.marker_point() is None


def test_zoom_and_pan_in_a_pane_move_every_view(make_window, test_image, qtbot):
    win = make_window(test_image, size=(1100, 700))
    main = win.view
    pane, other = win.compare.panes[0].view, win.compare.panes[1].view
    main.zoom_at(3.0)
    # the wheel in a pane zooms every view; the image point under the pane's cursor stays there
    at = QPointF(0.3 * pane.viewport().width(), 0.4 * pane.viewport().height())
    move(pane, at)
    point = pane.vp.screen_to_image(at.x(), at.y())
    before = main.vp.physical_scale
    send_wheel(pane, at, 240)
    assert main.vp.physical_scale == pytest.approx(before * 2 ** (2 / 3), rel=1e-6)
    assert pane.vp.screen_to_image(at.x(), at.y()) == pytest.approx(point, abs=1e-6)
    for pv in (pane, other):
        assert_same_magnification(pv, main)
        assert_centred_on(pv, (main.vp.cx, main.vp.cy))
    # the pane's cursor is marked in the main view and in the other pane
    mx, my = main.marker_point()
    assert main.vp.screen_to_image(mx, my) == pytest.approx(point, abs=1e-6)
    assert other.vp.screen_to_image(*other.marker_point()) == pytest.approx(point, abs=1e-6)
    assert pane.marker_point() is None
    # a drag in a pane pans the main view by the same image distance (same magnification)
    cx, cy = main.vp.cx, main.vp.cy
    drag(pane, mid(pane), mid(pane) + QPointF(-60, 30))
    s = main.vp.scale
    assert (main.vp.cx, main.vp.cy) == pytest.approx((cx + 60 / s, cy - 30 / s), abs=1.01 / s)
    assert_centred_on(pane, (main.vp.cx, main.vp.cy))
    # double-click in a pane zooms 2x anchored there
    before = main.vp.physical_scale
    spot = QPointF(40, 50)
    point = pane.vp.screen_to_image(spot.x(), spot.y())
    qtbot.mouseDClick(pane.viewport(), Qt.MouseButton.LeftButton, pos=spot.toPoint())
    assert main.vp.physical_scale == pytest.approx(2 * before, rel=1e-6)
    assert pane.vp.screen_to_image(spot.x(), spot.y()) == pytest.approx(point, abs=1e-6)
    # fit from the window: the panes follow
    win.view.fit()
    for pv in (pane, other):
        assert_same_magnification(pv, main)
