"""The real main window, driven through Qt events on the offscreen platform, with tiny models.

Covers issue 6's "Done when": wheel zoom anchored at the cursor, the worker only asked for
visible coordinates, a pan superseding and cancelling the old request, the comparison panel's
"Use as main", export through the dialog (exact size; cancel leaves
nothing), and a corrupt file reported while the app stays usable.
"""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QImage, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from cisr_zoom.core.coords import region_of_rect
from cisr_zoom.core.render.levels import level_size, visible_level_rect
from cisr_zoom.core.imageio import save_image



def render_threads():
    return [t for t in threading.enumerate() if t.name == "cisr-render" and t.is_alive()]


# -- helpers ---------------------------------------------------------------------------------
def send_wheel(view, pos: QPointF, dy: int, pixel_dy: int = 0):
    vp = view.viewport()
    ev = QWheelEvent(pos, QPointF(vp.mapToGlobal(pos.toPoint())), QPoint(0, pixel_dy), QPoint(0, dy),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)


def send_mouse(view, kind, pos: QPointF, buttons):
    vp = view.viewport()
    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    ev = QMouseEvent(kind, pos, QPointF(vp.mapToGlobal(pos.toPoint())), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, ev)


def drag(view, start: QPointF, end: QPointF, steps: int = 5):
    left = Qt.MouseButton.LeftButton
    send_mouse(view, QMouseEvent.Type.MouseButtonPress, start, left)
    for i in range(1, steps + 1):
        send_mouse(view, QMouseEvent.Type.MouseMove, start + (end - start) * (i / steps), left)
    send_mouse(view, QMouseEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)


