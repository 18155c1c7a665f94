"""A window at once: what ``cisr-zoom`` shows while torch and the models load.

Importing torch and the rest of the renderer takes seconds (4.5-16 s on a loaded 2-core CPU,
BENCHMARKS.md "Launch"), and the main window needs them. So :func:`show_launch_window` first
shows a plain window at the saved window geometry with the image's smooth preview, decoded by
Qt itself (no numpy, Pillow, asyncio or torch), scaled to fit, and waits for its first paint;
:func:`import_in_background` then imports
the heavy modules on a helper thread while Qt keeps painting, and the main window replaces
the launch window once it is built (the models then load on the render thread behind it).

:func:`trace` writes launch events to the file named by :data:`TRACE_ENV` (one line each:
wall-clock time, event, whether torch was imported yet), for ``python -m
cisr_zoom.app.launch_bench`` and the tests. GUI thread only (except the import thread).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QImageReader, QPainter
from PySide6.QtWidgets import QApplication, QWidget

#: environment variable: a file to append launch events to (see :func:`trace`)
TRACE_ENV = "CISR_ZOOM_LAUNCH_TRACE"
#: the largest preview side decoded for the launch window (Qt scales JPEGs while decoding)
PREVIEW_SIDE = 2048
#: seconds :func:`show_launch_window` waits at most for the window's first paint
FIRST_PAINT_WAIT_S = 2.0


def trace(event: str) -> None:
    """Append ``TIME EVENT torch=0|1`` to the :data:`TRACE_ENV` file, if set."""
    target = os.environ.get(TRACE_ENV)
    if not target:
        return
    try:
        with open(target, "a", encoding="utf-8") as f:
            f.write(f"{time.time():.3f} {event} torch={int('torch' in sys.modules)}\n")
    except OSError:
        pass


def initial_image(path: Optional[str], recent_files) -> Optional[Path]:
    """The image to open first: ``path`` (the command line), else the most recent one that
    exists, else the bundled sample (None if there is none)."""
    if path:
        return Path(path)
    for p in recent_files:
        if Path(p).is_file():
            return Path(p)
    from cisr_zoom.resources import RESOURCES_DIR
    for name in ("sample.jpg", "sample.png"):
        if (RESOURCES_DIR / name).is_file():
            return RESOURCES_DIR / name
    return None


class FirstPaint(QObject):
    """Traces the first paint of any widget of a shown window as ``event`` (once)."""

    def __init__(self, event: str, parent=None):
        super().__init__(parent)
        self.event = event
        self.done = False

    def eventFilter(self, obj, ev) -> bool:
        if not self.done and ev.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and obj.window().isVisible():
            self.done = True
            trace(self.event)
            QApplication.instance().removeEventFilter(self)
        return False


class LaunchWindow(QWidget):
    """The image's preview, fitted, on the view's dark background, with a line saying what
    loads (see the module docstring)."""

    def __init__(self, image: Optional[Path], title: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.preview = None
        self.image_size = None
        if image is not None:
            reader = QImageReader(str(image))
            reader.setAutoTransform(True)          # EXIF orientation, as the viewer applies it
            size = reader.size()
            if size.isValid() and max(size.width(), size.height()) > PREVIEW_SIDE:
                reader.setScaledSize(size.scaled(PREVIEW_SIDE, PREVIEW_SIDE, Qt.AspectRatioMode.KeepAspectRatio))
            img = reader.read()
            if not img.isNull():
                self.preview = img
                self.image_size = (size.height(), size.width()) if size.isValid() else None
                title = f"{image.name} — {title}"
                self.setWindowTitle(title)
        self.message = "Loading the models…"
        self.painted = False                       # its first paint is done (show_launch_window waits for it)

    def paintEvent(self, ev) -> None:
        self.painted = True
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 40))
        if self.preview is not None:
            w, h = self.width(), self.height() - 24
            s = min(w / self.preview.width(), h / self.preview.height())
            dw, dh = self.preview.width() * s, self.preview.height() * s
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawImage(QRectF((w - dw) / 2, (h - dh) / 2, dw, dh), self.preview)
        p.setPen(QColor(220, 220, 220))
        p.drawText(QRectF(8, self.height() - 22, self.width() - 16, 20),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.message)
        p.end()


def show_launch_window(app, image: Optional[Path], title: str, geometry: Optional[bytes]) -> LaunchWindow:
    """Show the :class:`LaunchWindow` at ``geometry`` (the main window's saved one, else
    1400x900) and paint it now."""
    w = LaunchWindow(image, title)
    restored = False
    if geometry:
        from PySide6.QtCore import QByteArray
        restored = w.restoreGeometry(QByteArray(geometry))
    if not restored:
        w.resize(1400, 900)
    w.show()
    trace("launch-window-shown")
    # Painted before the heavy imports start: on X11 the first paint waits for the window
    # manager's map and expose round trip, and an import thread loading torch's libraries
    # holds the interpreter for long stretches; started first, it delayed that paint.
    deadline = time.monotonic() + FIRST_PAINT_WAIT_S
    app.processEvents()
    while not w.painted and time.monotonic() < deadline:
        time.sleep(0.005)
        app.processEvents()
    return w


def import_in_background(app, module: str) -> None:
    """Import ``module`` on a helper thread while the Qt event loop keeps running here (the
    launch window stays painted and movable); re-raises its import error here."""
    import importlib
    error = []

    def work():
        try:
            importlib.import_module(module)
        except BaseException as e:  # noqa: BLE001 - re-raised on the GUI thread
            error.append(e)
    t = threading.Thread(target=work, name="cisr-import", daemon=True)
    trace("import-started")
    t.start()
    while t.is_alive():
        app.processEvents()
        t.join(0.03)
    if error:
        raise error[0]
