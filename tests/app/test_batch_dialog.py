"""File > Upscale Folder...: the batch dialog runs cisr upscale's job on the render thread,
with progress per file and overall, skip/overwrite, a summary, and cancel; the view keeps
rendering meanwhile, and closing the window stops the batch leaving nothing half-written."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from cisr_zoom.core.render import export


@pytest.fixture
def shots(tmp_path, rng):
    d = tmp_path / "shots"
    d.mkdir()
    for name, (h, w) in (("a.png", (12, 16)), ("c.png", (10, 14))):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(d / name)
    (d / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return d


def _open_from_file_menu(win):
    file_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&File")
    action = next(a for a in file_menu.actions() if a.text().startswith("&Upscale Folder"))
    action.trigger()
    return win.batch_dialog


def _listing(d):
    return sorted(os.listdir(d)) if d.is_dir() else []


def test_upscale_folder_writes_each_image_with_progress_and_a_summary(make_window, qtbot, tmp_path, shots,
                                                                       tiny_checkpoints):
    win = make_window(compare=False)
    d = _open_from_file_menu(win)
    assert d is not None and d.isVisible() and not d.isModal()
    out = tmp_path / "out"
    out.mkdir()
    (out / "c_x2.png").write_bytes(b"old")                  # exists: skipped (the default)
    d.set_inputs([shots])
    d.folder_edit.setText(str(out))
    d.model_combo.setCurrentIndex(d.model_combo.findData(win.catalog.add_user(tiny_checkpoints[0]).id))
    d.scale_spin.setValue(2.0)
    assert d.problem() is None and d.start_button.isEnabled()
    progress = []
    d.progressed.connect(lambda f, o: progress.append((f, o)))
    with qtbot.waitSignal(d.batchFinished, timeout=60000) as sig:
        qtbot.mouseClick(d.start_button, Qt.MouseButton.LeftButton)
        assert d.running and not d.start_button.isEnabled()
    outcome, error = sig.args
    assert error is None and (outcome.written, outcome.skipped, outcome.failed) == (1, 1, 1)
    assert _listing(out) == ["a_x2.png", "c_x2.png"]
    with Image.open(out / "a_x2.png") as im:
        assert im.size == (32, 24)
    assert (out / "c_x2.png").read_bytes() == b"old"
    overall = [o for _, o in progress]
    assert overall == sorted(overall) and overall[-1] == 1.0 and d.overall_bar.value() == 1000
    assert any(0 < f < 1 or f == 1.0 for f, _ in progress)
    log = d.log.toPlainText().splitlines()
    assert log[0] == f"written: {out / 'a_x2.png'}"
    assert log[1].startswith("failed: b.png: ") and "b.png" in log[1][len("failed: b.png: "):]
    assert log[2] == "skipped: c.png (c_x2.png exists)"
    assert d.summary_label.text() == "1 written, 1 skipped, 1 failed"
    assert "1 written, 1 skipped, 1 failed" in win.statusBar().currentMessage()

    # again with Overwrite: the existing output is replaced
    d.again_button.click()
    d.overwrite_radio.setChecked(True)
    with qtbot.waitSignal(d.batchFinished, timeout=60000) as sig:
        d.start()
    assert (sig.args[0].written, sig.args[0].skipped) == (2, 0)
    with Image.open(out / "c_x2.png") as im:
        assert im.size == (28, 20)
    d.close()


def test_the_output_folder_is_checked_before_any_work(make_window, tmp_path, shots):
    win = make_window(compare=False)
    d = win.open_batch_dialog()
    assert d.problem() == "Add images or a folder of images." and not d.start_button.isEnabled()
    d.set_inputs([shots / "a.png"])
    assert d.folder_edit.text() == str(shots / "upscaled")   # suggested next to the input
    (tmp_path / "file").write_text("x")
    d.folder_edit.setText(str(tmp_path / "file" / "out"))
    assert "is a file" in d.problem() and not d.start_button.isEnabled()
    d.close()


def test_cancel_stops_within_a_step_while_the_view_keeps_rendering(make_window, test_image, qtbot, tmp_path,
                                                                    shots, monkeypatch, tiny_checkpoints):
    """A long batch shares the render thread: the view's tiles still come while it runs, and
    Cancel ends it with nothing half-written (no output, no temporary file)."""
    monkeypatch.setattr(export, "EXPORT_CHUNK_PIXELS", 256)           # many small steps
    win = make_window(test_image, compare=False)
    qtbot.waitUntil(win.view.is_complete, timeout=60000)
    d = win.open_batch_dialog()
    out = tmp_path / "out"
    d.set_inputs([shots / "a.png", shots / "c.png"])
    d.folder_edit.setText(str(out))
    d.scale_spin.setValue(40.0)                                        # 640 x 480: thousands of steps
    progress = []
    d.progressed.connect(lambda f, o: progress.append(f))
    d.start()
    qtbot.waitUntil(lambda: any(f > 0 for f in progress), timeout=60000)     # the first file is under way
    win.view.zoom_at(2.0)                                              # the view asks for new tiles
    qtbot.waitUntil(win.view.is_complete, timeout=60000)               # and gets them, batch or not
    assert d.running
    with qtbot.waitSignal(d.batchFinished, timeout=30000) as sig:
        qtbot.mouseClick(d.cancel_button, Qt.MouseButton.LeftButton)
    outcome = sig.args[0]
    assert outcome.cancelled and outcome.written == 0
    assert _listing(out) == []
    assert d.summary_label.text().startswith("Cancelled: 0 written")
    d.close()


def test_closing_the_window_stops_the_batch_and_writes_nothing(make_window, qtbot, tmp_path, shots, monkeypatch):
    monkeypatch.setattr(export, "EXPORT_CHUNK_PIXELS", 256)
    win = make_window(compare=False)
    d = win.open_batch_dialog()
    out = tmp_path / "out"
    out.mkdir()
    d.set_inputs([shots / "a.png"])
    d.folder_edit.setText(str(out))
    d.scale_spin.setValue(40.0)
    progress = []
    d.progressed.connect(lambda f, o: progress.append(f))
    d.start()
    qtbot.waitUntil(lambda: any(f > 0 for f in progress), timeout=60000)
    assert _listing(out) != []                      # its temporary file
    win.close_now()                                 # the fixture checks that no render thread is left
    qtbot.waitUntil(lambda: not win.bridge.worker.is_alive(), timeout=30000)
    assert _listing(out) == []
