"""Comparison at the same magnification (issue 17, item 1), on the real main window with tiny
models, driven through Qt events on the offscreen platform.

The comparison panes are loupes: the main view's zoom, centred on the image point under the
cursor in the main view (its centre once the cursor is elsewhere), synchronised on zoom, pan
and cursor; their tiles come through the scene's requests to the one render thread.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cisr_zoom.core.render.levels import level_size, visible_level_rect
from test_main_window import drag, grab_rgb, record_submits, send_mouse, send_wheel, wait_idle, wait_session


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


# -- grid ------------------------------------------------------------------------------------
def assert_in_sync(views):
    main = views[0]
    for v in views[1:]:
        assert v.vp.physical_scale == pytest.approx(main.vp.physical_scale, rel=1e-9)
        assert (v.vp.cx, v.vp.cy) == pytest.approx((main.vp.cx, main.vp.cy), abs=1e-9)
        assert v.current_level() == main.current_level()


def test_grid_of_two_equal_views_in_sync_and_fully_interactive(make_window, test_image, qtbot):
    win = make_window(test_image, size=(1100, 700), compare=False)
    wait_session(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_G)
    assert win.grid.n_views == 2 and win.act_grid2.isChecked() and not win.act_split.isEnabled()
    main, second = win.grid.visible_views()
    assert second.isVisible() and second.follow_mode == "mirror" and not win.grid.cells[1].isVisible()
    # equal views (once laid out), each its own source: the main model and the second model
    qtbot.waitUntil(lambda: abs(main.viewport().width() - second.viewport().width()) <= 2
                    and abs(main.viewport().height() - second.viewport().height()) <= 2, timeout=5000)
    assert main.viewport().width() > 0.4 * win.grid.width()
    assert main.sources == [win.main_source] and second.sources == [win.split_source]
    assert win.main_source != win.split_source
    assert win.grid.main_combo.currentData() == win.main_source
    assert win.grid.cells[0].combo.currentData() == win.split_source
    seen = record_submits(win.bridge.worker)
    # the wheel in the second view zooms both, anchored at its cursor
    at = QPointF(0.7 * second.viewport().width(), 0.3 * second.viewport().height())
    move(second, at)
    point = second.vp.screen_to_image(at.x(), at.y())
    send_wheel(second, at, 360)
    assert main.vp.physical_scale > 1.9 * main.vp.fit_scale * main.vp.dpr
    assert second.vp.screen_to_image(at.x(), at.y()) == pytest.approx(point, abs=1e-6)
    assert_in_sync([main, second])
    # its cursor is marked in the main view at the same image point; the status bar names it
    assert win.pos_label.text() == f"x {point[0]:.1f}  y {point[1]:.1f}"
    assert main.vp.screen_to_image(*main.marker_point()) == pytest.approx(point, abs=1e-6)
    # a drag in the second view pans both; arrow keys in it too
    drag(second, mid(second), mid(second) + QPointF(50, -40))
    assert_in_sync([main, second])
    cx = main.vp.cx
    qtbot.keyClick(second, Qt.Key.Key_Left)
    assert main.vp.cx < cx
    assert_in_sync([main, second])
    # a drag in the main view pans the second too
    drag(main, mid(main), mid(main) + QPointF(-30, 20))
    assert_in_sync([main, second])
    wait_idle(qtbot, [main, second])
    # both rendered their own source over the same region, through the render thread
    assert {r.key.view for r in seen} >= {"main", "grid1"}
    k = main.current_level()
    for v in (main, second):
        want = visible_level_rect(win.scene.image.size, k, v.slot_visible_image_rect(v.slots[0]))
        assert win.scene.tile_layer.covers(v.sources[0], k, want)
    # G again: back to one view; the grid view asks for nothing more
    qtbot.keyClick(win, Qt.Key.Key_G)
    assert win.grid.n_views == 1 and not second.isVisible() and not second.live_requests()
    assert win.act_split.isEnabled()


def test_grid_of_four_views_shows_every_source_once(make_window, test_image, qtbot):
    win = make_window(test_image, size=(1100, 760), compare=False)
    qtbot.keyClick(win, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
    assert win.grid.n_views == 4 and win.act_grid4.isChecked() and not win.act_grid2.isChecked()
    views = win.grid.visible_views()
    assert len(views) == 4 and all(v.isVisible() for v in views)

    def equal():
        sizes = [(v.viewport().width(), v.viewport().height()) for v in views]
        return (max(w for w, _ in sizes) - min(w for w, _ in sizes) <= 2
                and max(h for _, h in sizes) - min(h for _, h in sizes) <= 2)
    qtbot.waitUntil(equal, timeout=5000)
    assert views[3].viewport().width() > 0.4 * win.grid.width() and views[3].viewport().height() > 0.4 * win.grid.height()
    # two tiny models and bicubic: three sources for four views; the fourth is empty and says why
    shown = [v.sources[0] for v in views]
    assert sorted(s for s in shown if s) == sorted(win.catalog.sources())
    assert shown[3] is None and views[3].message and "Add a model" in views[3].message
    views[2].zoom_at(2.0, 30.0, 40.0)
    assert_in_sync(views)
    # picking view 3's source for view 4 moves it: still no repeats
    src = shown[2]
    win.grid.cells[2].combo.setCurrentIndex(win.grid.cells[2].combo.findData(src))   # view 4's chooser
    now = [v.sources[0] for v in views]
    assert now[3] == src and now[2] is None
    assert win.grid.cells[2].combo.currentData() == src      # the chooser shows what is shown
    assert "view 3" in win.statusBar().currentMessage()


# -- A/B flip and the same-source rule ---------------------------------------------------------
def test_ab_flip_swaps_the_source_in_place(make_window, test_image, qtbot):
    win = make_window(test_image, compare=False)
    assert win.act_flip.shortcut().toString() == "B"
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert win.act_flip in view_menu.actions()
    a, b = win.main_source, win.split_source
    assert a != b
    zoom, centre = win.view.vp.physical_scale, (win.view.vp.cx, win.view.vp.cy)
    qtbot.keyClick(win, Qt.Key.Key_B)
    assert win.view.sources == [b] and (win.main_source, win.split_source) == (b, a)
    assert win.view.vp.physical_scale == zoom and (win.view.vp.cx, win.view.vp.cy) == centre   # in place
    assert "A/B flip" in win.statusBar().currentMessage()
    qtbot.keyClick(win, Qt.Key.Key_B)
    assert win.view.sources == [a]
    # split view: the sides swap
    win.set_split(True)
    assert win.view.sources == [a, b]
    win.act_flip.trigger()
    assert win.view.sources == [b, a]
    # a grid of four: views 1-2 and 3-4 swap
    win.act_flip.trigger()
    win.set_layout(4)
    before = [v.sources[0] for v in win.grid.visible_views()]
    win.act_flip.trigger()
    after = [v.sources[0] for v in win.grid.visible_views()]
    assert after == [before[1], before[0], before[3], before[2]]


def test_flip_back_and_split_show_what_the_other_source_already_rendered(make_window, test_image, qtbot):
    """Issue 27 item 2: A/B flip and split start from the tiles already rendered for the other
    source (the tile layer keeps them keyed by source): flipping back to A paints A's sharp tiles
    at once and asks the render thread for nothing; split view asks nothing for either side."""
    win = make_window(test_image, compare=False)
    view, a, b = win.view, win.main_source, win.split_source
    wait_session(qtbot, win)
    view.zoom_at(3.0)
    wait_idle(qtbot, [view])
    k = view.current_level()
    want = visible_level_rect(win.scene.image.size, k, view.slot_visible_image_rect(view.slots[0]))
    sharp_a = grab_rgb(view.viewport())
    seen = record_submits(win.bridge.worker)
    qtbot.keyClick(win, Qt.Key.Key_B)
    wait_session(qtbot, win, b)
    wait_idle(qtbot, [view])
    assert seen and {r.key.view for r in seen} == {"main"}        # B was rendered for this view
    assert win.scene.tile_layer.covers(b, k, want)
    assert not np.array_equal(grab_rgb(view.viewport()), sharp_a)   # B's tiles differ from A's
    asked = len(seen)
    qtbot.keyClick(win, Qt.Key.Key_B)                              # back to A
    assert view.sources == [a]
    assert np.array_equal(grab_rgb(view.viewport()), sharp_a)      # at once: A's sharp tiles
    wait_idle(qtbot, [view])
    assert len(seen) == asked                                       # and nothing re-rendered
    win.set_split(True)                                             # A | B: both already rendered
    assert view.sources == [a, b]
    wait_idle(qtbot, [view])
    assert len(seen) == asked


def test_split_view_never_pairs_a_source_with_itself(make_window, test_image, qtbot):
    win = make_window(test_image, compare=False)
    win.set_split(True)
    a, b = win.view.sources
    assert a != b
    # the right side picks the left side's model: the left side takes the right side's old one
    win.split_combo.activated.emit(win.split_combo.findData(a))
    assert win.view.sources == [b, a]
    assert win.model_combo.currentData() == b and win.split_combo.currentData() == a
    assert "the left side" in win.statusBar().currentMessage()
    # and the other way round, from the model menu
    next(x for x in win.model_menu.actions() if x.text() == win.catalog.label(a)).trigger()
    assert win.view.sources == [a, b]
    for _ in range(3):
        for src in win.catalog.sources():
            win.set_main_source(src)
            assert win.view.sources[0] != win.view.sources[1]
            win.set_split_source(src)
            assert win.view.sources[0] != win.view.sources[1]


def test_same_source_refused_with_a_reason_when_there_is_no_other(make_window, test_image, qtbot):
    win = make_window(test_image, models=[], compare=False)      # no model: preview and bicubic only
    win.set_split(True)
    assert win.view.sources == [None, "bicubic"]
    win.set_main_source("bicubic")
    assert win.view.sources == [None, "bicubic"]                  # refused
    msg = win.statusBar().currentMessage()
    assert "bicubic" in msg.lower() and "Add a model" in msg
    win.act_flip.trigger()                                        # nothing to flip with either
    assert win.view.sources == [None, "bicubic"]


def test_saved_settings_with_one_source_twice_are_split_apart(qtbot, tiny_checkpoints, test_image):
    from cisr_zoom.app.main_window import MainWindow
    from cisr_zoom.app.model_catalog import ModelCatalog
    from cisr_zoom.app.settings import Settings
    settings = Settings.load()
    catalog = ModelCatalog(bundled={}, user_paths=tiny_checkpoints)
    src = catalog.sources()[0]
    settings["main_model"] = settings["split_model"] = src
    settings["split_enabled"] = True
    settings["view_layout"] = 4
    settings["grid_models"] = [src, src]
    w = MainWindow(settings, catalog=catalog, device="cpu", settle_ms=10)
    qtbot.addWidget(w)
    try:
        assert w.grid.n_views == 4
        shown = [w.main_source, w.split_source] + w.grid_extra
        assert shown[0] == src and len({s for s in shown if s}) == len([s for s in shown if s]) == 3
    finally:
        w.close_now()


def test_hiding_the_view_under_the_cursor_forgets_the_pointer(make_window, test_image, qtbot):
    """Grid off while the cursor rests in its second view: no Leave event comes, yet the main
    view must stop marking that stale cursor."""
    win = make_window(test_image, size=(1100, 700), compare=False)
    wait_session(qtbot, win)
    qtbot.keyClick(win, Qt.Key.Key_G)
    main, second = win.grid.visible_views()
    qtbot.waitUntil(lambda: second.viewport().width() > 100, timeout=5000)
    move(second, QPointF(0.7 * second.viewport().width(), 0.3 * second.viewport().height()))
    assert main.pointer_view() is second and main.marker_point() is not None
    qtbot.keyClick(win, Qt.Key.Key_G)          # back to one view; the cursor has not moved
    assert not second.isVisible()
    assert main.pointer_view() is None and main.pointer() is None and main.marker_point() is None


def test_the_main_view_comes_first(make_window, test_image, qtbot):
    """The loupes ask for their tiles after the main view's (a lower class on the render
    thread); the status bar counts the main view's tiles; the panel is closed on a first run."""
    from cisr_zoom.app.settings import Settings
    from cisr_zoom.core.render.worker import OTHER_VIEW, VIEW
    assert Settings.load()["compare_visible"] is False          # first run: C opens the panel
    win = make_window(test_image, size=(1100, 700))
    wait_session(qtbot, win)
    gate = threading.Event()
    win.bridge.worker.run_job(lambda: gate.wait(30))           # hold the worker: requests stay live
    try:
        win.view.zoom_at(3.0)
        pane = win.compare.panes[0].view
        qtbot.waitUntil(lambda: bool(win.view.live_requests()) and bool(pane.live_requests()), timeout=10000)
        assert {i.request.priority for i in win.view.live_requests()} == {VIEW}
        assert {i.request.priority for i in pane.live_requests()} == {OTHER_VIEW}
        qtbot.waitUntil(win.progress.isVisible, timeout=5000)
        assert win.progress.maximum() == win.scene.planner.progress("main")[1]
        assert win.progress.maximum() < win.scene.planner.progress()[1]
    finally:
        gate.set()
