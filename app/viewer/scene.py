"""Scene: the GUI-side state shared by all views of one image.

Holds the opened image (:class:`~cisr_zoom.app.worker.ImageData`), the :class:`TileLayer`
of rendered pixels, handles to the render sources (made on the worker, only passed back to
it), the :class:`~cisr_zoom.core.render.planner.RequestPlanner` of every view's requests and
the :class:`~cisr_zoom.core.render.estimate.SpeedBook` (the views' tiles teach it decoding speed).
Tiles flow once: worker -> the request's :class:`~cisr_zoom.app.worker.TileStream`, read by
one coroutine per request (:meth:`Scene._receive`) -> the planner (drops stale tiles) -> the
tile layer -> ``tileAdded`` (views showing that source repaint there). Render sources are
opened by coroutines too (:meth:`Scene._open_source`). GUI thread only.
"""

from __future__ import annotations

import asyncio
from typing import Dict, List, Optional, Tuple

from PySide6.QtCore import QObject, Signal

from cisr_zoom.core.errors import error_message
from cisr_zoom.core.render.estimate import VIEW, RenderCost, SpeedBook, SpeedKey
from cisr_zoom.core.render.levels import PixelRect
from cisr_zoom.core.render.planner import RequestKey, RequestPlanner, SlotState
from cisr_zoom.core.render.session import RenderCancelled
from cisr_zoom.core.render.worker import VIEW as VIEW_PRIORITY, RenderRequest

from ..model_catalog import ModelCatalog
from ..worker import ImageData, RenderBridge, TileStream
from .tile_layer import TileLayer, qimage_from_rgb8


#: Output tile side per device type: about a quarter second of work for an EDSR-baseline LIIF
#: on a laptop CPU (128: 16k pixels) or a GPU (512), so the first tile of a new view comes
#: quickly and later tiles do not pay much per-call overhead.
TILE_SIZE_BY_DEVICE = {"cpu": 128, "cuda": 512, "mps": 256}


