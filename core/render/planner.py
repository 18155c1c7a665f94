"""Request planning for the views of one image (no Qt): what to ask the render thread for,
what is in flight, which responses are stale, and when a view is complete.

A *slot* is one source drawn in part of a view (the whole view, one side of a split, or
a comparison pane). For each slot the planner
asks for exactly the level pixels that are visible and not cached or in flight yet, as
rectangles: first a small *focus* tile where the user looks (the cursor, else the middle of
the view), then the rest. Every request carries that focus in its own output pixels, so the
render worker orders the tiles of all of a view's requests by their distance from it; when
the cursor moves, :meth:`RequestPlanner.refocus` gives the new focus to the live requests
(nothing is cancelled). In-flight requests still entirely visible are kept; every other one is
cancelled.

Every request is an immutable :class:`~.worker.RenderRequest` keyed by a :class:`RequestKey`
with an id of its own. A response (tile or completion) counts only while its request is
live, so responses of cancelled or superseded requests are dropped here, once, whatever
view they were meant for. Tile counts for progress come from the request's own tile plan.

Coordinates: image rectangles are :class:`~.levels.ImageRect` (input pixels, origin at the
top-left corner); requests are :class:`~.levels.PixelRect` on a level's output grid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .levels import (ImageRect, PixelRect, bounding_rect, level_rect_region, level_size, order_centre_first,
                     subtract_all, visible_level_rect)
from .worker import VIEW, RenderedTile, RenderRequest

#: More missing pieces than this in a slot are merged into one rectangle.
MAX_REQUESTS_PER_SLOT = 8


@dataclass(frozen=True)
class RequestKey:
    """Names one render request: the view that asked, its slot, and the request's own id."""

    view: str
    slot: int
    id: int


@dataclass(frozen=True)
class SlotState:
    """What a slot shows now: ``source`` (None: nothing) at render ``level``, over
    ``visible`` (the slot's visible image rectangle, clipped to the image; None if empty)."""

    view: str
    slot: int
    source: Optional[str]
    level: int
    visible: Optional[ImageRect]

    def wanted(self, image_size: Tuple[int, int]) -> Optional[PixelRect]:
        """The level pixels this slot needs (None: nothing to render)."""
        if self.level <= 0 or self.source is None or self.visible is None:
            return None
        return visible_level_rect(image_size, self.level, self.visible)


@dataclass
class InFlight:
    """A live request and what it is for; ``n_done`` counts its tiles accepted so far."""

    request: RenderRequest
    source: str
    level: int
    rect: PixelRect
    n_done: int = 0

    @property
    def key(self) -> RequestKey:
        return self.request.key

    @property
    def n_tiles(self) -> int:
        return len(self.request.tiles)


@dataclass(frozen=True)
class Plan:
    """The outcome of planning a slot: requests to cancel, then requests to submit."""

    cancelled: Tuple[RequestKey, ...]
    requests: Tuple[RenderRequest, ...]


@dataclass(frozen=True)
class AcceptedTile:
    """A tile of a live request, placed on its level grid."""

    key: RequestKey
    source: str
    level: int
    rect: PixelRect


#: ``cached(source, level, rect)``: rectangles of already rendered pixels meeting ``rect``.
CachedRects = Callable[[str, int, PixelRect], Iterable[PixelRect]]