def grab_rgb(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    return arr[:, : 3 * w].reshape(h, w, 3).copy()


def record_submits(worker):
    """Wrap ``worker.submit``: returns a list of (request, main view's visible rect at that time)."""
    seen = []
    original = worker.submit

    def spy(session, request, *args, **kwargs):
        seen.append(request)
        return original(session, request, *args, **kwargs)
    worker.submit = spy
    return seen


def view_complete(view) -> bool:
    return view.is_complete()


def wait_idle(qtbot, views, timeout=30000):
    qtbot.waitUntil(lambda: all(view_complete(v) for v in views), timeout=timeout)


def wait_session(qtbot, w, source=None):
    source = source or w.main_source
    qtbot.waitUntil(lambda: w.scene.session(source) is not None, timeout=30000)


# -- zoom ------------------------------------------------------------------------------------
def _level_point(view, screen: QPointF):
    """The level-grid point ``(y, x)`` under a screen point of ``view``."""
    ix, iy = view.vp.screen_to_image(screen.x(), screen.y())
    h, w = view.scene.image.size
    H, W = level_size((h, w), view.current_level())
    return iy * H / h, ix * W / w


def _centre_distance(rect, point):
    return (((rect.top + rect.bottom) / 2 - point[0]) ** 2 + ((rect.left + rect.right) / 2 - point[1]) ** 2) ** 0.5


def test_tiles_arrive_nearest_the_cursor_first_and_follow_it(make_window, test_image, qtbot):
    """With the cursor over the view, tiles arrive in order of their distance from it (events
    recorded in order); when it moves, the remaining tiles follow the new point and nothing is
    cancelled or asked again."""
    win = make_window(test_image, compare=False, size=(900, 600))
    view = win.view
    wait_session(qtbot, win)
    wait_idle(qtbot, [view])
    worker = win.bridge.worker
    arrivals, cancels = [], []
    win.scene.tileAdded.connect(lambda src, lv, r: arrivals.append((lv, r)))
    real_cancel = worker.cancel
    worker.cancel = lambda key=None: (cancels.append(key), real_cancel(key))[1]
    vw, vh = view.viewport().width(), view.viewport().height()
    cursor = QPointF(0.85 * vw, 0.8 * vh)
    gate, paused, resume = threading.Event(), threading.Event(), threading.Event()
    delivered = []
    real_submit = worker.submit

    def submit(session, request, on_tile, on_done=None):
        def held_on_tile(tile):               # render thread: hold it after six tiles
            on_tile(tile)
            delivered.append(1)
            if len(delivered) == 6:
                paused.set()
                resume.wait(TIMEOUT_S)
        return real_submit(session, request, held_on_tile, on_done)
    worker.submit = submit
    worker.run_job(lambda: gate.wait(TIMEOUT_S))               # queue every request before any runs
    send_mouse(view, QMouseEvent.Type.MouseMove, cursor, Qt.MouseButton.NoButton)
    view.set_physical_zoom(view.vp.physical_scale * 6)
    # the scroll bars appear on a later event and shrink the viewport, which replans (its edge
    # requests are replaced, their tiles dropped): let that happen before counting tiles
    qtbot.waitUntil(lambda: view.horizontalScrollBar().isVisible() and view.verticalScrollBar().isVisible()
                    and view.vp.view_w == view.viewport().width(), timeout=5000)
    view.request_visible()
    level, n_live = view.current_level(), len(view.live_requests())
    assert n_live >= 2
    gate.set()
    qtbot.waitUntil(lambda: paused.is_set() and len(arrivals) >= 6, timeout=30000)
    qtbot.wait(50)
    before = [r for lv, r in arrivals if lv == level]
    assert len(before) == 6
    point = _level_point(view, cursor)
    d = [_centre_distance(r, point) for r in before]
    assert d == sorted(d) and before[0].top <= point[0] <= before[0].bottom
    cancels.clear()
    other = QPointF(0.1 * vw, 0.15 * vh)
    send_mouse(view, QMouseEvent.Type.MouseMove, other, Qt.MouseButton.NoButton)
    n_before = len(arrivals)
    resume.set()
    wait_idle(qtbot, [view])
    worker.submit = real_submit
    after = [r for lv, r in arrivals[n_before:] if lv == level]
    assert after, "the view was complete before the cursor moved"
    point = _level_point(view, other)
    d = [_centre_distance(r, point) for r in after]
    assert d == sorted(d)
    assert cancels == []                                       # nothing in flight was dropped
    worker.cancel = real_cancel


TIMEOUT_S = 20.0


def test_wheel_zoom_keeps_the_point_under_the_cursor(make_window, tmp_path, qtbot):
    """The image point under the cursor stays within 1 screen pixel of it, by the view's
    mapping after every wheel event and by the painted pixels at the end."""
    h, w = 60, 80
    rgb = np.full((h, w, 3), 0.5, np.float32)
    rgb[30, 40] = (1.0, 0.0, 0.0)  # a one-pixel red dot, centre at image (40.5, 30.5)
    path = tmp_path / "dot.png"
    save_image(path, rgb)
    win = make_window(path, models=[], compare=False)
    view = win.view
    sx, sy = view.vp.image_to_screen(40.5, 30.5)
    cursor = QPointF(sx, sy)
    start_scale = view.vp.physical_scale
    for dy, pix in [(120, 0), (120, 0), (40, 12), (40, 12), (15, 4), (-60, 0), (240, 0), (120, 0)]:
        ix, iy = view.image_point_at(cursor.x(), cursor.y())
        send_wheel(view, cursor, dy, pix)
        qx, qy = view.vp.image_to_screen(ix, iy)
        assert abs(qx - cursor.x()) <= 1.0 and abs(qy - cursor.y()) <= 1.0
    assert view.vp.physical_scale > 3 * start_scale
    win.repaint()
    rgb = grab_rgb(view.viewport()).astype(np.float32)
    redness = np.clip(rgb[..., 0] - rgb[..., 1], 0, None)
    redness[redness < 0.2 * redness.max()] = 0
    ys, xs = np.nonzero(redness)
    wts = redness[ys, xs]
    cy, cx = (ys + 0.5) @ wts / wts.sum(), (xs + 0.5) @ wts / wts.sum()
    assert abs(cx - cursor.x()) <= 1.0 and abs(cy - cursor.y()) <= 1.0, (cx, cy, cursor)


def test_keyboard_fit_and_actual_pixels(make_window, test_image, qtbot):
    win = make_window(test_image, compare=False)
    view = win.view
    view.setFocus()
    win.act_100.trigger()
    assert view.vp.physical_scale == pytest.approx(1.0)
    win.act_zoom_in.trigger()
    assert view.vp.physical_scale == pytest.approx(2 ** 0.5)
    win.act_fit.trigger()
    assert view.vp.scale == pytest.approx(view.vp.fit_scale)
    cx = view.vp.cx
    view.zoom_at(8.0)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.vp.cx > cx


# -- requests --------------------------------------------------------------------------------
def _assert_inside(requests, win):
    """Every request lies within the visible rectangle of the view that asked (the main view
    or a comparison pane; give or take the partly visible pixels at its edge: one output
    pixel of the request's level)."""
    views = {v.view_id: v for v in [win.view] + win.compare.views()}
    for r in requests:
        vp = views[r.key.view].vp
        vis = vp.visible_image_rect()
        y0, x0, y1, x1 = region_of_rect((vp.image_h, vp.image_w), vis.y0, vis.x0, vis.y1, vis.x1)
        ry0, rx0, ry1, rx1 = r.region
        H, W = r.out_size
        tol_y, tol_x = (ry1 - ry0) / H + 1e-9, (rx1 - rx0) / W + 1e-9
        assert ry0 >= y0 - tol_y and rx0 >= x0 - tol_x and ry1 <= y1 + tol_y and rx1 <= x1 + tol_x, (r, (y0, x0, y1, x1))


def test_worker_only_receives_visible_coordinates(make_window, test_image, qtbot):
    win = make_window(test_image, size=(900, 600))
    wait_session(qtbot, win)
    views = [win.view] + win.compare.views()
    wait_idle(qtbot, views)                 # the fitted view is done: record only what follows
    seen = record_submits(win.bridge.worker)
    win.view.zoom_at(5.0, 120.0, 150.0)
    wait_idle(qtbot, views)
    assert any(r.key.view == "main" for r in seen) and any(r.key.view.startswith("pane") for r in seen)
    _assert_inside(seen, win)
    n = len(seen)
    win.view.pan_by(-90.0, 40.0)
    wait_idle(qtbot, views)
    assert len(seen) > n
    _assert_inside(seen[n:], win)
    # and together with what was already cached they cover the visible level pixels
    k = win.view.current_level()
    want = visible_level_rect(win.scene.image.size, k, win.view.vp.visible_image_rect())
    assert win.scene.tile_layer.covers(win.main_source, k, want)
    # a pure pan only asks for the newly revealed pixels
    new_px = sum(r.out_size[0] * r.out_size[1] for r in seen[n:] if r.key.view == "main")
    assert new_px < want.area * 0.75


def test_pan_supersedes_and_cancels_the_old_request(make_window, test_image, qtbot):
    win = make_window(test_image, compare=False)
    view = win.view
    wait_session(qtbot, win)
    wait_idle(qtbot, [view])                           # the fitted view is rendered: nothing pending
    gate = threading.Event()
    win.bridge.worker.run_job(lambda: gate.wait(30))   # hold the worker so requests queue up
    done = []
    win.scene.requestEnded.connect(lambda key, err, cancelled: done.append((key, err, cancelled)))
    accepted = []
    original_accept = win.scene.planner.accept

    def spy(tile):
        res = original_accept(tile)
        accepted.append((tile.generation, res is not None))
        return res
    win.scene.planner.accept = spy
    view.zoom_at(6.0, 200.0, 200.0)
    level = view.current_level()
    qtbot.waitUntil(lambda: bool(view.live_requests()), timeout=5000)
    assert all(i.level == level for i in view.live_requests())
    old = {i.key for i in view.live_requests()}
    centre = QPointF(view.viewport().width() / 2, view.viewport().height() / 2)
    drag(view, centre, centre + QPointF(-250, -120))
    qtbot.waitUntil(lambda: bool(view.live_requests()) and not ({i.key for i in view.live_requests()} & old),
                    timeout=5000)
    new = {i.key for i in view.live_requests()}
    gate.set()
    qtbot.waitUntil(lambda: {k for k, _, _ in done} >= old | new, timeout=30000)
    by_key = {k: (err, cancelled) for k, err, cancelled in done}
    assert all(by_key[k] == (None, True) for k in old), "the old request was not cancelled"
    assert all(by_key[k] == (None, False) for k in new)
    old_gens = {k.id for k in old}
    assert not any(ok for g, ok in accepted if g in old_gens), "a tile of the superseded request was used"
    assert any(ok for g, ok in accepted if g in {k.id for k in new})
    want = visible_level_rect(win.scene.image.size, view.current_level(), view.vp.visible_image_rect())
    assert win.scene.tile_layer.covers(win.main_source, view.current_level(), want)


# -- comparison ------------------------------------------------------------------------------
def test_use_as_main_shows_the_panes_model_in_the_main_view(make_window, test_image, qtbot):
    """(The panes' magnification and synchronisation: tests/app/test_compare.py.)"""
    win = make_window(test_image, size=(1000, 640))
    sources = win.compare.sources()
    assert len(set(sources)) == 3 and sources[2] == "bicubic"
    for pane in win.compare.panes:
        assert pane.combo.currentText() == win.catalog.label(pane.source)
    qtbot.mouseClick(win.compare.panes[0].use_button, Qt.MouseButton.LeftButton)
    assert win.main_source == win.compare.panes[0].source
    assert win.view.sources == [win.main_source]


def test_split_view_requests_each_side_separately(make_window, test_image, qtbot):
    win = make_window(test_image, compare=False)
    view = win.view
    win.set_split(True)
    assert view.split and len(view.slots) == 2 and view.sources[1] != view.sources[0]
    view.zoom_at(4.0)
    wait_idle(qtbot, [view])
    d = view.divider * view.viewport().width()
    drag(view, QPointF(d, 50), QPointF(d + 80, 50))
    assert view.divider * view.viewport().width() == pytest.approx(d + 80, abs=1.0)
    wait_idle(qtbot, [view])
    k = view.current_level()
    for slot in view.slots:
        want = visible_level_rect(win.scene.image.size, k, view.slot_visible_image_rect(slot))
        assert win.scene.tile_layer.covers(slot.source, k, want)
    # the left side was not rendered right of the divider
    left = view.slot_visible_image_rect(view.slots[0])
    lv = visible_level_rect(win.scene.image.size, k, left)
    for p in win.scene.tile_layer.patches(view.slots[0].source, k):
        assert p.rect.right <= lv.right


# -- export ----------------------------------------------------------------------------------
def _export(win, qtbot, path, width, height, fmt):
    d = win.open_export_dialog()
    d.format_combo.setCurrentText(fmt)
    d.set_output_size(width, height, keep_aspect=False)
    d.path_edit.setText(str(path))
    assert d.output_size() == (height, width)
    assert f"{width:,} x {height:,}" in d.info_label.text()
    assert d.export_button.isEnabled()
    with qtbot.waitSignal(d.exportFinished, timeout=60000) as sig:
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
    return sig.args


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif"), ("WebP", ".webp")])
def test_export_writes_exactly_the_chosen_size(make_window, test_image, qtbot, tmp_path, fmt, suffix):
    win = make_window(test_image, compare=False)
    out = tmp_path / "out" / f"export{suffix}"
    out.parent.mkdir()
    path, error, cancelled = _export(win, qtbot, out, 151, 77, fmt)
    assert error is None and not cancelled
    with Image.open(out) as im:
        assert im.size == (151, 77)
        assert im.format == {"PNG": "PNG", "JPEG": "JPEG", "TIFF": "TIFF", "WebP": "WEBP"}[fmt]
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]


