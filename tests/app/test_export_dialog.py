"""Export dialog: the suggested name follows the size, estimates name the precision and learn
from each finished export, progress moves with the rows written."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from cisr_zoom.app.export.dialog import size_tag
from cisr_zoom.core.render.estimate import DECODE, ENCODE, EXPORT


def _session_ready(qtbot, win, source):
    qtbot.waitUntil(lambda: win.scene.session(source) is not None, timeout=30000)


def test_the_suggested_name_follows_the_chosen_size(make_window, test_image, qtbot, tmp_path):
    win = make_window(test_image, compare=False)
    d = win.open_export_dialog()
    d.path_edit.setText(str(tmp_path / "photo-x4.png"))
    d.set_output_size(5000, 3333, keep_aspect=False)
    assert d.output_path().name == "photo-5000x3333.png"
    d.height_spin.setValue(3000)
    assert d.output_path().name == "photo-5000x3000.png"
    d.by_scale.setChecked(True)
    d.scale_spin.setValue(2.5)
    assert d.output_path().name == "photo-x2.5.png"
    d.format_combo.setCurrentText("JPEG")
    assert d.output_path().name == "photo-x2.5.jpg"
    d.path_edit.setText(str(tmp_path / "my poster.png"))            # a name the user chose stays
    d.set_output_size(800, 600, keep_aspect=False)
    assert d.output_path().name == "my poster.png"
    assert size_tag(True, 4.0, 1, 1) == "x4" and size_tag(False, 4.0, 5000, 3333) == "5000x3333"
    d.close()


def test_a_finished_export_teaches_the_next_estimate(make_window, test_image, qtbot, tmp_path):
    """The first estimate of an export comes from the last finished export with the same
    model, device and precision (stored in the settings), and names that precision."""
    win = make_window(test_image, compare=False)
    _session_ready(qtbot, win, win.main_source)
    qtbot.waitUntil(win.view.is_complete, timeout=60000)
    # a cold start for the first export: the view may or may not have encoded every feature by
    # now (it depends on the machine's load), and the first export must encode to learn that rate;
    # the encode-ahead is stopped first so that it does not fill the cache again meanwhile
    win.bridge.worker.cancel_ahead()
    d = win.open_export_dialog()
    d.set_output_size(300, 200, keep_aspect=False)
    d.path_edit.setText(str(tmp_path / "a.png"))
    # the dialog's test render (one chunk of the export) encodes that chunk's features: cleared
    # once it is in, so that the export starts cold
    qtbot.waitUntil(lambda: d.estimate_seconds() is not None, timeout=60000)
    win.bridge.worker.cancel_ahead()
    done = win.bridge.run(lambda: win.scene.session(win.main_source).tiles.clear())
    qtbot.waitUntil(done.done, timeout=60000)
    key = d.speed_key()
    precision = win.scene.session(win.main_source).precision
    assert key is not None and (key.device, key.precision) == ("CPU", precision)
    assert d.estimate_basis() != EXPORT
    events, boxes = [], []
    d.progressed.connect(events.append)
    d.encodedBoxes.connect(boxes.append)
    with qtbot.waitSignal(d.exportFinished, timeout=60000) as sig:
        qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
        assert precision in d.progress_title.text()
    assert sig.args[1] is None and not sig.args[2]
    assert events and events == sorted(events) and events[-1] == 1.0
    decode, encode = win.scene.speeds.rate(key, DECODE), win.scene.speeds.rate(key, ENCODE)  # it encoded
    assert win.scene.speeds.basis(key, DECODE) == win.scene.speeds.basis(key, ENCODE) == EXPORT
    assert decode > 0 and encode > 0
    assert boxes and boxes == list(range(1, len(boxes) + 1))   # each encoder box it ran was told
    d2 = win.open_export_dialog()
    d2.set_output_size(600, 400, keep_aspect=False)
    qtbot.waitUntil(lambda: d2._uncached.get((d2.source(), d2.region())) is not None, timeout=10000)
    assert d2.uncached_pixels() == 0                        # everything is encoded now: decoding only
    assert d2.estimate_seconds() == pytest.approx(decode * 600 * 400 / 1e6)
    assert "as the last export" in d2.info_label.text() and precision in d2.info_label.text()
    d2.close()


def test_a_device_switch_does_not_reuse_the_old_device_speed(make_window, test_image, qtbot, tmp_path, monkeypatch):
    """The estimate's speed is kept per model, device and precision: once the window renders
    on another device, the CPU's figure is not shown for it (a test render measures anew)."""
    win = make_window(test_image, compare=False)
    _session_ready(qtbot, win, win.main_source)
    d = win.open_export_dialog()
    d.path_edit.setText(str(tmp_path / "a.png"))
    qtbot.waitUntil(lambda: d.estimate_seconds() is not None, timeout=30000)     # the CPU's speed
    cpu_key = d.speed_key()
    monkeypatch.setattr(win.bridge, "device_text", "CUDA (another device)")
    assert d.speed_key() != cpu_key and d.speed_key().device == "CUDA (another device)"
    assert d.estimate_seconds() is None
    assert win.scene.speeds.rate(cpu_key, "decode") is not None                # the CPU's figure stays its own
    d.close()


