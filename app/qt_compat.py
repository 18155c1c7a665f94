"""Work around a reference-counting bug of PySide6 6.12 on Python 3.11.

With PySide6 6.12.0 on CPython 3.11, every call of a Qt method that returns ``void``
(``QWidget.update``, ``QTimer.start``, ``QPainter.drawImage``, ``processEvents``...) drops one
reference to ``None`` that it never took. ``None`` starts with a few thousand references, so
after a few thousand repaints the interpreter aborts with "Fatal Python error: none_dealloc"
(measured here: one lost reference per call; the app died within a minute of panning).
Python 3.12+ is not affected (``None`` is immortal there), nor is PySide6 6.11.

:func:`protect_none_refcount` detects the leak with a tiny self-test and, only when it is
present, makes ``None`` effectively immortal by adding 2**40 to its reference count, as
Python 3.12 does. It must run before the GUI starts (``main`` and the benchmark call it).
"""

from __future__ import annotations

import ctypes
import sys

_applied = False


def leaks_none_references(calls: int = 64) -> bool:
    """True if a void Qt call drops a reference to ``None`` (the bug described above)."""
    from PySide6.QtCore import QTimer
    timer = QTimer()
    before = sys.getrefcount(None)
    for _ in range(calls):
        timer.stop()
    return before - sys.getrefcount(None) >= calls // 2


def protect_none_refcount() -> bool:
    """Apply the workaround if this PySide6/Python pair needs it; True if it was applied."""
    global _applied
    if _applied:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if not leaks_none_references():
        return False
    # CPython object header: ob_refcnt is the first field (a Py_ssize_t) of every object
    ctypes.c_ssize_t.from_address(id(None)).value += 1 << 40
    _applied = True
    return True