def test_export_keeps_icc_exif_dpi_and_writes_a_pyramid(make_window, qtbot, tmp_path, rng):
    """The dialog's export goes through core's one path: metadata kept, DPI scaled, and a tiled
    pyramidal TIFF when asked."""
    import tifffile
    from PIL import ImageCms
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[271] = "TestCam"
    src = tmp_path / "cam.jpg"
    Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(
        src, quality=95, icc_profile=srgb, exif=exif.tobytes(), dpi=(300, 300))
    win = make_window(src, compare=False)
    out = tmp_path / "out.png"
    path, error, cancelled = _export(win, qtbot, out, 128, 96, "PNG")
    assert error is None and not cancelled
    with Image.open(out) as im:
        assert im.info["icc_profile"] == srgb and im.getexif()[271] == "TestCam"
        assert im.info["dpi"][0] == pytest.approx(600, rel=1e-3)
    d = win.open_export_dialog()
    d.format_combo.setCurrentText("TIFF")
    assert d.pyramid_check.isEnabled() and not d.quality_spin.isEnabled()
    d.pyramid_check.setChecked(True)
    d.set_output_size(640, 480, keep_aspect=False)
    d.path_edit.setText(str(tmp_path / "poster.tif"))
    with qtbot.waitSignal(d.exportFinished, timeout=60000) as sig:
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
    assert sig.args[1] is None
    with tifffile.TiffFile(tmp_path / "poster.tif") as t:
        assert t.pages[0].is_tiled and [lv.shape for lv in t.series[0].levels] == \
            [(480, 640, 3), (240, 320, 3), (120, 160, 3)]


