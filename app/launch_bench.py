"""Launch-to-first-paint of ``cisr-zoom``: ``python -m cisr_zoom.app.launch_bench [--runs N]``.

Starts the application N times (a fresh process each time, settings and caches in a temporary
folder, the bundled sample unless ``--image``), and reads its launch trace
(:data:`cisr_zoom.app.launch.TRACE_ENV`): seconds from starting the process to the first paint
of a window, to the main window's first session (a model ready to render), and whether torch
was imported when the first window was painted. Prints one JSON object. Qt's platform is the
environment's (``QT_QPA_PLATFORM``; under Xvfb use ``xcb``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def read_trace(path: Path) -> list:
    """``[(time, event, torch imported)]`` of a launch trace file."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) == 3:
            out.append((float(parts[0]), parts[1], parts[2] == "torch=1"))
    return out


def launch_once(image: str | None, timeout: float) -> dict:
    from .launch import TRACE_ENV
    with tempfile.TemporaryDirectory(prefix="cisr-launch-") as tmp:
        tmp = Path(tmp)
        trace = tmp / "trace.txt"
        env = dict(os.environ, CISR_ZOOM_CONFIG_DIR=str(tmp / "config"), CISR_ZOOM_CACHE_DIR=str(tmp / "cache"))
        env[TRACE_ENV] = str(trace)
        cmd = [sys.executable, "-m", "cisr_zoom.app.main"] + ([image] if image else [])
        t0 = time.time()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while time.time() - t0 < timeout:
                events = read_trace(trace)
                if any(e == "session-ready" for _, e, _ in events) or proc.poll() is not None:
                    break
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        events = read_trace(trace)
    first = {}
    for t, e, torch in events:
        first.setdefault(e, (t - t0, torch))
    paint = first.get("first-paint")
    ready = first.get("session-ready")
    return {"first_paint_s": round(paint[0], 2) if paint else None,
            "torch_imported_at_first_paint": paint[1] if paint else None,
            "first_session_ready_s": round(ready[0], 2) if ready else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cisr_zoom.app.launch_bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--image", default=None, help="image to open (default: the bundled sample)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for each launch")
    args = ap.parse_args(argv)
    runs = [launch_once(args.image, args.timeout) for _ in range(args.runs)]
    paints = [r["first_paint_s"] for r in runs if r["first_paint_s"] is not None]
    readies = [r["first_session_ready_s"] for r in runs if r["first_session_ready_s"] is not None]
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(json.dumps({"runs": runs, "median_first_paint_s": statistics.median(paints) if paints else None,
                      "median_first_session_ready_s": statistics.median(readies) if readies else None,
                      "load_average_after": [round(x, 2) for x in load] if load else None}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
