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
    assert p.returncode == 0 and "Traceback" not in err, err[-2000:]
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
    assert p.returncode == 0 and "Traceback" not in err, err[-2000:]
    saved = json.loads((cfg / "settings.json").read_text())
    assert saved["window_geometry"] and len(saved["recent_files"]) <= 10