def test_export_keeps_aspect_and_scale(make_window, test_image, qtbot):
    win = make_window(test_image, compare=False)
    d = win.open_export_dialog()
    d.scale_spin.setValue(2.5)
    assert d.output_size() == (240, 320)       # 96 x 128 image
    d.by_size.setChecked(True)
    d.lock_check.setChecked(True)
    d.width_spin.setValue(64)
    assert d.height_spin.value() == 48
    win_vp = win.view.vp
    assert d.region() == (-1.0, -1.0, 1.0, 1.0)
    d.close()
    win.view.zoom_at(3.0, 50.0, 60.0)
    d = win.open_export_dialog()
    d.area_view.setChecked(True)
    vis = win_vp.visible_image_rect()
    assert d.region() == pytest.approx(region_of_rect((win_vp.image_h, win_vp.image_w), vis.y0, vis.x0, vis.y1, vis.x1))
    assert d.scale_spin.value() == 4.0                   # the scale typed stays (the default here)
    d.view_zoom_button.click()                           # the view's zoom, on request
    assert d.scale_spin.value() == pytest.approx(win_vp.physical_scale, abs=1e-3)
    vis = win_vp.visible_image_rect()
    assert d.output_size() == (round(vis.height * d.scale_spin.value()), round(vis.width * d.scale_spin.value()))
    d.close()


