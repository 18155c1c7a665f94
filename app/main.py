"""Entry point of the desktop application, ``cisr-zoom [IMAGE]``.

Runs the Qt event loop through qasync: the GUI's long flows (loading images and models,
render tiles, export) are coroutines on that loop (see :mod:`cisr_zoom.app.worker`).
When the window has closed, :func:`end_process` ends the process at once (status 0, or
128 + the stop signal's number). The desktop-integration flags (``--install-desktop``/``--uninstall-desktop``) are handled by
:func:`cisr_zoom.app.desktop_integration.handle_desktop_flags` before Qt is imported.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from typing import Optional, Sequence

APP_NAME = "CiSR Zoom"


def _desktop_integration():
    try:
        return importlib.import_module("cisr_zoom.app.desktop_integration")
    except ImportError:
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cisr-zoom", description="Continuous arbitrary-scale image zoom "
                                "rendered by implicit neural networks (LIIF, CiSRGAN).")
    p.add_argument("image", nargs="?", help="image to open (default: the last one, or a bundled sample)")
    from cisr_zoom import __version__
    p.add_argument("--version", action="version", version=f"cisr-zoom {__version__}")
    from cisr_zoom.core.devices import DEVICE_HELP, device_arg
    p.add_argument("--device", type=device_arg,
                   help=f"compute device: {DEVICE_HELP} (default: the one chosen last time, else auto)")
    p.add_argument("--render-log", metavar="FILE", default=None,
                   help="log every render step (tile, encoder box, export chunk) with its queue, encode "
                        "and decode time to FILE ('-' or 1: stderr); also CISR_ZOOM_RENDER_LOG=FILE")
    p.add_argument("--model", action="append", default=[], metavar="CHECKPOINT",
                   help="also offer this checkpoint file (this session only; repeatable)")
    di = _desktop_integration()
    if di is not None and hasattr(di, "INSTALL_FLAG"):
        p.add_argument(di.INSTALL_FLAG, action="store_true",
                       help="add CiSR Zoom to this user's desktop menu and 'Open with' list (Linux), then exit")
        p.add_argument(di.UNINSTALL_FLAG, action="store_true", help="remove what --install-desktop added, then exit")
    return p


#: how often the idle event loop lets Python run its signal handlers (ms)
SIGNAL_POLL_MS = 200


def install_stop_signals(app, window, received: list):
    """SIGINT (Ctrl+C), SIGTERM and SIGHUP close the window without asking (settings saved, a
    running export cancelled and nothing written, threads stopped), busy or idle; the first
    signal's number is appended to ``received`` (the exit status is 128 + it, as the ``cisr``
    commands give). Python runs signal handlers only when the interpreter gets control, which
    an idle Qt loop never gives it: a timer does. Returns the timer (keep a reference)."""
    from PySide6.QtCore import QTimer

    from cisr_zoom.core.signals import STOP_SIGNALS

    def stop(signum, frame):
        if not received:
            received.append(int(signum))
        QTimer.singleShot(0, lambda: (window.close_now(), app.quit()))

    for s in STOP_SIGNALS:
        signal.signal(s, stop)
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(SIGNAL_POLL_MS)
    return timer


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    di = _desktop_integration()
    if di is not None and hasattr(di, "handle_desktop_flags"):
        rc = di.handle_desktop_flags(argv)
        if rc is not None:
            return int(rc)
    args = build_parser().parse_args(argv)

    from .qt_compat import protect_none_refcount
    protect_none_refcount()   # PySide6 6.12 on Python 3.11: see qt_compat

    # A window at once (app/launch.py): Qt, the settings and the image's preview first; torch,
    # the renderer and the main window are imported behind the launch window.
    from pathlib import Path

    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from cisr_zoom.resources import RESOURCES_DIR
    from .launch import FirstPaint, import_in_background, initial_image, show_launch_window, trace
    from .settings import Settings

    app = QApplication.instance() or QApplication([sys.argv[0]])
    first_paint = FirstPaint("first-paint", app)
    app.installEventFilter(first_paint)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("cisr-zoom")
    app.setDesktopFileName("io.github.cisrzoom.CisrZoom")  # = desktop_integration.APP_ID (.desktop file name)
    icon = RESOURCES_DIR / "icons" / "cisr-zoom.svg"
    if not icon.is_file():
        icon = RESOURCES_DIR / "icons" / "cisr-zoom-256.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))

    settings = Settings.load()
    missing = [m for m in args.model if not Path(m).is_file()]
    if missing:
        print(f"cisr-zoom: no such checkpoint file: {missing[0]}", file=sys.stderr)
        return 1
    image = initial_image(args.image, settings["recent_files"])
    geometry = None
    try:
        import base64
        geometry = base64.b64decode(settings["window_geometry"]) if settings["window_geometry"] else None
    except (ValueError, TypeError):
        pass
    launch_window = show_launch_window(app, image, APP_NAME, geometry)
    import_in_background(app, "cisr_zoom.app.main_window")   # torch, the renderer, the models' code
    trace("imported")

    import asyncio                       # (with ssl and concurrent.futures: half a second on a loaded
    import qasync                        # CPU, so after the launch window is painted)

    from cisr_zoom.core.render.worker import enable_render_log
    from .main_window import MainWindow
    from .model_catalog import ModelCatalog
    enable_render_log(args.render_log)   # None: the CISR_ZOOM_RENDER_LOG variable decides
    catalog = None
    if args.model:
        catalog = ModelCatalog(user_paths=[p for p in settings["user_models"] if Path(p).is_file()] + list(args.model))
    loop = qasync.QEventLoop(app)        # the window's coroutines run on it (see worker.RenderBridge)
    asyncio.set_event_loop(loop)
    window = MainWindow(settings, catalog=catalog, device=args.device)
    window.scene.sessionsChanged.connect(lambda: window.scene.session(window.main_source) is not None
                                         and trace("session-ready"))
    window.show()
    trace("main-window-shown")
    launch_window.close()
    window.open_initial(args.image)

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    window.windowClosed.connect(app.quit)   # also when it closes hidden (an export finished in the background)
    stopped_by: list = []
    signal_timer = install_stop_signals(app, window, stopped_by)  # noqa: F841  (kept alive while the loop runs)
    with loop:
        loop.run_until_complete(closed.wait())
    end_process(128 + stopped_by[0] if stopped_by else 0)
    return 0  # not reached


def end_process(status: int) -> None:
    """End the application's process now that its window is gone (settings saved, the render
    thread joined, exports finished or cancelled, every file closed): flush the output
    streams and the render log, then ``os._exit``. The interpreter's own teardown would
    otherwise collect the garbage of torch and Qt (some 190 000 objects, full collections
    several times over) and clear their modules, which kept the process alive for half a
    minute and more after the window closed on a loaded machine (issue 29)."""
    import logging
    import os
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    logging.shutdown()
    os._exit(status)


if __name__ == "__main__":
    raise SystemExit(main())
