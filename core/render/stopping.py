"""Stopping a render: the one :class:`RenderCancelled`, and the stop plumbing every render source shares.

A caller passes ``should_stop`` (a function, or None) to each call of a source; the source
checks it between chunks of its own work (:func:`stop_if_asked`) and, where its work runs
inside a model or a cache that the call does not see, through :class:`Stoppable`: the call runs
under :meth:`Stoppable._stopping`, and :meth:`Stoppable._check_stop` (from a model's layer hook,
or the feature cache's compute function) raises :class:`RenderCancelled` once ``should_stop()``
is true, only on the thread of that call.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

StopFn = Optional[Callable[[], bool]]


class RenderCancelled(Exception):
    """Raised inside a render when its ``should_stop()`` returned True."""


def stop_if_asked(should_stop: StopFn) -> None:
    """Raise :class:`RenderCancelled` when ``should_stop()`` is true."""
    if should_stop is not None and should_stop():
        raise RenderCancelled()


class Stoppable:
    """Base of the sources whose work checks the stop function of the call it serves. One call
    at a time holds the source (``_lock``, re-entrant)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._stop: StopFn = None
        self._owner: Optional[int] = None

    @contextmanager
    def _stopping(self, should_stop: StopFn) -> Iterator[None]:
        """Under the lock: ``should_stop`` is what :meth:`_check_stop` asks, for this call
        (checked once on entry)."""
        with self._lock:
            prev, prev_owner = self._stop, self._owner
            self._stop, self._owner = should_stop, threading.get_ident()
            try:
                self._check_stop()
                yield
            finally:
                self._stop, self._owner = prev, prev_owner

    def _check_stop(self) -> None:
        stop = self._stop
        if stop is not None and self._owner == threading.get_ident() and stop():
            raise RenderCancelled()