def test_cancelled_export_leaves_nothing(make_window, test_image, qtbot, tmp_path):
    win = make_window(test_image, compare=False)
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    out = out_dir / "big.tif"
    d = win.open_export_dialog()
    d.format_combo.setCurrentText("TIFF")
    d.set_output_size(3000, 2200, keep_aspect=False)
    d.path_edit.setText(str(out))
    with qtbot.waitSignal(d.exportFinished, timeout=60000) as sig:
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
        assert d.running and d.pages.currentIndex() == 1
        # the GUI keeps running during the export: a timer ticks after progress came in,
        # while the export still runs (were it computed on the GUI thread, the ticks would
        # only come once it had finished)
        events = []
        d.progressed.connect(lambda f: events.append("progress"))
        ticker = QTimer()
        ticker.timeout.connect(lambda: events.append(("tick", d.running)))
        ticker.start(5)
        qtbot.waitUntil(lambda: "progress" in events and any(e != "progress" for e in events[events.index("progress"):]),
                        timeout=30000)
        ticker.stop()
        first = events.index("progress")
        assert any(e == ("tick", True) for e in events[first:])
        qtbot.mouseClick(d.cancel_button, Qt.MouseButton.LeftButton)
    path, error, cancelled = sig.args
    assert cancelled and error is None
    assert not out.exists()
    assert list(out_dir.iterdir()) == []
    assert "cancelled" in d.info_label.text().lower()


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,content,says", [
    ("cut.jpg", "truncated", ("truncated", "open a complete copy")),
    ("drawing.xcf", b"gimp xcf v011\0" + bytes(200), ("not an image", "PNG, JPEG")),
])
def test_image_errors_say_what_happened_and_what_to_do(make_window, test_image, tmp_path, qtbot, name, content, says):
    """The dialog of a truncated or unsupported file is in the user's words, without the
    image library's own text, and says the image shown before stays."""
    import io
    win = make_window(test_image, compare=False)
    path = tmp_path / name
    if content == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
        content = buf.getvalue()[: len(buf.getvalue()) // 2]
    path.write_bytes(content)
    with qtbot.waitSignal(win.imageFailed, timeout=20000):
        win.open_image(path)
    text = win.last_message_box.text()
    assert name in text and all(w in text for w in says) and "stays open" in text
    assert not any(w in text for w in ("Pillow", "PIL", "bytes not processed", "cannot identify", "Error:"))
    win.last_message_box.close()


def test_corrupt_image_shows_an_error_and_the_app_stays_usable(make_window, test_image, tmp_path, qtbot):
    win = make_window(test_image, compare=False)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with qtbot.waitSignal(win.imageFailed, timeout=20000):
        win.open_image(bad)
    box = win.last_message_box
    assert box is not None and box.isVisible()
    assert "broken.png" in box.text() and "\n" not in box.text()
    assert win.scene.image.path == test_image          # the previous image is still shown
    box.close()
    # still usable: zooming renders super-resolved tiles, and another image opens
    win.view.zoom_at(4.0)
    wait_idle(qtbot, [win.view])
    k = win.view.current_level()
    assert k > 0 and win.scene.tile_layer.levels(win.main_source)
    other = tmp_path / "other.png"
    save_image(other, np.full((40, 50, 3), 0.25, np.float32))
    with qtbot.waitSignal(win.imageLoaded, timeout=20000):
        win.open_image(other)
    assert win.scene.image.size == (40, 50)
    recent = json.loads(win.settings.path.read_text())["recent_files"]
    assert recent[0].endswith("other.png") and not any(r.endswith("broken.png") for r in recent)


def test_corrupt_settings_are_reset_with_a_warning(make_window, test_image, isolated_dirs, qtbot):
    cfg = isolated_dirs / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "settings.json").write_text("{ this is not json")
    win = make_window(test_image, compare=False)
    qtbot.waitUntil(lambda: win.last_message_box is not None, timeout=5000)
    assert "reset" in win.last_message_box.text()
    assert (cfg / "settings.json.corrupt").read_text() == "{ this is not json"
    assert json.loads((cfg / "settings.json").read_text())["recent_files"]  # rewritten, valid


