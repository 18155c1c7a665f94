"""The application against hostile settings files and stop signals: it starts, moves an
unusable settings file aside, reacts to Ctrl+C while idle, and saves its settings on SIGTERM."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzzkit import child_env, installed

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="idle detection reads /proc")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_until_idle(p: subprocess.Popen, started, timeout: float = 120) -> None:
    """Until ``started()`` holds and the process used under 5 % CPU for two seconds."""
    end = time.monotonic() + timeout
    quiet = 0
    last = None
    while time.monotonic() < end:
        assert p.poll() is None, p.communicate()[1][-2000:]
        now = _cpu_seconds(p.pid)
        quiet = quiet + 1 if last is not None and now - last < 0.025 and started() else 0
        if quiet >= 4:
            return
        last = now
        time.sleep(0.5)
    pytest.fail("the application never became idle")


@contextlib.contextmanager
def app_with_settings(tmp_path, image: Path, settings_text: str):
    """The installed ``cisr-zoom`` on a tiny image (little to render), with this settings file."""
    cfg, cache = tmp_path / "config", tmp_path / "cache"
    cfg.mkdir()
    (cfg / "settings.json").write_text(settings_text)
    env = child_env(QT_QPA_PLATFORM="offscreen", CISR_ZOOM_CONFIG_DIR=str(cfg), CISR_ZOOM_CACHE_DIR=str(cache))
    p = subprocess.Popen([*installed("cisr-zoom"), "--device", "cpu", str(image)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield p, cfg
    finally:
        p.kill()
        p.communicate()


def _stop(p, signum) -> str:
    p.send_signal(signum)
    return p.communicate(timeout=60)[1]


def _handles_sigterm(pid: int) -> bool:
    """The application's own handlers are installed (SIGTERM is caught, not the default)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def test_deeply_nested_settings_are_moved_aside_and_sigterm_mid_render_saves_settings(tmp_path, assets):
    hostile = "[" * 100000 + "]" * 100000
    with app_with_settings(tmp_path, assets / "photo.png", hostile) as (p, cfg):
        end = time.monotonic() + 120
        while not ((cfg / "settings.json.corrupt").exists() and _handles_sigterm(p.pid)):
            assert p.poll() is None and time.monotonic() < end, p.communicate()[1][-2000:]
            time.sleep(0.1)
        err = _stop(p, signal.SIGTERM)
    assert p.returncode == 128 + signal.SIGTERM and "Traceback" not in err, (p.returncode, err[-2000:])
    assert (cfg / "settings.json.corrupt").read_text() == hostile
    saved = json.loads((cfg / "settings.json").read_text())   # written fresh on the way out
    assert saved["window_geometry"]
    assert not [x for x in cfg.iterdir() if x.name.startswith(".")]


def test_huge_recent_list_starts_and_ctrl_c_when_idle_quits(tmp_path, assets):
    recent = [f"/nonexistent/photo-{i}.png" for i in range(500_000)]
    # bicubic in the main view and no comparison panel: little to render, so the app is soon idle
    settings = json.dumps({"recent_files": recent, "window_geometry": None, "compare_visible": False,
                           "main_model": "bicubic"})
    with app_with_settings(tmp_path, assets / "photo.png", settings) as (p, cfg):
        _wait_until_idle(p, lambda: _handles_sigterm(p.pid))
        err = _stop(p, signal.SIGINT)
    assert p.returncode == 128 + signal.SIGINT and "Traceback" not in err, (p.returncode, err[-2000:])
    saved = json.loads((cfg / "settings.json").read_text())
    assert saved["window_geometry"] and len(saved["recent_files"]) <= 10


# -- issue 29 -------------------------------------------------------------------------------

_CLOSE_AT_ONCE = """
import pathlib, sys, time
from cisr_zoom.app.settings import Settings
path, ready, n, mine = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = Settings.load(path)                      # a window starts ...
s.add_recent(mine)                           # ... opens a file ...
s["window_geometry"] = mine
(ready / mine.replace("/", "_")).touch()     # ... and every window has loaded before any closes
end = time.monotonic() + 60
while len(list(ready.iterdir())) < n and time.monotonic() < end:
    time.sleep(0.005)
s.save()                                     # all close at once
"""


def test_windows_closing_at_once_lose_no_recent_file(tmp_path):
    """Several application processes on one settings folder save together: every window's
    recent file is kept (saves merge with the file under a lock), the older entries too."""
    cfg = tmp_path / "config"
    cfg.mkdir()
    old = str(tmp_path / "old.png")
    (cfg / "settings.json").write_text(json.dumps({"recent_files": [old]}))
    ready = tmp_path / "ready"
    ready.mkdir()
    mine = [str(tmp_path / f"window-{i}.png") for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", _CLOSE_AT_ONCE, str(cfg / "settings.json"), str(ready),
                               str(len(mine)), m], env=child_env(), stderr=subprocess.PIPE, text=True)
             for m in mine]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(mine), errs
    saved = json.loads((cfg / "settings.json").read_text())
    assert sorted(saved["recent_files"]) == sorted(mine + [old])
    assert saved["window_geometry"] in mine
    assert not [x for x in cfg.iterdir() if x.name.startswith(".")]


