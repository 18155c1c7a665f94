"""Fixtures for the app tests: isolated config/cache dirs, tiny checkpoints, a test image,
and the real main window (offscreen platform, set in tests/conftest.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from cisr_zoom.core.imageio import save_image

pytest.importorskip("pytestqt")

from cisr_zoom.app.qt_compat import protect_none_refcount  # noqa: E402

protect_none_refcount()   # PySide6 6.12 on Python 3.11 loses references to None (see qt_compat)


@pytest.fixture(scope="session", autouse=True)
def gui_event_loop(qapp):
    """The asyncio loop the app's coroutines run on (qasync on the Qt loop qtbot drives)."""
    from cisr_zoom.app.event_loop import attach_event_loop
    return attach_event_loop(qapp)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Settings and caches of the app under test go to a temporary folder."""
    monkeypatch.setenv("CISR_ZOOM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CISR_ZOOM_CACHE_DIR", str(tmp_path / "cache"))
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tmp_path
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_checkpoints(tmp_path, tiny_liif_spec):
    """Two tiny LIIF checkpoints described like the bundled pair (stages LIIF and CiSRGAN)."""
    import torch
    from cisr_zoom.core import models
    from cisr_zoom.core.checkpoint import save_checkpoint
    paths = []
    for seed, name, stage in ((0, "liif-tiny.pth", "liif"), (1, "cisrgan-tiny.pth", "cisrgan")):
        torch.manual_seed(seed)
        m = models.make(tiny_liif_spec).eval()
        p = tmp_path / "models" / name
        p.parent.mkdir(exist_ok=True)
        save_checkpoint(p, m, tiny_liif_spec, meta={"note": "tiny test model", "stage": stage})
        paths.append(p)
    return paths


@pytest.fixture
def test_image(tmp_path):
    """A 96x128 RGB image with structure (gradients, a disc, stripes)."""
    h, w = 96, 128
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rgb = np.stack([xx / w, yy / h, 0.5 + 0.5 * np.sin(xx / 3.0)], axis=-1)
    rgb[(yy - 48) ** 2 + (xx - 64) ** 2 < 400] = (1.0, 0.9, 0.2)
    path = tmp_path / "test-image.png"
    save_image(path, rgb.astype(np.float32))
    return path


def render_threads():
    return [t for t in threading.enumerate() if t.name == "cisr-render" and t.is_alive()]


@pytest.fixture
def make_window(qtbot, tiny_checkpoints):
    """``make_window(image=None, models=None, size=(900, 600))`` -> a shown MainWindow with
    the image loaded. Closing it at teardown must leave no render thread running."""
    from cisr_zoom.app.main_window import MainWindow
    from cisr_zoom.app.model_catalog import ModelCatalog
    from cisr_zoom.app.settings import Settings

    windows = []

    def make(image=None, models=None, size=(900, 600), compare=True):
        settings = Settings.load()
        settings["compare_visible"] = compare
        catalog = ModelCatalog(bundled={}, user_paths=tiny_checkpoints if models is None else models)
        w = MainWindow(settings, catalog=catalog, device="cpu", settle_ms=10)
        qtbot.addWidget(w)
        windows.append(w)
        w.resize(*size)
        w.show()
        qtbot.waitExposed(w)
        if image is not None:
            with qtbot.waitSignal(w.imageLoaded, timeout=20000):
                w.open_image(image)
            qtbot.waitUntil(lambda: w.scene.image is not None, timeout=5000)
        return w

    yield make
    for w in windows:
        w.close_now()
    # close_now joins the render thread for up to 5 s; on a saturated machine the step it is in
    # (one encoder layer or decode chunk after the stop) can take longer: the thread must still
    # end by itself, without another call (a leak would stay alive: the wait below fails then)
    deadline = time.monotonic() + 30.0
    while render_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not render_threads(), "a render thread is still running 30 s after the window closed"