def drag_on_screen(start: QPoint, delta: QPoint, steps: int = 5) -> None:
    """A left-button drag as the window system delivers it: press, moves with the button held
    and release go to the top-level window under the screen point ``start`` (whatever covers
    it: the main window or a dialog), through Qt's own routing (QTest on that window)."""
    window = QApplication.topLevelAt(start).windowHandle()
    local = window.mapFromGlobal(start)
    QTest.mouseMove(window, local)
    QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, local)
    for i in range(1, steps + 1):
        QTest.mouseMove(window, local + QPoint(delta.x() * i // steps, delta.y() * i // steps))
    QTest.mouseRelease(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, local + delta)


def test_dragging_the_view_pans_while_the_export_dialog_is_open(make_window, test_image, qtbot, tmp_path):
    """A drag in the middle of the view pans it with the Export dialog open, on its settings
    page and while it exports: the dialog is not modal, grabs nothing, and opens at the
    window's top right corner, so the middle of the view is the view's (a dialog centred over
    the window took that drag)."""
    win = make_window(test_image, compare=False, size=(460, 420))   # fits the test screen beside the dialog
    win.move(0, 0)
    view = win.view
    view.zoom_at(4.0)
    d = win.open_export_dialog()
    qtbot.waitExposed(d)
    assert QApplication.activeModalWidget() is None and QWidget.mouseGrabber() is None
    centre = view.viewport().mapToGlobal(view.viewport().rect().center())

    def panned_by_a_drag() -> bool:
        before = (view.vp.cx, view.vp.cy)
        drag_on_screen(centre, QPoint(-60, -40))
        return (view.vp.cx, view.vp.cy) != pytest.approx(before, abs=1e-6)
    assert not d.frameGeometry().contains(centre)
    assert panned_by_a_drag()                                   # settings page
    d.path_edit.setText(str(tmp_path / "big.png"))
    d.set_output_size(3000, 2000)
    qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
    assert d.running
    assert not d.frameGeometry().contains(centre)
    assert panned_by_a_drag()                                   # while exporting
    with qtbot.waitSignal(d.exportFinished, timeout=30000):
        d.cancel_export()


def test_current_view_keeps_the_scale_typed(make_window, test_image, qtbot):
    """Choosing "Current view" keeps the scale the user typed (it no longer turns into the
    view's zoom); a button takes the view's zoom on request."""
    win = make_window(test_image, compare=False)
    win.view.zoom_at(2.5)
    d = win.open_export_dialog()
    d.scale_spin.setValue(3.0)
    d.area_view.setChecked(True)
    assert d.scale_spin.value() == 3.0
    r = d.view_rect
    assert d.output_size() == (round(r.height * 3.0), round(r.width * 3.0))
    assert d.view_zoom_button.isEnabled()
    d.view_zoom_button.click()
    assert d.scale_spin.value() == pytest.approx(round(win.view.vp.physical_scale, 3))
    d.close()


def test_the_progress_bar_and_its_label_show_the_same_percent(make_window, test_image, qtbot, tmp_path):
    """Issue 27 item 6: the bar's text and the label under it name the same whole percent at
    every band of rows written, including fractions where truncating and rounding part
    (19.5 %: the bar's own %p said 19 %, the label 20 %); the bar is not full before 100 %."""
    import re
    win = make_window(test_image, compare=False)
    d = win.open_export_dialog()
    d.path_edit.setText(str(tmp_path / "out.png"))
    d.set_output_size(600, 400)
    shown = []

    def agree():
        if not d.cancel_button.isEnabled():
            return                          # cancelling: the label says so, a band may still land
        label = re.match(r"(\d+) %", d.eta_label.text())
        shown.append((d.progress_bar.text(), label and label.group(1)))
        assert label and d.progress_bar.text().replace(" ", "") == f"{label.group(1)}%"
    d.progressed.connect(lambda f: agree())
    qtbot.mouseClick(d.export_button, Qt.MouseButton.LeftButton)
    assert d.running
    for done, total in ((39, 200), (2, 3), (1, 3), (999, 1000)):    # as a band of rows is written
        d._on_progress(done, total)
        agree()
    assert d.progress_bar.value() < d.progress_bar.maximum()        # 99.9 %: not a full bar
    assert shown[-1] == ("99 %", "99")
    with qtbot.waitSignal(d.exportFinished, timeout=120000) as done:    # the real bands, checked as they land
        pass
    assert done.args[1] is None and len(shown) > 4


def test_the_test_render_is_one_chunk_of_the_export_itself(make_window, test_image, qtbot, tmp_path):
    """With nothing measured yet, the dialog times one chunk of the export it is set to (its
    area at its size), rendered as the export's steps render it: a band of whole output rows,
    EXPORT_CHUNK_PIXELS at most (a square tile costs less per pixel than a wide band)."""
    from cisr_zoom.core.render.export import EXPORT_CHUNK_PIXELS, band_rows
    win = make_window(test_image, compare=False)
    _session_ready(qtbot, win, win.main_source)
    asked, costs = [], []
    measure = win.bridge.measure_speed

    async def spy(source, epoch, region, out_size):
        asked.append((region, out_size))
        cost = await measure(source, epoch, region, out_size)
        costs.append(cost)
        return cost
    win.bridge.measure_speed = spy
    d = win.open_export_dialog()          # the whole image at x4: 512 px wide
    qtbot.waitUntil(lambda: d.estimate_seconds() is not None, timeout=60000)
    assert d.estimate_basis() == "probe" and "from a test render" in d.info_label.text()
    H, W = d.output_size()
    assert asked == [(d.region(), (H, W))]                     # this export's area and size
    rows = band_rows(W)
    assert rows == EXPORT_CHUNK_PIXELS // W == 64 and costs[0].out_pixels == rows * W   # one band of whole rows
    d.close()