def test_absurd_cache_sizes_are_clamped_with_a_warning(tmp_path):
    """Cache sizes of 1e30 (and below the floor) are clamped to the documented range with a
    warning, and saved back clamped; other values are kept."""
    from cisr_zoom.app.settings import Settings
    lo, hi = 16, 65536              # the documented range of both cache sizes, in MB
    path = tmp_path / "settings.json"
    path.write_text('{"tile_cache_mb": 1000000000000000000000000000000, "feature_cache_mb": 1e30, '
                    '"recent_files": ["/a.png"]}')
    s = Settings.load(path)
    assert s["tile_cache_mb"] == hi and s["feature_cache_mb"] == hi
    assert s.warning and "clamped" in s.warning and "tile_cache_mb" in s.warning and "feature_cache_mb" in s.warning
    assert s["recent_files"] == ["/a.png"]
    s.save()
    saved = json.loads(path.read_text())
    assert saved["tile_cache_mb"] == hi and saved["feature_cache_mb"] == hi
    path.write_text('{"tile_cache_mb": 0.5}')
    low = Settings.load(path)
    assert low["tile_cache_mb"] == lo and "clamped" in low.warning


_CLOSE_DURING_EXPORT = """
import atexit, sys, time
from PySide6.QtCore import QTimer
from cisr_zoom.app import main as app_main
from cisr_zoom.app.main_window import MainWindow

image, out = sys.argv[1], sys.argv[2]
say = lambda *a: print(*a, flush=True)
atexit.register(lambda: say("INTERPRETER TEARDOWN"))
opened = MainWindow.open_initial

def open_initial(self, path=None):
    opened(self, path)
    st = {}
    self.windowClosed.connect(lambda: say("WINDOW CLOSED"))

    def tick():
        d = st.get("dialog")
        if d is None:
            if self.scene.image is None:
                return
            d = st["dialog"] = self.open_export_dialog()
            d.format_combo.setCurrentText("PNG")
            d.set_output_size(400, 300, keep_aspect=False)
            d.path_edit.setText(out)
            d.start_export()
            self.close()                              # during the export: the question comes
            say("ASKED", self.close_question is not None and d.running)
            return
        if d.running:
            return
        if "ended" not in st:
            st["ended"] = time.monotonic()
            say("EXPORT ENDED")
            return
        box = self.close_question
        text = box.text() if box is not None and box.isVisible() else ""
        say("QUESTION", repr(text))
        buttons = {b.text(): b for b in box.buttons()} if box is not None else {}
        say("BUTTONS", sorted(buttons))
        if "Quit" in buttons:
            buttons["Quit"].click()
        else:
            self.close_now()
    timer = QTimer(self)
    timer.timeout.connect(tick)
    timer.start(200)
    self._fuzz_timer = timer

MainWindow.open_initial = open_initial
rc = app_main.main(["--device", "cpu", image])
say("MAIN RETURNED", rc)
"""


def test_close_question_follows_the_export_and_the_process_ends_with_the_window(tmp_path, assets):
    """Closing the window during an export asks; when the export ends the question says so
    (it no longer claims an export is running) and offers to quit; quitting ends the process
    at once, without minutes of interpreter teardown after the window is gone."""
    cfg, cache = tmp_path / "config", tmp_path / "cache"
    cfg.mkdir()
    (cfg / "settings.json").write_text(json.dumps({"main_model": "bicubic", "compare_visible": False}))
    out = tmp_path / "export.png"
    env = child_env(QT_QPA_PLATFORM="offscreen", CISR_ZOOM_CONFIG_DIR=str(cfg), CISR_ZOOM_CACHE_DIR=str(cache))
    p = subprocess.Popen([sys.executable, "-c", _CLOSE_DURING_EXPORT, str(assets / "photo.png"), str(out)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        so, se = p.communicate(timeout=240)
    finally:
        p.kill()
    lines = so.splitlines()
    assert "ASKED True" in lines, (so, se[-2000:])
    question = next(x for x in lines if x.startswith("QUESTION"))
    assert "still running" not in question and "finished" in question, question
    assert "BUTTONS ['Keep the window open', 'Quit']" in lines, so
    assert "WINDOW CLOSED" in lines and out.is_file(), (so, se[-2000:])
    assert "INTERPRETER TEARDOWN" not in lines, "the process lingered in the interpreter's teardown"
    assert p.returncode == 0, (p.returncode, se[-2000:])