def test_broken_model_is_reported_and_preview_stays(make_window, test_image, tmp_path, qtbot):
    broken = tmp_path / "models" / "broken-liif.pth"
    broken.parent.mkdir(exist_ok=True)
    broken.write_bytes(b"not a checkpoint")
    win = make_window(test_image, models=[broken], compare=False)
    win.view.zoom_at(4.0)
    qtbot.waitUntil(lambda: win.scene.source_error(win.main_source) is not None, timeout=20000)
    assert "broken-liif.pth" in win.scene.source_error(win.main_source)
    assert "broken-liif" in win.statusBar().currentMessage()
    assert not win.view.live_requests()
    rgb = grab_rgb(win.view.viewport())
    assert rgb.std() > 5  # the preview is painted


def test_no_model_shows_a_message_and_the_preview(make_window, test_image, qtbot):
    win = make_window(test_image, models=[], compare=False)
    assert win.catalog.is_empty() and win.main_source is None
    assert win.view.message and "No super-resolution model" in win.view.message
    win.view.zoom_at(3.0)
    qtbot.wait(50)
    assert not win.view.live_requests()
    assert grab_rgb(win.view.viewport()).std() > 5


def test_closing_during_rendering_leaves_no_thread_and_no_waiting_coroutine(make_window, test_image, qtbot,
                                                                           gui_event_loop):
    win = make_window(test_image, size=(1400, 900))
    wait_session(qtbot, win)
    win.view.zoom_at(12.0)
    qtbot.waitUntil(lambda: bool(win.view.live_requests()), timeout=5000)
    assert render_threads() and _pending_tasks(gui_event_loop)      # tiles are being awaited
    win.close()
    assert not render_threads()                                    # joined before close() returned
    qtbot.waitUntil(lambda: not _pending_tasks(gui_event_loop), timeout=5000)


def _start_big_export(win, qtbot, folder, name="big.png"):
    d = win.open_export_dialog()
    d.format_combo.setCurrentText("PNG")
    d.set_output_size(3000, 2200, keep_aspect=False)
    d.path_edit.setText(str(folder / name))
    with qtbot.waitSignal(d.progressed, timeout=30000):
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
    return d


def test_closing_during_export_asks_and_cancel_leaves_no_thread_and_no_file(make_window, test_image, qtbot, tmp_path,
                                                                           gui_event_loop):
    win = make_window(test_image, compare=False)
    out = tmp_path / "exports"
    out.mkdir()
    d = _start_big_export(win, qtbot, out)
    win.close()
    assert win.isVisible() and d.running and render_threads()      # not closed: it asks
    box = win.close_question
    assert box is not None and box.isVisible()
    labels = {b.text(): b for b in box.buttons()}
    assert set(labels) == {"Finish in background, then quit", "Cancel export and quit", "Keep waiting"}
    qtbot.mouseClick(labels["Keep waiting"], Qt.MouseButton.LeftButton)
    assert win.isVisible() and d.running and win.close_question is None
    win.close()                                                     # asks again
    assert win.close_question is not None
    with qtbot.waitSignal(win.windowClosed, timeout=30000):
        qtbot.mouseClick({b.text(): b for b in win.close_question.buttons()}["Cancel export and quit"],
                         Qt.MouseButton.LeftButton)
    assert not render_threads()
    qtbot.waitUntil(lambda: not _pending_tasks(gui_event_loop), timeout=5000)
    assert list(out.iterdir()) == []                                 # no partial file