class Scene(QObject):
    imageChanged = Signal()            # a new image is shown (views reset)
    sessionsChanged = Signal()         # a session became ready or failed: views request again
    tileAdded = Signal(str, int, object)   # source, level, PixelRect: views showing it repaint there
    progressChanged = Signal(str, int, int)  # view id, tiles done, tiles asked since its last batch
    requestEnded = Signal(object, object, bool)  # RequestKey, error message or None, cancelled
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
        self.planner = RequestPlanner(self._cached_rects)
        #: measured render speed per model, device and precision (for export estimates)
        self.speeds = SpeedBook()
        self.tile_size = TILE_SIZE_BY_DEVICE["cpu"]
        bridge.deviceChanged.connect(lambda _name, label: self._use_tile_size_for(label))

    # -- image ---------------------------------------------------------------------------
    def set_image(self, data: ImageData) -> None:
        self._cancel(self.planner.set_image(data.size))
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
            self.bridge.spawn(self._open_source(source, self.epoch))
        return s

    async def _open_source(self, source: str, epoch: int) -> None:
        try:
            session = await self.bridge.open_source(source, epoch)
        except RenderCancelled:
            self._pending.discard(source)      # the image changed meanwhile
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - shown to the user
            self._on_session_failed(epoch, source, error_message(e))
            return
        self._on_session(epoch, source, session)

    def source_error(self, source: Optional[str]) -> Optional[str]:
        return self._errors.get(source or "")

    def reset_sessions(self) -> None:
        """Device or precision changed: drop session handles and outstanding requests."""
        self._cancel(self.planner.cancel_all())
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

    def speed_key(self, source: Optional[str]) -> Optional[SpeedKey]:
        """Where ``source``'s speed is kept: its model file (else its name), this device and its
        session's precision (None until the session is made)."""
        session = self.session(source)
        if session is None:
            return None
        e = self.catalog.get(source)
        return SpeedKey(str(e.path) if e else source, self.bridge.device_text, session.precision)

    def _use_tile_size_for(self, device_label: str) -> None:
        """Tile side for the device named by ``device_label`` (``CPU``, ``CUDA (...)``, ``MPS``)."""
        kind = device_label.split(" ")[0].lower()
        self.tile_size = TILE_SIZE_BY_DEVICE.get(kind, TILE_SIZE_BY_DEVICE["cpu"])

    # -- requests ----------------------------------------------------------------------
    def _cached_rects(self, source: str, level: int, rect: PixelRect) -> List[PixelRect]:
        return [p.rect for p in self.tile_layer.patches(source, level, rect, touch=False)]

    def _cancel(self, keys) -> None:
        for key in keys:
            self.bridge.cancel(key)
        for view in self.planner.views():
            self.progressChanged.emit(view, *self.planner.progress(view))

    def request(self, slots: List[SlotState], focus: Tuple[float, float], tile_size: int,
                priority: int = VIEW_PRIORITY) -> None:
        """Plan the slots of one view and hand the requests to the worker at ``priority``
        (the main view's first: other views pass ``OTHER_VIEW``); the view's progress restarts."""
        for slot in slots:
            plan = self.planner.plan(slot, focus, tile_size, ready=lambda s: self.session(s) is not None,
                                     priority=priority)
            for key in plan.cancelled:
                self.bridge.cancel(key)
            for req in plan.requests:
                stream = self.bridge.render(self._sessions[slot.source], req)
                self.bridge.spawn(self._receive(stream))
            self._encode_ahead(slot, refocus=priority == VIEW_PRIORITY)
        if slots:
            view = slots[0].view
            self.progressChanged.emit(view, *self.planner.start_batch(view))

    def _encode_ahead(self, slot: SlotState, refocus: bool) -> None:
        """A view settled on ``slot``: its source encodes the rest of the image at idle
        priority, nearest the middle of what the slot shows first (see
        :meth:`RenderBridge.encode_ahead`), so later zooms and pans pay the decoder only. Only
        the main view moves (``refocus``) a job already live; the other views (loupes,
        comparison panes, grid views) start one for their source when none is live."""
        session = self._sessions.get(slot.source) if slot.source is not None else None
        if session is None or slot.visible is None:
            return
        r = slot.visible
        self.bridge.encode_ahead(session, ((r.y0 + r.y1) / 2.0, (r.x0 + r.x1) / 2.0), refocus=refocus)

    def refocus(self, view: str, focus: Tuple[float, float]) -> None:
        """``view``'s user now looks at image point ``focus = (x, y)``: the worker reorders
        the remaining tiles of its live requests (nothing is cancelled or re-asked)."""
        for key, request_focus in self.planner.refocus(view, focus):
            self.bridge.refocus(key, request_focus)

    def cancel_view(self, view: str) -> None:
        """Cancel every request of ``view``."""
        for key in self.planner.cancel_view(view):
            self.bridge.cancel(key)
        self.progressChanged.emit(view, 0, 0)

    def is_complete(self, slots: List[SlotState]) -> bool:
        return self.planner.is_complete(slots, failed=lambda s: bool(self.source_error(s)))

    # -- tiles ---------------------------------------------------------------------------
    async def _receive(self, stream: TileStream) -> None:
        """Take in the tiles of one request, then its end."""
        async for tile in stream:
            self._on_tile(tile)
        self._on_done(stream.request, stream.error, stream.cancelled)

    def _on_tile(self, tile) -> None:
        placed = self.planner.accept(tile)
        if placed is None:
            return  # stale: dropped
        self.tile_layer.add(placed.source, placed.level, placed.rect, qimage_from_rgb8(tile.pixels))
        key = self.speed_key(placed.source)
        if key is not None and tile.seconds > 0:
            t = tile.timing
            self.speeds.learn(key, RenderCost(t.encode + t.decode, t.encode, tile.pixels.shape[0] * tile.pixels.shape[1]),
                              VIEW)
        self.progressChanged.emit(placed.key.view, *self.planner.progress(placed.key.view))
        self.tileAdded.emit(placed.source, placed.level, placed.rect)

    def _on_done(self, request: RenderRequest, message: Optional[str], cancelled: bool) -> None:
        key = request.key
        if isinstance(key, RequestKey) and self.planner.finish(key):
            self.progressChanged.emit(key.view, *self.planner.progress(key.view))
        self.requestEnded.emit(key, message, cancelled)
        if message:
            self.renderError.emit(f"Rendering failed ({message}); the preview stays. Try another model, "
                                  f"Device → CPU, or Exact (float32).")
