"""A window at once: the launch window is painted before torch is imported (so before any
model can load), and the main window's first session comes after it. Ordering only, from the
application's launch trace; no timing is asserted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from cisr_zoom.app.launch import TRACE_ENV, initial_image
from cisr_zoom.app.launch_bench import read_trace


def test_the_window_is_painted_before_torch_and_the_models_load(tmp_path, test_image):
    trace = tmp_path / "trace.txt"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CISR_ZOOM_CONFIG_DIR=str(tmp_path / "config"),
               CISR_ZOOM_CACHE_DIR=str(tmp_path / "cache"), **{TRACE_ENV: str(trace)})
    proc = subprocess.Popen([sys.executable, "-m", "cisr_zoom.app.main", str(test_image), "--device", "cpu"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600          # a bound for a stuck process, not a speed claim
        while time.monotonic() < deadline and proc.poll() is None:
            if any(e == "session-ready" for _, e, _ in read_trace(trace)):
                break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    events = read_trace(trace)
    names = [e for _, e, _ in events]
    assert "session-ready" in names, (names, err.decode(errors="replace")[-2000:])
    torch_at = {e: torch for _, e, torch in events}
    assert names.index("launch-window-shown") < names.index("first-paint") < names.index("import-started") \
        < names.index("imported")                  # painted before the heavy imports start
    assert torch_at["launch-window-shown"] is False and torch_at["first-paint"] is False
    assert names.index("first-paint") < names.index("main-window-shown") < names.index("session-ready")


def test_the_first_image_is_the_argument_else_a_recent_one_else_the_sample(tmp_path):
    a = tmp_path / "a.png"
    a.write_bytes(b"x")
    assert initial_image(str(tmp_path / "given.png"), [str(a)]) == tmp_path / "given.png"
    assert initial_image(None, [str(tmp_path / "gone.png"), str(a)]) == a
    assert initial_image(None, []).name in ("sample.jpg", "sample.png")


def test_what_runs_before_the_launch_window_does_not_import_asyncio_or_torch():
    """The modules ``cisr-zoom`` runs before its launch window is painted leave asyncio (with
    ssl and concurrent.futures, half a second on a loaded CPU), numpy and torch for later."""
    code = ("import sys, cisr_zoom.app.main as m; m.build_parser(); "
            "import cisr_zoom.app.launch, cisr_zoom.app.settings, cisr_zoom.app.qt_compat; "
            "print(sorted(n for n in ('asyncio', 'ssl', 'numpy', 'torch', 'qasync') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