def test_closing_during_export_can_finish_it_in_the_background(make_window, test_image, qtbot, tmp_path):
    win = make_window(test_image, compare=False)
    out = tmp_path / "exports"
    out.mkdir()
    d = win.open_export_dialog()
    d.set_output_size(400, 300, keep_aspect=False)
    d.path_edit.setText(str(out / "small.png"))
    with qtbot.waitSignal(win.windowClosed, timeout=60000):
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
        win.close()
        assert win.close_question is not None
        win.answer_close_question(win.CLOSE_IN_BACKGROUND)
        assert not win.isVisible()
    assert not render_threads()
    with Image.open(out / "small.png") as im:
        assert im.size == (400, 300)
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]


def test_a_stop_signal_closes_without_asking(make_window, test_image, qtbot, tmp_path):
    win = make_window(test_image, compare=False)
    out = tmp_path / "exports"
    out.mkdir()
    _start_big_export(win, qtbot, out)
    with qtbot.waitSignal(win.windowClosed, timeout=30000):
        win.close_now()
    assert win.close_question is None and not render_threads() and list(out.iterdir()) == []


def _pending_tasks(loop):
    return [t for t in asyncio.all_tasks(loop) if not t.done()]


def test_hidpi_tiles_are_rendered_at_physical_pixel_density(make_window, test_image, qtbot):
    win = make_window(test_image, compare=False)
    view = win.view
    wait_session(qtbot, win)
    wait_idle(qtbot, [view])
    seen = record_submits(win.bridge.worker)
    view.devicePixelRatioF = lambda: 2.0        # as on a 200 % screen
    view.vp.set_view_size(view.vp.view_w, view.vp.view_h, 2.0)
    view.set_physical_zoom(4.0)                 # 2 logical px per image px = 4 physical px
    assert view.vp.scale == pytest.approx(2.0)
    wait_idle(qtbot, [view])
    assert seen
    h, w = win.scene.image.size
    for r in seen:
        y0, x0, y1, x1 = r.region
        px_per_image_px = r.out_size[1] / ((x1 - x0) / 2 * w)
        assert px_per_image_px == pytest.approx(4.0, rel=0.1)


def test_scrolled_pan_frames_match_a_full_repaint(make_window, test_image, qtbot):
    """Pans scroll the painted frame and paint only the exposed strip: what is on screen
    afterwards must equal a full repaint of the same view."""
    win = make_window(test_image, compare=False)
    view = win.view
    win.set_split(True)                 # overlays (labels, divider) must not be smeared
    view.zoom_at(5.0)
    wait_idle(qtbot, [view])
    vpw = view.viewport()
    painted = []
    original = view.paint

    def spy(p, area=None):
        painted.append(area)
        return original(p, area)
    view.paint = spy
    for dx, dy in [(7, 3), (5, -4), (-12, 9), (3.4, 0.3), (0.4, 0.4), (-8, -8)]:
        view.pan_by(dx, dy)
        QApplication.processEvents()
    assert painted and all(a.width() < vpw.width() or a.height() < vpw.height() for a in painted if a is not None)
    view.paint = original
    # tiles for the exposed strips may still arrive (each repaints only where it lands): let
    # them, and their repaints, finish, so both grabs below see the same tiles
    wait_idle(qtbot, [view])
    QApplication.processEvents()
    QApplication.processEvents()
    screen = vpw.screen()
    top_left = vpw.mapToGlobal(QPoint(0, 0))
    shown = screen.grabWindow(0, top_left.x(), top_left.y(), vpw.width(), vpw.height()).toImage()
    fresh = vpw.grab().toImage()
    a = np.asarray(grab_rgb_image(shown), dtype=np.int16)
    b = np.asarray(grab_rgb_image(fresh), dtype=np.int16)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 2, np.argwhere(np.abs(a - b).max(axis=2) > 2)[:5]


def grab_rgb_image(img: QImage) -> np.ndarray:
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    return arr[:, : 3 * w].reshape(h, w, 3).copy()


