"""Stop signals: SIGTERM and SIGHUP handled like Ctrl-C (SIGINT) in every command.

Inside :func:`stop_on_signals` the first of SIGINT, SIGTERM or SIGHUP raises
:class:`StopSignal` (a ``KeyboardInterrupt``) in the main thread, so every ``except
BaseException`` / ``finally`` clean-up runs: :func:`~.atomic.atomic_writer` removes its
temporary file, the training loop checkpoints. Further signals while the process is stopping
are ignored, so a second ``timeout`` or ``kill`` cannot cut the clean-up short (SIGKILL still
can). The exit status is ``128 + signal number`` (130, 143, 129), as shells report it.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, Tuple

#: the signals that mean "stop cleanly", where the platform has them
STOP_SIGNALS: Tuple[int, ...] = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP")
                                      if hasattr(signal, n))


class StopSignal(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which (``signal.SIGINT`` for Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def exit_status(err: KeyboardInterrupt) -> int:
    """``128 + signum`` for a :class:`StopSignal`, 130 for a plain ``KeyboardInterrupt``."""
    return err.exit_status if isinstance(err, StopSignal) else 128 + int(signal.SIGINT)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn the stop signals into :class:`StopSignal` while the block runs (main thread only;
    elsewhere a no-op). The previous handlers are restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = [False]

    def handler(signum, frame):
        if stopping[0]:
            return              # already stopping: let the clean-up finish
        stopping[0] = True
        raise StopSignal(signum)

    previous = {}
    for s in STOP_SIGNALS:
        try:
            previous[s] = signal.signal(s, handler)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for s, h in previous.items():
            try:
                signal.signal(s, h if h is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass
