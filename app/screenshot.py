"""Reproducible screenshot of the main window for the README:
``python -m cisr_zoom.app.screenshot OUT.png [--image IMG] [--zoom Z] [--at X Y] [--model CKPT]
[--main M] [--second M] [--split] [--cursor SX SY] [--layout 1|2|4] [--no-panel]``.

Opens the real main window (comparison panel shown unless ``--no-panel``) with the installed
models (plus ``--model`` files), shows ``--main`` in the main view and ``--second`` in the
split's right half (a bundled name such as ``cisrgan-edsr-baseline``, ``bicubic``, or a checkpoint
file; default: the app's own choice), zooms to physical zoom ``Z`` centred on image point ``(X, Y)``,
rests the cursor at ``(SX, SY)`` (fractions of the main view; the loupes centre on the image
point under it) if asked, waits until every shown view has all its super-resolved tiles, and
saves a grab of the window (PNG, or JPEG by the suffix). Uses a temporary settings folder, so the user's settings are untouched.
Works on any Qt platform (``QT_QPA_PLATFORM=offscreen`` needs no display).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cisr_zoom.app.screenshot", description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--image", help="image (default: the bundled sample)")
    ap.add_argument("--zoom", type=float, default=6.0, help="physical zoom (default 6)")
    ap.add_argument("--at", type=float, nargs=2, metavar=("X", "Y"), default=(365.0, 235.0),
                    help="image point at the middle of the view (default: the sample's spoon)")
    ap.add_argument("--size", default="1600x1000", help="window size (default 1600x1000)")
    ap.add_argument("--model", action="append", default=[], help="extra checkpoint (repeatable)")
    ap.add_argument("--split", action="store_true", help="split the main view (main model | second model)")
    ap.add_argument("--main", metavar="M", help="main view's model: bundled name, 'bicubic' or a checkpoint file")
    ap.add_argument("--second", metavar="M", help="second model (the split's right half), as --main")
    ap.add_argument("--cursor", type=float, nargs=2, metavar=("SX", "SY"),
                    help="rest the cursor here (fractions of the main view's width and height)")
    ap.add_argument("--layout", type=int, choices=(1, 2, 4), default=1, help="views in the central area")
    ap.add_argument("--no-panel", action="store_true", help="hide the comparison panel")
    ap.add_argument("--quality", type=int, default=88, help="JPEG quality (default 88)")
    ap.add_argument("--timeout", type=float, default=900.0)
    args = ap.parse_args(argv)

    os.environ.setdefault("CISR_ZOOM_CONFIG_DIR", tempfile.mkdtemp(prefix="cisr-shot-config-"))
    os.environ.setdefault("CISR_ZOOM_CACHE_DIR", tempfile.mkdtemp(prefix="cisr-shot-cache-"))
    from .qt_compat import protect_none_refcount
    protect_none_refcount()
    from PySide6.QtWidgets import QApplication

    from cisr_zoom.resources import RESOURCES_DIR
    from .main_window import MainWindow
    from .model_catalog import ModelCatalog
    from .settings import Settings

    app = QApplication.instance() or QApplication([sys.argv[0]])
    from .event_loop import attach_event_loop
    attach_event_loop(app)   # the window's coroutines advance as Qt processes events
    w_px, h_px = (int(v) for v in args.size.lower().split("x"))
    settings = Settings.load()
    settings["compare_visible"] = not args.no_panel
    catalog = ModelCatalog(user_paths=args.model)
    chosen = [_source_id(catalog, m) for m in (args.main, args.second)]
    win = MainWindow(settings, catalog=catalog)
    win.resize(w_px, h_px)
    win.show()

    def wait_until(cond, what):
        t0 = time.perf_counter()
        while not cond():
            app.processEvents()
            time.sleep(0.002)
            if time.perf_counter() - t0 > args.timeout:
                raise TimeoutError(f"timed out waiting for {what}")

    try:
        image = args.image or str(RESOURCES_DIR / "sample.jpg")
        win.open_image(image)
        wait_until(lambda: win.scene.image is not None or win.last_message_box is not None, "the image")
        if win.scene.image is None:
            print(win.last_message_box.text(), file=sys.stderr)
            return 1
        if chosen[0] is not None:
            win.set_main_source(chosen[0])
        if chosen[1] is not None:
            win.set_split_source(chosen[1])
        if args.split:
            win.set_split(True)
        win.set_layout(args.layout)
        for _ in range(20):
            app.processEvents()       # the grid's views get their sizes
        win.view.set_physical_zoom(args.zoom)
        win.view.group.centre_on(*args.at)       # through the group: every view of it follows
        if args.cursor:
            from PySide6.QtCore import QPointF, Qt
            from PySide6.QtGui import QCursor, QMouseEvent
            vp = win.view.viewport()
            pos = QPointF(args.cursor[0] * vp.width(), args.cursor[1] * vp.height())
            QCursor.setPos(vp.mapToGlobal(pos.toPoint()))      # the real pointer, where there is one
            app.sendEvent(vp, QMouseEvent(QMouseEvent.Type.MouseMove, pos, QPointF(vp.mapToGlobal(pos.toPoint())),
                                          Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                                          Qt.KeyboardModifier.NoModifier))
        views = [v for v in [win.view] + win.compare.views() + win.grid.views() if v.isVisible()]
        wait_until(lambda: all(v.is_complete() for v in views), "the super-resolved tiles")
        for _ in range(5):
            app.processEvents()
            time.sleep(0.05)
        from PySide6.QtCore import QBuffer, QIODevice

        from cisr_zoom.core.atomic import atomic_write_bytes
        from cisr_zoom.core.errors import error_message
        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        fmt = (Path(args.out).suffix.lstrip(".") or "png").upper()
        fmt = "JPEG" if fmt == "JPG" else fmt
        if not win.grab().save(buf, fmt, args.quality if fmt == "JPEG" else -1):
            print(f"cannot encode the screenshot as {fmt}", file=sys.stderr)
            return 1
        try:
            atomic_write_bytes(args.out, bytes(buf.data()))
        except OSError as e:
            print(error_message(e), file=sys.stderr)
            return 1
        print(f"wrote {args.out}")
        return 0
    finally:
        win.close()


def _source_id(catalog, name):
    """The catalog id for ``--main``/``--second``: ``None`` stays ``None``; ``bicubic``; a bundled
    model's name; else a checkpoint file, added to the catalog."""
    if name is None or name in catalog:
        return name
    if f"bundled:{name}" in catalog:
        return f"bundled:{name}"
    return catalog.add_user(name).id


if __name__ == "__main__":
    raise SystemExit(main())