def test_drop_opens_images_and_adds_models(make_window, test_image, tiny_checkpoints, tmp_path, qtbot):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent
    win = make_window(None, models=[tiny_checkpoints[0]], compare=False)
    extra = tmp_path / "dropped-liif.pth"
    extra.write_bytes(tiny_checkpoints[1].read_bytes())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(test_image)), QUrl.fromLocalFile(str(extra))])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(win.imageLoaded, timeout=20000):
        win.dropEvent(ev)
    qtbot.waitUntil(lambda: any(e.path == extra.resolve() for e in win.catalog.entries()), timeout=20000)
    assert win.scene.image.path == test_image
    assert str(extra.resolve()) in json.loads(win.settings.path.read_text())["user_models"]


def test_unavailable_device_falls_back_to_cpu(qtbot, tiny_checkpoints, test_image):
    """A device that does not exist here (e.g. the settings came from a GPU machine) is
    reported, and rendering goes on on the CPU."""
    import torch
    from cisr_zoom.app.main_window import MainWindow
    from cisr_zoom.app.model_catalog import ModelCatalog
    from cisr_zoom.app.settings import Settings
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    win = MainWindow(Settings.load(), catalog=ModelCatalog(bundled={}, user_paths=tiny_checkpoints),
                     device="cuda", settle_ms=10)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.last_message_box is not None, timeout=20000)
    assert "cuda" in win.last_message_box.text()
    qtbot.waitUntil(lambda: win.bridge.device_name == "cpu", timeout=20000)
    with qtbot.waitSignal(win.imageLoaded, timeout=20000):
        win.open_image(test_image)
    win.view.zoom_at(3.0)
    wait_idle(qtbot, [win.view])
    assert win.scene.tile_layer.levels(win.main_source)
    win.close()
    assert not render_threads()


def test_status_bar_names_the_precision_that_ran_and_exact_is_one_click(make_window, test_image, qtbot,
                                                                        monkeypatch):
    from cisr_zoom.core import precision
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)   # as on AVX512-BF16 / AMX CPUs
    w = make_window(test_image)
    assert not w.act_exact.isChecked() and w.act_exact in w.toolbar.actions()
    qtbot.waitUntil(lambda: "(bfloat16, encoder " in w.device_label.text(), timeout=20000)
    assert "channels-last" in w.device_label.text()                         # the encoder's plan is named
    w.act_exact.trigger()                                                   # one click
    qtbot.waitUntil(lambda: "(float32, encoder float32" in w.device_label.text(), timeout=20000)
    assert w.settings["exact_float32"] is True and w.bridge.exact_float32 is True


def test_the_settled_view_encodes_the_rest_of_the_image_ahead_nearest_it_first(make_window, test_image, qtbot):
    """Each time the main view settles, the render thread is told to encode the image's
    features at idle priority from the middle of what the view shows (input pixels ``(y, x)``);
    once idle, features outside the view are cached, and a zoom there encodes nothing."""
    win = make_window(test_image, compare=False)
    asked = []
    real = win.bridge.encode_ahead
    win.bridge.encode_ahead = lambda session, focus, refocus=True: (refocus and asked.append(focus),
                                                                    real(session, focus, refocus))
    qtbot.waitUntil(lambda: win.scene.session(win.main_source) is not None, timeout=30000)
    win.view.set_physical_zoom(16.0)
    win.view.group.centre_on(20.0, 10.0)                      # image (x, y): the top-left corner
    qtbot.waitUntil(win.view.is_complete, timeout=60000)
    vis = win.view.slot_visible_image_rect(win.view.slots[0])
    assert asked and asked[-1] == pytest.approx(((vis.y0 + vis.y1) / 2, (vis.x0 + vis.x1) / 2))
    assert asked[-1][0] < 30 and asked[-1][1] < 40
    qtbot.waitUntil(lambda: not win.bridge.encoding_ahead(), timeout=60000)
    s = win.scene.session(win.main_source)
    h, w = s.lr_size
    assert vis.x1 < w / 2 and s.tiles.missing_pixels(0, h, 0, w) == 0     # the far corner too
    calls = s.tiles.encode_calls
    win.view.group.centre_on(110.0, 80.0)                     # the bottom-right corner
    qtbot.waitUntil(win.view.is_complete, timeout=60000)
    assert asked[-1][0] > 60 and asked[-1][1] > 80
    assert s.tiles.encode_calls == calls                      # the decoder only