class RequestPlanner:
    """Plans and tracks the render requests of every view of one image (GUI thread)."""

    def __init__(self, cached: CachedRects, max_requests_per_slot: int = MAX_REQUESTS_PER_SLOT):
        self._cached = cached
        self.max_requests_per_slot = int(max_requests_per_slot)
        self.image_size: Optional[Tuple[int, int]] = None
        self._live: Dict[RequestKey, InFlight] = {}
        self._batch: Dict[str, List[int]] = {}     # view -> [tiles done, tiles asked] since its last batch
        self._wanted: Dict[Tuple[str, int], PixelRect] = {}   # (view, slot) -> level pixels it last wanted
        self._ids = itertools.count(1)

    # -- the image ---------------------------------------------------------------------------
    def set_image(self, image_size: Optional[Tuple[int, int]]) -> List[RequestKey]:
        """A new image (or none): every live request is dropped; returns their keys to cancel."""
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        return self.cancel_all()

    # -- planning ----------------------------------------------------------------------------
    def plan(self, slot: SlotState, focus: Tuple[float, float], tile_size: int,
             ready: Callable[[str], bool], priority: int = VIEW) -> Plan:
        """Plan ``slot``: cancel what no longer fits, then ask for the missing pixels nearest
        ``focus`` (an image point ``(x, y)``) first, in tiles of ``tile_size``, at ``priority``
        (:data:`~.worker.VIEW` for the main view, :data:`~.worker.OTHER_VIEW` for the others).
        Nothing new is asked while ``ready(source)`` is false (its render source is still being made)."""
        size = self.image_size
        want = slot.wanted(size) if size is not None else None
        cancelled = []
        for key, inf in list(self._live.items()):
            if (key.view, key.slot) != (slot.view, slot.slot):
                continue
            if want is None or inf.level != slot.level or inf.source != slot.source or not want.contains(inf.rect):
                cancelled.append(key)
                del self._live[key]
        if want is None or not ready(slot.source):
            self._wanted.pop((slot.view, slot.slot), None)
            return Plan(tuple(cancelled), ())
        self._wanted[(slot.view, slot.slot)] = want
        source, k = slot.source, slot.level
        in_flight = [i.rect for i in self._live_in(slot.view, slot.slot)]
        cached = list(self._cached(source, k, want))
        missing = subtract_all(want, cached + in_flight)
        if len(missing) > self.max_requests_per_slot:
            missing = [bounding_rect(missing)]
        cy, cx = self._level_focus(focus, k, want)
        half = max(16, tile_size // 4)
        focus_rect = PixelRect(int(cy) - half, int(cx) - half, int(cy) + half, int(cx) + half).intersect(want)
        ordered = order_centre_first(missing, cy, cx)
        first = None
        if focus_rect is not None and subtract_all(focus_rect, cached + in_flight) == [focus_rect]:
            rest = [q for piece in missing for q in piece.subtract(focus_rect)]
            if len(rest) <= self.max_requests_per_slot + 3:
                ordered = [focus_rect] + order_centre_first(rest, cy, cx)
                first = focus_rect
        requests = []
        view_region = level_rect_region(size, k, want)
        for r in ordered:
            key = RequestKey(slot.view, slot.slot, next(self._ids))
            req = RenderRequest(generation=key.id, key=key, region=level_rect_region(size, k, r),
                                out_size=(r.height, r.width), tile_size=tile_size,
                                focus=(cy - r.top, cx - r.left), priority=priority,
                                # the focus tile encodes only what it needs (it comes first);
                                # the others encode boxes that reach into the rest of the view
                                within=None if r is first else view_region)
            self._live[key] = InFlight(req, source, k, r)
            requests.append(req)
        return Plan(tuple(cancelled), tuple(requests))

    def _level_focus(self, focus: Tuple[float, float], level: int, want: PixelRect) -> Tuple[float, float]:
        """Image point ``focus = (x, y)`` as ``(y, x)`` level pixels, clamped to ``want``."""
        size = self.image_size
        H, W = level_size(size, level)
        fx, fy = focus
        return (min(max(fy * H / size[0], want.top), want.bottom),
                min(max(fx * W / size[1], want.left), want.right))

    def refocus(self, view: str, focus: Tuple[float, float]) -> List[Tuple[RequestKey, Tuple[float, float]]]:
        """The user now looks at image point ``focus = (x, y)`` in ``view``: for each live
        request of the view, its key and the new focus in its own output pixels ``(y, x)``
        (for :meth:`~.worker.RenderWorker.refocus`). Nothing is cancelled."""
        if self.image_size is None:
            return []
        out = []
        for inf in self._live_in(view):
            want = self._wanted.get((inf.key.view, inf.key.slot))
            if want is None:
                continue
            cy, cx = self._level_focus(focus, inf.level, want)
            out.append((inf.key, (cy - inf.rect.top, cx - inf.rect.left)))
        return out

    def start_batch(self, view: str) -> Tuple[int, int]:
        """Progress of ``view`` restarts: the tiles its live requests still owe."""
        self._batch[view] = [0, sum(i.n_tiles - i.n_done for i in self._live_in(view))]
        return self.progress(view)

    # -- responses ---------------------------------------------------------------------------
    def accept(self, tile: RenderedTile) -> Optional[AcceptedTile]:
        """Place a tile of a live request, or None: a stale (or malformed) tile, dropped."""
        inf = self._live.get(tile.key) if isinstance(tile.key, RequestKey) else None
        if inf is None or tile.generation != inf.request.generation:
            return None
        spec = tile.spec
        rect = PixelRect(inf.rect.top + spec.top, inf.rect.left + spec.left,
                         inf.rect.top + spec.top + spec.height, inf.rect.left + spec.left + spec.width)
        if tuple(tile.pixels.shape[:2]) != (spec.height, spec.width) or not inf.rect.contains(rect):
            return None
        inf.n_done += 1
        batch = self._batch.setdefault(inf.key.view, [0, 0])
        batch[0] += 1
        batch[1] = max(batch[1], batch[0])
        return AcceptedTile(inf.key, inf.source, inf.level, rect)

    def finish(self, key) -> bool:
        """The request ``key`` ended (done, failed or cancelled); False if it was not live."""
        inf = self._live.pop(key, None) if isinstance(key, RequestKey) else None
        if inf is None:
            return False
        if not self._live_in(key.view):
            batch = self._batch.setdefault(key.view, [0, 0])
            batch[0] = batch[1]
        return True

    # -- cancelling --------------------------------------------------------------------------
    def cancel_view(self, view: str) -> List[RequestKey]:
        """Drop every live request of ``view``; returns their keys (to cancel on the worker)."""
        keys = [k for k in self._live if k.view == view]
        for k in keys:
            del self._live[k]
        self._batch[view] = [0, 0]
        self._wanted = {vs: w for vs, w in self._wanted.items() if vs[0] != view}
        return keys

    def cancel_all(self) -> List[RequestKey]:
        keys = list(self._live)
        self._live.clear()
        self._wanted.clear()
        self._batch = {v: [0, 0] for v in self._batch}
        return keys

    # -- state -------------------------------------------------------------------------------
    def _live_in(self, view: str, slot: Optional[int] = None) -> List[InFlight]:
        return [i for k, i in self._live.items() if k.view == view and (slot is None or k.slot == slot)]

    def live(self, view: Optional[str] = None) -> List[InFlight]:
        """Live requests of ``view`` (all views when None)."""
        return list(self._live.values()) if view is None else self._live_in(view)

    def views(self) -> List[str]:
        return sorted(self._batch)

    def progress(self, view: Optional[str] = None) -> Tuple[int, int]:
        """``(tiles done, tiles asked)`` since the last batch of ``view`` (summed over all
        views when None)."""
        batches = list(self._batch.values()) if view is None else [self._batch.get(view, [0, 0])]
        return sum(b[0] for b in batches), sum(b[1] for b in batches)

    def is_complete(self, slots: Sequence[SlotState], failed: Callable[[str], bool]) -> bool:
        """No request of these slots' views is live, and every slot's wanted pixels are
        cached (slots without a source, at level 0, or whose source failed are skipped)."""
        if any(self._live_in(s.view) for s in slots):
            return False
        if self.image_size is None:
            return True
        for s in slots:
            want = s.wanted(self.image_size)
            if want is None or failed(s.source):
                continue
            if subtract_all(want, self._cached(s.source, s.level, want)):
                return False
        return True
