"""The asyncio event loop of the GUI: qasync's loop running on Qt's own event loop.

:func:`attach_event_loop` gives the GUI thread an asyncio loop while something else runs
Qt's event loop (the tests' ``qtbot``, the benchmark, the screenshot tool): coroutines then
advance whenever Qt processes events. The application itself runs the loop with
``QEventLoop.run_until_complete`` (see :mod:`cisr_zoom.app.main`). GUI thread only.
"""

from __future__ import annotations

import asyncio
from typing import Optional

_attached: Optional[asyncio.AbstractEventLoop] = None


def attach_event_loop(app) -> asyncio.AbstractEventLoop:
    """Install (once) and return a qasync loop marked as running on ``app``'s event loop."""
    global _attached
    if _attached is None or _attached.is_closed():
        import qasync
        _attached = qasync.QEventLoop(app, already_running=True)
        asyncio.set_event_loop(_attached)
    return _attached
