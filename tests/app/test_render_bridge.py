"""RenderBridge: render-thread work awaited on the GUI loop, tile streams, and closing."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from cisr_zoom.app.model_catalog import ModelCatalog
from cisr_zoom.app.worker import RenderBridge
from cisr_zoom.core.render.sources import BicubicSession
from cisr_zoom.core.render.worker import RenderRequest

TIMEOUT_MS = 20000


@pytest.fixture
def bridge(qtbot):
    b = RenderBridge(ModelCatalog(bundled={}, user_paths=[]), device="cpu")
    qtbot.waitUntil(lambda: b.device_text == "CPU", timeout=TIMEOUT_MS)
    yield b
    b.close()
    assert not b.worker.is_alive()


def test_run_returns_the_result_or_raises_on_the_gui_loop(bridge, qtbot):
    ok = bridge.run(lambda: threading.current_thread().name)
    bad = bridge.run(lambda: 1 / 0)
    qtbot.waitUntil(lambda: ok.done() and bad.done(), timeout=TIMEOUT_MS)
    assert ok.result() == "cisr-render"
    with pytest.raises(ZeroDivisionError):
        bad.result()


def test_a_coroutine_awaits_tiles_in_plan_order_then_the_end(bridge, qtbot):
    image = np.random.default_rng(0).random((20, 30, 3), dtype=np.float32)
    req = RenderRequest(1, "k", (-1.0, -1.0, 1.0, 1.0), (40, 60), 16)
    events = []

    async def consume():
        stream = bridge.render(BicubicSession(image), req)
        async for tile in stream:
            events.append(("tile", tile.spec, threading.current_thread() is threading.main_thread()))
        events.append(("end", stream.error, stream.cancelled))
    task = bridge.spawn(consume())
    qtbot.waitUntil(task.done, timeout=TIMEOUT_MS)
    assert [e[1] for e in events[:-1]] == list(req.tiles) and all(e[2] for e in events[:-1])
    assert events[-1] == ("end", None, False)


def test_close_settles_everything_still_awaited(qtbot):
    bridge = RenderBridge(ModelCatalog(bundled={}, user_paths=[]), device="cpu")
    gate = threading.Event()
    held = bridge.run(lambda: gate.wait(30))                  # the thread is busy ...
    queued = bridge.run(lambda: "never")                      # ... so these wait behind it
    stream = bridge.render(BicubicSession(np.zeros((8, 8, 3), np.float32)),
                           RenderRequest(1, "k", (-1.0, -1.0, 1.0, 1.0), (8, 8), 8))
    ended = []

    async def consume():
        async for _ in stream:
            pass
        ended.append(stream.cancelled)
    task = bridge.spawn(consume())
    threading.Timer(0.2, gate.set).start()                    # lets the held job end during close()
    bridge.close(timeout=30)
    assert not bridge.worker.is_alive()
    assert held.cancelled() and queued.cancelled()
    qtbot.waitUntil(task.done, timeout=TIMEOUT_MS)
    assert ended == [True] or task.cancelled()
    never = bridge.run(lambda: 1)                             # after close: settled at once
    assert never.cancelled()
    with pytest.raises(asyncio.CancelledError):
        never.result()
