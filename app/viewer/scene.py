"""Scene: the GUI-side state shared by all views of one image.

Holds the opened image (:class:`~cisr_zoom.app.worker.ImageData`), the :class:`TileLayer`
of rendered pixels, handles to the render sessions (created on the worker, only passed back
to it), and routes the worker's tiles to the view that asked for them. GUI thread only.
"""

from __future__ import annotations

import itertools
from typing import Dict, Optional

from PySide6.QtCore import QObject, Signal

from ..model_catalog import ModelCatalog
from ..worker import ImageData, RenderBridge
from .tile_layer import TileLayer


#: Output tile side per device type: about a quarter second of work for an EDSR-baseline LIIF
#: on a laptop CPU (128: 16k pixels) or a GPU (512), so the first tile of a new view comes
#: quickly and later tiles do not pay much per-call overhead.
TILE_SIZE_BY_DEVICE = {"cpu": 128, "cuda": 512, "mps": 256}


class Scene(QObject):
    imageChanged = Signal()            # a new image is shown (views reset)
    sessionsChanged = Signal()         # a session became ready or failed: views request again
    tileAdded = Signal(str, int, object)   # source, level, PixelRect: views showing it repaint there
    renderError = Signal(str)          # one-line message for the status bar

    def __init__(self, bridge: RenderBridge, catalog: ModelCatalog, tile_budget_bytes: int, parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.catalog = catalog
        self.tile_layer = TileLayer(tile_budget_bytes)
        self.image: Optional[ImageData] = None
        self.epoch = -1
        self._sessions: Dict[str, object] = {}
        self._pending: set = set()
        self._errors: Dict[str, str] = {}
        self._views: Dict[str, object] = {}
        self._generations = itertools.count(1)
        #: measured render cost per source, seconds per output megapixel (for export estimates)
        self.seconds_per_mp: Dict[str, float] = {}
        self.tile_size = TILE_SIZE_BY_DEVICE["cpu"]
        bridge.deviceChanged.connect(self._on_device)
        bridge.tileReady.connect(self._on_tile)
        bridge.requestDone.connect(self._on_done)
        bridge.sessionReady.connect(self._on_session)
        bridge.sessionFailed.connect(self._on_session_failed)

    # -- views ---------------------------------------------------------------------------
    def register_view(self, view_id: str, view) -> None:
        self._views[view_id] = view

    def unregister_view(self, view_id: str) -> None:
        self._views.pop(view_id, None)

    def views(self):
        return list(self._views.values())

    def next_generation(self) -> int:
        return next(self._generations)

    # -- image ---------------------------------------------------------------------------
    def set_image(self, data: ImageData) -> None:
        for v in self.views():
            v.cancel_all()
        self.tile_layer.clear()
        self.image = data
        self.epoch = data.epoch
        self._sessions.clear()
        self._pending.clear()
        self._errors.clear()
        self.imageChanged.emit()

    # -- sessions ------------------------------------------------------------------------
    def session(self, source: str):
        """The session for ``source`` if ready; otherwise asks the worker for it and returns None."""
        if self.image is None or source is None:
            return None
        s = self._sessions.get(source)
        if s is None and source not in self._pending and source not in self._errors:
            self._pending.add(source)
            self.bridge.request_session(source, self.epoch)
        return s

    def source_error(self, source: Optional[str]) -> Optional[str]:
        return self._errors.get(source or "")

    def reset_sessions(self) -> None:
        """Device or precision changed: drop session handles and outstanding requests."""
        for v in self.views():
            v.cancel_all()
        self._sessions.clear()
        self._pending.clear()
        self._errors.clear()
        self.sessionsChanged.emit()

    def forget_source(self, source: str) -> None:
        self._sessions.pop(source, None)
        self._errors.pop(source, None)
        self._pending.discard(source)

    def _on_session(self, epoch: int, source: str, session) -> None:
        self._pending.discard(source)
        if epoch == self.epoch:
            self._sessions[source] = session
            self.sessionsChanged.emit()

    def _on_session_failed(self, epoch: int, source: str, message: str) -> None:
        self._pending.discard(source)
        if epoch == self.epoch:
            self._errors[source] = message
            self.renderError.emit(f"{self.catalog.label(source)}: {message}")
            self.sessionsChanged.emit()

    def _on_device(self, name: str, label: str) -> None:
        kind = label.split(" ")[0].lower()
        self.tile_size = TILE_SIZE_BY_DEVICE.get(kind, TILE_SIZE_BY_DEVICE["cpu"])

    # -- tiles ---------------------------------------------------------------------------
    def _on_tile(self, tile) -> None:
        view = self._views.get(tile.key[0]) if isinstance(tile.key, tuple) else None
        if view is None:
            return
        source = view.accept_tile(tile)
        if source is None:
            return  # stale: dropped
        seconds = tile.seconds
        if seconds > 0:
            mp = tile.pixels.shape[0] * tile.pixels.shape[1] / 1e6
            if mp >= 0.02:   # whole tiles, not slivers dominated by overheads
                spm = seconds / mp
                old = self.seconds_per_mp.get(source)
                self.seconds_per_mp[source] = spm if old is None else 0.7 * old + 0.3 * spm

    def _on_done(self, key, message, cancelled: bool) -> None:
        view = self._views.get(key[0]) if isinstance(key, tuple) else None
        if view is not None:
            view.request_done(key, message, cancelled)
        if message:
            self.renderError.emit(f"render failed: {message}")
