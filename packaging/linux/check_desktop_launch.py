"""Start CiSR Zoom through its installed desktop entry, as a file manager does, and time its first frame.

Run it after ``cisr-zoom --install-desktop`` (of a pip install or of the bundle); it uses the same
``XDG_DATA_HOME`` (default ``~/.local/share``)::

    python3 packaging/linux/check_desktop_launch.py --image photo.png --screenshot out.png --runs 3

What it does, on the X display in ``DISPLAY`` or else on its own Xvfb:

1. checks that the desktop database lists the app for "Open with" on image/png (when PyGObject is
   importable: Debian's python3-gi; the file managers' own API, ``Gio.AppInfo.get_all_for_type``);
2. launches the entry with the image, ``gio launch <entry> <image>`` (``--launcher gi`` uses
   ``Gio.DesktopAppInfo.launch`` instead, exactly as Nautilus does);
3. measures, from just before the launch (t=0): the time until a window of class ``cisr-zoom`` is
   mapped, and the time until that window's pixels on the X server are no longer uniform, i.e. the
   app has painted and flushed its first frame (cold start to first painted frame). The window is
   read with ``xwd`` every ``--poll`` seconds; ``first_paint_resolution_s`` (one read plus the poll
   interval) bounds how late the figure can be. ``cpu_s_at_first_paint`` is the CPU time (user +
   system, all threads) the app had used by then: less sensitive than wall time to other load;
4. after ``--settle`` seconds takes a screenshot of the whole screen, then asks the app to quit
   (Ctrl+Q, then SIGTERM to the window's process).

"Cold" means a new process (new interpreter, imports, model load) with the operating system's
file cache as it is: this tool does not drop caches. Exit status 0 when every run showed a window.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP_ID = "io.github.cisrzoom.CisrZoom"
WM_CLASS = "cisr-zoom"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=kw.pop("text", True), timeout=kw.pop("timeout", 30), **kw)


def _visible_windows() -> list[str]:
    proc = _run(["xdotool", "search", "--onlyvisible", "--classname", WM_CLASS])
    return proc.stdout.split()


def _grab(target: str, out: Path) -> bool:
    """Screenshot a window id (or 'root') to a PNG; False if the window is gone."""
    return _run(["import", "-silent", "-window", target, str(out)]).returncode == 0 and out.exists()


def _window_is_uniform(wid: str) -> bool | None:
    """Whether the window's pixels on the X server are all one colour (None: window gone).

    Reads an ``xwd`` dump (fast enough to poll every few tens of milliseconds): a big-endian
    header whose first word is its size and whose 20th word is the colour-map length (12 bytes
    an entry), then the pixels. n pixels of one 4-byte value are exactly n non-overlapping copies.
    """
    proc = subprocess.run(["xwd", "-silent", "-id", wid], capture_output=True, timeout=30)
    data = proc.stdout
    if proc.returncode != 0 or len(data) < 100:
        return None
    header_size, ncolors = int.from_bytes(data[0:4], "big"), int.from_bytes(data[76:80], "big")
    bits_per_pixel = int.from_bytes(data[44:48], "big")
    pixels = data[header_size + 12 * ncolors:]
    step = max(1, bits_per_pixel // 8)
    if not pixels:
        return None
    return pixels.count(pixels[:step]) * step == len(pixels) and len(pixels) % step == 0


def _start_xvfb() -> tuple[subprocess.Popen, str]:
    for n in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            display = f":{n}"
            proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    return proc, display
                time.sleep(0.05)
            proc.terminate()
    raise SystemExit("check_desktop_launch: could not start Xvfb")


def _open_with_lists_app() -> bool | None:
    try:
        import gi  # noqa: F401
        from gi.repository import Gio
    except ImportError:
        return None
    return any(info.get_id() == f"{APP_ID}.desktop" for info in Gio.AppInfo.get_all_for_type("image/png"))


def _launch(entry: Path, image: Path, launcher: str, log: Path) -> subprocess.Popen | None:
    if launcher == "gio":
        with open(log, "wb") as out:  # the app inherits gio's output: its messages land here too
            return subprocess.Popen(["gio", "launch", str(entry), str(image)], stdout=out, stderr=out)
    from gi.repository import Gio
    info = Gio.DesktopAppInfo.new(f"{APP_ID}.desktop")
    if info is None:
        raise SystemExit(f"check_desktop_launch: {APP_ID}.desktop is not installed for this user")
    info.launch([Gio.File.new_for_path(str(image))], None)
    return None


def _cpu_seconds(pid: str) -> float | None:
    """User + system CPU seconds the process has used so far (all its threads; Linux /proc)."""
    try:
        fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)
    except (ValueError, OSError, IndexError):
        return None


def _quit(wid: str) -> None:
    pid = _run(["xdotool", "getwindowpid", wid]).stdout.strip()
    _run(["xdotool", "key", "--window", wid, "ctrl+q"])
    for _ in range(50):
        if not _visible_windows():
            return
        time.sleep(0.1)
    if pid.isdigit():
        os.kill(int(pid), signal.SIGTERM)
        for _ in range(50):
            if not _visible_windows():
                return
            time.sleep(0.1)


def one_run(entry: Path, image: Path, launcher: str, timeout: float, poll: float, settle: float,
            screenshot: Path | None, workdir: Path) -> dict:
    t0 = time.monotonic()
    log = workdir / "launch.log"
    _launch(entry, image, launcher, log)
    result: dict = {"launcher": launcher}
    wid = None
    while time.monotonic() - t0 < timeout:
        wins = _visible_windows()
        if wins:
            wid = wins[0]
            result["mapped_s"] = round(time.monotonic() - t0, 3)
            break
        time.sleep(0.02)
    if wid is None:
        result["error"] = f"no window of class {WM_CLASS} within {timeout} s"
        if log.exists():
            result["output_tail"] = log.read_text(errors="replace")[-2000:]
        return result
    while time.monotonic() - t0 < timeout:
        t_grab = time.monotonic()
        if _window_is_uniform(wid) is False:
            result["first_paint_s"] = round(t_grab - t0, 3)
            result["first_paint_resolution_s"] = round(time.monotonic() - t_grab + poll, 3)
            cpu = _cpu_seconds(_run(["xdotool", "getwindowpid", wid]).stdout.strip())
            if cpu is not None:
                result["cpu_s_at_first_paint"] = cpu
            break
        time.sleep(max(0.0, poll - (time.monotonic() - t_grab)))
    result["wm_class"] = _run(["xprop", "-id", wid, "WM_CLASS"]).stdout.split("=", 1)[-1].strip()
    result["title"] = _run(["xdotool", "getwindowname", wid]).stdout.strip()
    geometry = _run(["xdotool", "getwindowgeometry", wid]).stdout
    result["geometry"] = " ".join(geometry.split()[-1:])
    if screenshot is not None:
        time.sleep(settle)
        _grab("root", screenshot)
        result["screenshot"] = str(screenshot)
    _quit(wid)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=Path, required=True)
    ap.add_argument("--entry", type=Path, help="desktop file (default: the installed one)")
    ap.add_argument("--launcher", choices=["gio", "gi"], default="gio")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--poll", type=float, default=0.02, help="seconds between window grabs")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds to wait before the screenshot")
    ap.add_argument("--screenshot", type=Path, help="PNG of the screen after the last run")
    args = ap.parse_args(argv)

    for tool in ("xdotool", "xwd", "import", "xprop") + (("gio",) if args.launcher == "gio" else ()):
        if not shutil.which(tool):
            raise SystemExit(f"check_desktop_launch: {tool} not found (Debian: xdotool imagemagick x11-apps "
                             "x11-utils libglib2.0-bin)")
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local/share")
    entry = args.entry or data_home / "applications" / f"{APP_ID}.desktop"
    if not entry.is_file():
        raise SystemExit(f"check_desktop_launch: {entry} not found; run `cisr-zoom --install-desktop` first")

    xvfb = None
    if not os.environ.get("DISPLAY"):
        xvfb, os.environ["DISPLAY"] = _start_xvfb()
    report: dict = {"entry": str(entry), "display": os.environ["DISPLAY"], "open_with_png": _open_with_lists_app(),
                    "runs": []}
    try:
        if _visible_windows():
            raise SystemExit("check_desktop_launch: a CiSR Zoom window is already open on this display")
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                shot = args.screenshot if i == args.runs - 1 else None
                report["runs"].append(one_run(entry, args.image.resolve(), args.launcher, args.timeout,
                                              args.poll, args.settle, shot, Path(tmp)))
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    paints = [r["first_paint_s"] for r in report["runs"] if "first_paint_s" in r]
    if paints:
        report["first_paint_median_s"] = round(statistics.median(paints), 3)
    cpus = [r["cpu_s_at_first_paint"] for r in report["runs"] if "cpu_s_at_first_paint" in r]
    if cpus:
        report["cpu_s_at_first_paint_median"] = round(statistics.median(cpus), 2)
    print(json.dumps(report, indent=2))
    return 0 if len(paints) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
