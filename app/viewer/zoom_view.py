"""ZoomView: paints the image at any zoom from the best pixels available, and turns input
into :class:`Viewport` changes and render requests.

Painting (never waits): the smooth-scaled preview of the image (a box-filtered pyramid when
zoomed out), then super-resolved patches of other levels of the same source (farthest first),
then the patches of the current level on top. When the current level covers the visible
area, only its patches are drawn.

Requests: a short settle (``settle_ms`` without view changes) after each change, each
*slot* (a source drawn in part of the view: the whole view, one side of the split, or the
part of a comparison pane that shows the main view's region) asks for exactly the level
pixels that are visible and not cached yet, as rectangles, nearest to the middle first.
In-flight requests still entirely visible are kept; every other one is cancelled. Each
request has its own generation number; tiles of a generation no longer live are dropped.

A *follower* view (comparison pane) shows its leader's region fitted into itself; its input
is forwarded to the leader, so all views stay synchronised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QAbstractScrollArea

from cisr_zoom.core.render.tiles import plan_tiles
from cisr_zoom.core.render.worker import RenderRequest

from .geometry import (PixelRect, bounding_rect, level_for_scale, level_rect_region, level_size,
                       order_centre_first, visible_level_rect)
from .scene import Scene
from .tile_layer import qimage_from_rgb8
from .viewport import ImageRect, Viewport

BACKGROUND = QColor(38, 38, 40)
WHEEL_STEP = 2.0 ** (1.0 / 3.0)      # zoom per wheel notch (120 units): three notches per octave
MAX_REQUESTS_PER_SLOT = 8            # more missing pieces than this are merged into one rectangle
DIVIDER_GRAB_PX = 7


@dataclass
class InFlight:
    key: tuple
    generation: int
    source: str
    level: int
    rect: PixelRect
    n_tiles: int
    n_done: int = 0


@dataclass
class RenderSlot:
    index: int
    source: Optional[str]
    live: Dict[int, InFlight] = field(default_factory=dict)


class ZoomView(QAbstractScrollArea):
    viewChanged = Signal()              # the viewport changed (zoom, pan, resize)
    settled = Signal()                  # requests for the settled view were made
    hoverChanged = Signal(object)       # (x, y) image coordinates under the cursor, or None
    progressChanged = Signal(int, int)  # tiles done, tiles requested since the last settle

    def __init__(self, scene: Scene, view_id: str, parent=None, settle_ms: int = 80, tile_size: Optional[int] = None):
        super().__init__(parent)
        self.scene = scene
        self.view_id = view_id
        self._tile_size = tile_size   # None: the scene's choice for the device
        self.vp = Viewport()
        self.slots: List[RenderSlot] = [RenderSlot(0, None)]
        self.split = False
        self.divider = 0.5                  # split position, fraction of the width
        self.leader: Optional[ZoomView] = None
        self.label_overlay = False          # draw the source name(s) over the image
        self.message: Optional[str] = None  # banner text (e.g. no model available)
        self.batch_done = 0
        self.batch_total = 0
        self._auto_fit = True
        self._drag_pos: Optional[QPointF] = None
        self._drag_divider = False
        self._syncing = False
        self._pan_rest = (0.0, 0.0)
        self._focus: Optional[Tuple[float, float]] = None   # image point of the last zoom anchor
        self._overlay_rects: List[QRectF] = []   # where overlays were painted last (logical px)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(settle_ms)
        self._settle.timeout.connect(self.request_visible)

        self.viewport().setMouseTracking(True)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QAbstractScrollArea.Shape.NoFrame)
        self.horizontalScrollBar().valueChanged.connect(self._on_hscroll)
        self.verticalScrollBar().valueChanged.connect(self._on_vscroll)
        scene.register_view(view_id, self)
        scene.imageChanged.connect(self._on_image_changed)
        scene.sessionsChanged.connect(self.schedule_request)
        scene.tileAdded.connect(self._on_tile_added)

    # ------------------------------------------------------------------ configuration ---
    @property
    def tile_size(self) -> int:
        """Output tile side of render requests (pixels)."""
        return self._tile_size or self.scene.tile_size

    @property
    def sources(self) -> List[Optional[str]]:
        return [s.source for s in self.slots]

    def set_sources(self, sources: List[Optional[str]]) -> None:
        """One source (whole view) or two (split view: left, right)."""
        sources = list(sources)[:2] or [None]
        if sources == self.sources:
            return
        self.cancel_all()
        self.slots = [RenderSlot(i, s) for i, s in enumerate(sources)]
        self.split = len(self.slots) == 2
        self.viewport().update()
        self.schedule_request()

    def set_leader(self, leader: "ZoomView") -> None:
        """Make this view follow ``leader`` (a comparison pane)."""
        self.leader = leader
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        leader.viewChanged.connect(self._follow)
        leader.settled.connect(self.request_visible)
        self._follow()

    def set_settle_ms(self, ms: int) -> None:
        self._settle.setInterval(ms)

    # ------------------------------------------------------------------ view changes ----
    def _on_image_changed(self) -> None:
        img = self.scene.image
        self.cancel_all()
        if img is not None:
            self.vp.set_image_size(img.size)
            self._auto_fit = True
            self._focus = None
        if self.leader is not None:
            self._follow()
        else:
            self._view_changed()

    def _follow(self) -> None:
        self.vp.set_view_size(self.viewport().width(), self.viewport().height(), self.devicePixelRatioF())
        self.vp.follow(self.leader.vp)
        self.viewport().update()
        self.viewChanged.emit()

    def _view_changed(self, sync_bars: bool = True, repaint: bool = True) -> None:
        if sync_bars:
            self._sync_scrollbars()
        if repaint:
            self.viewport().update()
        self.viewChanged.emit()
        self.schedule_request()

    def schedule_request(self) -> None:
        if self.leader is None:
            self._settle.start()
        elif not self.leader._settle.isActive():
            self._settle.start()

    def fit(self) -> None:
        if self.leader is not None:
            return self.leader.fit()
        self.vp.fit()
        self._auto_fit = True
        self._focus = None
        self._view_changed()

    def set_physical_zoom(self, physical: float, pos: Optional[QPointF] = None) -> None:
        """Zoom to ``physical`` screen pixels per image pixel (1.0 = 100 %)."""
        if self.leader is not None:
            return self.leader.set_physical_zoom(physical)
        self._auto_fit = False
        if pos is None:
            self.vp.set_physical_scale(physical)
            self._focus = None
        else:
            self.vp.set_physical_scale(physical, pos.x(), pos.y())
            self._focus = self.vp.screen_to_image(pos.x(), pos.y())
        self._view_changed()

    def zoom_at(self, factor: float, sx: Optional[float] = None, sy: Optional[float] = None) -> None:
        """Zoom by ``factor`` keeping the image point under screen point ``(sx, sy)`` fixed."""
        if self.leader is not None:
            lx, ly = self._to_leader(sx, sy)
            return self.leader.zoom_at(factor, lx, ly)
        self._auto_fit = False
        self.vp.zoom_at(factor, sx, sy)
        self._focus = None if sx is None or sy is None else self.vp.screen_to_image(sx, sy)
        self._view_changed()

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` screen pixels."""
        if self.leader is not None:
            r = self.vp.link_ratio(self.leader.vp)
            return self.leader.pan_by(dx / r, dy / r)
        self._auto_fit = False
        # Move by whole logical pixels only (the rest is carried to the next pan): the frame
        # already painted is then still exact after a shift, so Qt can scroll it and only the
        # newly exposed strip is painted.
        tx, ty = self._pan_rest[0] + dx, self._pan_rest[1] + dy
        ix, iy = round(tx), round(ty)
        self._pan_rest = (tx - ix, ty - iy)
        if ix == 0 and iy == 0:
            return
        self._focus = None
        vp = self.vp
        cx, cy = vp.cx, vp.cy
        vp.pan_by(ix, iy)
        sx, sy = (cx - vp.cx) * vp.scale, (cy - vp.cy) * vp.scale   # after clamping
        w, h = self.viewport().width(), self.viewport().height()
        if (vp.dpr == int(vp.dpr) and abs(sx - round(sx)) < 1e-6 and abs(sy - round(sy)) < 1e-6
                and abs(sx) < w and abs(sy) < h):
            self._scroll_frame(int(round(sx)), int(round(sy)))
            self._view_changed(repaint=False)
        else:
            self._view_changed()

    def _scroll_frame(self, dx: int, dy: int) -> None:
        """Shift the painted frame by ``(dx, dy)``; repaint the exposed strip and the overlays
        (labels, divider, banner stay where they are on screen)."""
        vp = self.viewport()
        vp.scroll(dx, dy)
        for r in self._overlay_rects:
            vp.update(r.toAlignedRect().adjusted(-1, -1, 1, 1))
            vp.update(r.translated(dx, dy).toAlignedRect().adjusted(-1, -1, 1, 1))

    def _to_leader(self, sx, sy) -> Tuple[Optional[float], Optional[float]]:
        if sx is None or sy is None:
            return None, None
        r = self.vp.link_ratio(self.leader.vp)
        return ((sx - self.vp.view_w / 2) / r + self.leader.vp.view_w / 2,
                (sy - self.vp.view_h / 2) / r + self.leader.vp.view_h / 2)

    # -- scroll bars (range: the image's extent in screen pixels beyond the view) --
    def _sync_scrollbars(self) -> None:
        if self.leader is not None:
            return
        self._syncing = True
        try:
            vp = self.vp
            for bar, extent, view, centre in ((self.horizontalScrollBar(), vp.image_w * vp.scale, vp.view_w, vp.cx),
                                              (self.verticalScrollBar(), vp.image_h * vp.scale, vp.view_h, vp.cy)):
                if self.scene.image is None or extent <= view + 0.5:
                    bar.setRange(0, 0)
                    continue
                bar.setRange(0, int(round(extent - view)))
                bar.setPageStep(int(view))
                bar.setSingleStep(max(1, int(view / 20)))
                bar.setValue(int(round(centre * vp.scale - view / 2)))
        finally:
            self._syncing = False

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        """Scroll bar moves are handled by :meth:`_on_hscroll`/:meth:`_on_vscroll` (the
        default would repaint the whole view, even when the bars only follow a pan)."""

    def _on_hscroll(self, value: int) -> None:
        if not self._syncing and self.scene.image is not None:
            self._auto_fit = False
            self.vp.cx = (value + self.vp.view_w / 2) / self.vp.scale
            self.vp.centre_on(self.vp.cx, self.vp.cy)
            self._view_changed(sync_bars=False)

    def _on_vscroll(self, value: int) -> None:
        if not self._syncing and self.scene.image is not None:
            self._auto_fit = False
            self.vp.cy = (value + self.vp.view_h / 2) / self.vp.scale
            self.vp.centre_on(self.vp.cx, self.vp.cy)
            self._view_changed(sync_bars=False)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        vw, vh = self.viewport().width(), self.viewport().height()
        if self.leader is not None:
            self._follow()
            self._settle.start()
            return
        self.vp.set_view_size(vw, vh, self.devicePixelRatioF())
        if self._auto_fit:
            self.vp.fit()
        self._view_changed()

    # ------------------------------------------------------------------ geometry --------
    def slot_screen_rect(self, slot: RenderSlot) -> QRectF:
        """The part of the widget (logical pixels) where ``slot`` is drawn."""
        w, h = float(self.viewport().width()), float(self.viewport().height())
        if self.leader is not None:
            lr = self.leader.vp.visible_rect()
            x, y, rw, rh = self.vp.screen_rect_of(lr)
            return QRectF(x, y, rw, rh).intersected(QRectF(0, 0, w, h))
        if self.split:
            d = self.divider * w
            return QRectF(0, 0, d, h) if slot.index == 0 else QRectF(d, 0, w - d, h)
        return QRectF(0, 0, w, h)

    def slot_visible_image_rect(self, slot: RenderSlot) -> Optional[ImageRect]:
        """The image rectangle (image coordinates) visible in ``slot``, clipped to the image."""
        if self.scene.image is None:
            return None
        r = self.slot_screen_rect(slot)
        if r.isEmpty():
            return None
        x0, y0 = self.vp.screen_to_image(r.left(), r.top())
        x1, y1 = self.vp.screen_to_image(r.right(), r.bottom())
        return ImageRect(x0, y0, x1, y1).intersect(ImageRect(0.0, 0.0, float(self.vp.image_w), float(self.vp.image_h)))

    def current_level(self) -> int:
        return level_for_scale(self.vp.physical_scale)

    def image_point_at(self, sx: float, sy: float) -> Tuple[float, float]:
        return self.vp.screen_to_image(sx, sy)

    # ------------------------------------------------------------------ requests --------
    def request_visible(self) -> None:
        """Ask the worker for the visible, uncached level pixels of every slot (see module doc)."""
        self._settle.stop()
        if self.scene.image is None:
            return
        if self.leader is not None and not self.isVisible():
            self.cancel_all()   # a hidden comparison pane asks for nothing
            return
        for slot in self.slots:
            self._request_slot(slot)
        self.batch_done = 0
        self.batch_total = sum(i.n_tiles - i.n_done for i in self.live_requests())
        self.progressChanged.emit(self.batch_done, self.batch_total)
        self.settled.emit()

    def _request_slot(self, slot: RenderSlot) -> None:
        img = self.scene.image
        k = self.current_level()
        vis = self.slot_visible_image_rect(slot)
        want = None
        if k > 0 and vis is not None and slot.source is not None:
            want = visible_level_rect(img.size, k, vis)
        for gen, inf in list(slot.live.items()):
            if want is None or inf.level != k or inf.source != slot.source or not want.contains(inf.rect):
                self.scene.bridge.cancel(inf.key)
                del slot.live[gen]
        if want is None:
            return
        session = self.scene.session(slot.source)
        if session is None:
            return
        in_flight = [i.rect for i in slot.live.values()]
        missing = self.scene.tile_layer.missing(slot.source, k, want, in_flight)
        if len(missing) > MAX_REQUESTS_PER_SLOT:
            missing = [bounding_rect(missing)]
        # Where the user looks (the zoom anchor, else the middle) comes first, as a small
        # focus tile of its own, so the first super-resolved pixels appear quickly even where
        # a full tile takes long (CPU); the rest follows nearest first.
        H, W = level_size(img.size, k)
        fx, fy = self._focus_point()
        cy, cx = min(max(fy * H / img.size[0], want.top), want.bottom), min(max(fx * W / img.size[1], want.left), want.right)
        half = max(16, self.tile_size // 4)
        focus = PixelRect(int(cy) - half, int(cx) - half, int(cy) + half, int(cx) + half).intersect(want)
        ordered = order_centre_first(missing, cy, cx)
        if focus is not None and self.scene.tile_layer.missing(slot.source, k, focus, in_flight) == [focus]:
            rest = [q for piece in missing for q in piece.subtract(focus)]
            if len(rest) <= MAX_REQUESTS_PER_SLOT + 3:
                ordered = [focus] + order_centre_first(rest, cy, cx)
        for r in ordered:
            gen = self.scene.next_generation()
            key = (self.view_id, slot.index, gen)
            region = level_rect_region(img.size, k, r)
            req = RenderRequest(generation=gen, key=key, region=region, out_size=(r.height, r.width),
                                tile_size=self.tile_size)
            n = len(plan_tiles(region, (r.height, r.width), self.tile_size))
            slot.live[gen] = InFlight(key, gen, slot.source, k, r, n)
            self.scene.bridge.submit(session, req)

    def _focus_point(self) -> Tuple[float, float]:
        """Image point the user is looking at: the anchor of the last zoom, else the middle."""
        src = self.leader if self.leader is not None else self
        if src._focus is not None:
            return src._focus
        return src.vp.cx, src.vp.cy

    def cancel_all(self) -> None:
        self._settle.stop()
        for slot in self.slots:
            for inf in slot.live.values():
                self.scene.bridge.cancel(inf.key)
            slot.live.clear()
        self.batch_done = self.batch_total = 0
        self.progressChanged.emit(0, 0)

    def live_requests(self) -> List[InFlight]:
        return [i for s in self.slots for i in s.live.values()]

    def is_complete(self) -> bool:
        """Nothing pending, and every slot's visible pixels at the current level are rendered
        (slots without a source, at level 0, or whose source failed to load are skipped)."""
        if self._settle.isActive() or self.live_requests():
            return False
        k = self.current_level()
        for slot in self.slots:
            vis = self.slot_visible_image_rect(slot)
            if k == 0 or slot.source is None or vis is None or self.scene.source_error(slot.source):
                continue
            if not self.scene.tile_layer.covers(slot.source, k, visible_level_rect(self.scene.image.size, k, vis)):
                return False
        return True

    def accept_tile(self, tile) -> Optional[str]:
        """Store a tile of a live request (returns its source), or drop a stale one (None)."""
        key = tile.key
        if not (isinstance(key, tuple) and len(key) == 3 and 0 <= key[1] < len(self.slots)):
            return None
        inf = self.slots[key[1]].live.get(tile.generation)
        if inf is None or inf.key != key:
            return None
        spec = tile.spec
        rect = PixelRect(inf.rect.top + spec.top, inf.rect.left + spec.left,
                         inf.rect.top + spec.top + spec.height, inf.rect.left + spec.left + spec.width)
        if tuple(tile.pixels.shape[:2]) != (spec.height, spec.width) or not inf.rect.contains(rect):
            return None
        self.scene.tile_layer.add(inf.source, inf.level, rect, qimage_from_rgb8(tile.pixels))
        inf.n_done += 1
        self.batch_done += 1
        self.progressChanged.emit(self.batch_done, max(self.batch_total, self.batch_done))
        self.scene.tileAdded.emit(inf.source, inf.level, rect)
        return inf.source

    def request_done(self, key, message, cancelled: bool) -> None:
        if isinstance(key, tuple) and 0 <= key[1] < len(self.slots):
            inf = self.slots[key[1]].live.get(key[2])
            if inf is not None and inf.key == key:
                del self.slots[key[1]].live[key[2]]
                if not self.live_requests():
                    self.batch_done = self.batch_total
                self.progressChanged.emit(self.batch_done, self.batch_total)

    def _on_tile_added(self, source: str, level: int, rect: PixelRect) -> None:
        """Repaint where a new tile of a source shown here lands."""
        if source not in self.sources or self.scene.image is None:
            return
        H, W = level_size(self.scene.image.size, level)
        t = self._image_transform(W, H)
        r = t.mapRect(QRectF(rect.left, rect.top, rect.width, rect.height))
        self.viewport().update(r.toAlignedRect().adjusted(-2, -2, 2, 2))

    # ------------------------------------------------------------------ painting --------
    def paintEvent(self, ev) -> None:
        dpr = self.devicePixelRatioF()
        if dpr != self.vp.dpr:   # moved to a screen with another pixel density: new render level
            self.vp.set_view_size(self.vp.view_w, self.vp.view_h, dpr)
            self.schedule_request()
        p = QPainter(self.viewport())
        try:
            rects = list(ev.region())
            if not 1 < len(rects) <= 24:   # e.g. the L-shaped strip of a diagonal pan, plus overlays
                rects = [ev.rect()]
            for r in rects:
                p.save()
                p.setClipRect(r)
                self.paint(p, QRectF(r))
                p.restore()
        finally:
            p.end()

    def paint(self, p: QPainter, area: Optional[QRectF] = None) -> None:
        """Paint the view with ``p`` (a widget or an offscreen image of the view's size);
        ``area`` (logical pixels, default: everything) bounds what needs painting."""
        w, h = float(self.viewport().width()), float(self.viewport().height())
        full = QRectF(0, 0, w, h)
        area = full if area is None else area.intersected(full)
        self._overlay_rects = []
        p.fillRect(area, BACKGROUND)
        img = self.scene.image
        if img is None:
            if self.leader is None:
                self._paint_centred_text(p, "Open an image (Ctrl+O) or drop one here")
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        if self.leader is not None:
            self._paint_preview(p)
        for slot in self.slots:
            r = self.slot_screen_rect(slot).intersected(area)
            if r.isEmpty():
                continue
            p.save()
            p.setClipRect(r)
            self._paint_slot(p, slot, r)
            p.restore()
        self._paint_overlays(p, w, h)

    def _image_transform(self, img_w: float, img_h: float) -> QTransform:
        """Transform from the pixel grid of a ``img_w x img_h`` rendition of the whole image to the screen."""
        vp = self.vp
        s = vp.scale
        return QTransform(s * vp.image_w / img_w, 0.0, 0.0, s * vp.image_h / img_h,
                          vp.view_w / 2 - vp.cx * s, vp.view_h / 2 - vp.cy * s)

    def _paint_slot(self, p: QPainter, slot: RenderSlot, r: QRectF) -> None:
        """Paint ``slot`` where it meets screen rectangle ``r``."""
        x0, y0 = self.vp.screen_to_image(r.left(), r.top())
        x1, y1 = self.vp.screen_to_image(r.right(), r.bottom())
        vis = ImageRect(x0, y0, x1, y1).intersect(ImageRect(0.0, 0.0, float(self.vp.image_w), float(self.vp.image_h)))
        if vis is None:
            return
        size = self.scene.image.size
        k = self.current_level()
        src = slot.source
        layer = self.scene.tile_layer
        covered = False
        if k > 0 and src is not None:
            want = visible_level_rect(size, k, vis)
            covered = want is not None and layer.covers(src, k, want)
        if not covered:
            if self.leader is None:
                self._paint_preview(p, vis)
            if src is not None:
                others = [lv for lv in layer.levels(src) if lv != k]
                for lv in sorted(others, key=lambda lv: -abs(lv - k)):
                    self._paint_level(p, src, lv, vis)
        if k > 0 and src is not None:
            self._paint_level(p, src, k, vis)

    def _paint_level(self, p: QPainter, source: str, level: int, vis: ImageRect) -> None:
        size = self.scene.image.size
        within = visible_level_rect(size, level, vis)
        if within is None:
            return
        patches = self.scene.tile_layer.patches(source, level, within)
        if not patches:
            return
        H, W = level_size(size, level)
        p.save()
        p.setWorldTransform(self._image_transform(W, H))
        for patch in patches:
            p.drawImage(QPointF(patch.rect.left, patch.rect.top), patch.image)
        p.restore()

    def _paint_preview(self, p: QPainter, vis: Optional[ImageRect] = None) -> None:
        """The image itself, smooth-scaled (a pyramid level when zoomed out), over ``vis``
        (image coordinates; default: all that is visible)."""
        data = self.scene.image
        ps = self.vp.physical_scale
        j = 0
        if ps < 1.0:
            j = min(len(data.pyramid) - 1, int(math.floor(math.log2(1.0 / ps) + 1e-9)))
        im = data.pyramid[j]
        iw, ih = im.width(), im.height()
        vis = vis or self.vp.visible_image_rect()
        if vis is None:
            return
        fx, fy = iw / self.vp.image_w, ih / self.vp.image_h
        x0 = max(0, int(math.floor(vis.x0 * fx)) - 2)
        y0 = max(0, int(math.floor(vis.y0 * fy)) - 2)
        x1 = min(iw, int(math.ceil(vis.x1 * fx)) + 2)
        y1 = min(ih, int(math.ceil(vis.y1 * fy)) + 2)
        src = QRectF(x0, y0, x1 - x0, y1 - y0)
        p.save()
        p.setWorldTransform(self._image_transform(iw, ih))
        p.drawImage(src, im, src)
        p.restore()

    def _paint_overlays(self, p: QPainter, w: float, h: float) -> None:
        cat = self.scene.catalog
        if self.leader is not None:
            self._overlay_rects.append(QRectF(0, 0, w, h))
            r = self.slot_screen_rect(self.slots[0])
            path = QPainterPath()
            path.addRect(QRectF(0, 0, w, h))
            inner = QPainterPath()
            inner.addRect(r)
            p.fillPath(path.subtracted(inner), QColor(0, 0, 0, 120))
        if self.split:
            d = self.divider * w
            self._overlay_rects.append(QRectF(d - 12, 0, 24, h))
            p.setPen(QPen(QColor(255, 255, 255, 220), 2))
            p.drawLine(QPointF(d, 0), QPointF(d, h))
            p.setBrush(QColor(255, 255, 255, 230))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(QPointF(d, h / 2), 9, 9)
            p.setPen(QPen(QColor(60, 60, 60), 2))
            p.drawLine(QPointF(d - 4, h / 2), QPointF(d - 1, h / 2 - 3))
            p.drawLine(QPointF(d - 4, h / 2), QPointF(d - 1, h / 2 + 3))
            p.drawLine(QPointF(d + 4, h / 2), QPointF(d + 1, h / 2 - 3))
            p.drawLine(QPointF(d + 4, h / 2), QPointF(d + 1, h / 2 + 3))
            self._paint_label(p, cat.label(self.slots[0].source), QPointF(10, 10), left=True)
            self._paint_label(p, cat.label(self.slots[1].source), QPointF(w - 10, 10), left=False)
        elif self.label_overlay:
            self._paint_label(p, cat.label(self.slots[0].source), QPointF(8, 8), left=True)
        msg = self.message
        if msg is None:
            for slot in self.slots:
                err = self.scene.source_error(slot.source)
                if err:
                    msg = f"{cat.label(slot.source)} could not be used: {err}. Showing a bicubic preview."
                    break
        if msg:
            self._paint_banner(p, msg, w, h)

    def _paint_label(self, p: QPainter, text: str, at: QPointF, left: bool) -> None:
        f = QFont(self.font())
        f.setBold(True)
        p.setFont(f)
        fm = p.fontMetrics()
        tw, th = fm.horizontalAdvance(text) + 16, fm.height() + 8
        x = at.x() if left else at.x() - tw
        box = QRectF(x, at.y(), tw, th)
        self._overlay_rects.append(box)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(box, 5, 5)
        p.setPen(QColor(255, 255, 255))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_banner(self, p: QPainter, text: str, w: float, h: float) -> None:
        fm = p.fontMetrics()
        margin = 12
        box = QRectF(margin, 0, w - 2 * margin, 0)
        br = fm.boundingRect(QRect(0, 0, int(box.width()) - 20, 1000), int(Qt.TextFlag.TextWordWrap), text)
        box.setTop(h - margin - br.height() - 14)
        box.setHeight(br.height() + 14)
        self._overlay_rects.append(box)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(120, 70, 0, 210))
        p.drawRoundedRect(box, 6, 6)
        p.setPen(QColor(255, 255, 255))
        p.drawText(box.adjusted(10, 7, -10, -7), int(Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignVCenter), text)

    def _paint_centred_text(self, p: QPainter, text: str) -> None:
        p.setPen(QColor(180, 180, 185))
        p.drawText(QRectF(0, 0, self.viewport().width(), self.viewport().height()),
                   Qt.AlignmentFlag.AlignCenter, text)

    # ------------------------------------------------------------------ input -----------
    def wheelEvent(self, ev) -> None:
        if self.scene.image is None:
            return
        pos = ev.position()
        angle = ev.angleDelta()
        pixel = ev.pixelDelta()
        if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            d = angle.y() or angle.x()
            self.pan_by(d / 2.0, 0.0)
        elif angle.x() and not angle.y() and not pixel.isNull():
            self.pan_by(pixel.x(), 0.0)      # trackpad: sideways swipe pans
        elif angle.y():
            self.zoom_at(WHEEL_STEP ** (angle.y() / 120.0), pos.x(), pos.y())
        ev.accept()

    def viewportEvent(self, ev) -> bool:
        if ev.type() == QEvent.Type.NativeGesture and self.scene.image is not None:
            g = ev.gestureType()
            pos = ev.position()
            if g == Qt.NativeGestureType.ZoomNativeGesture:
                self.zoom_at(math.exp(ev.value()), pos.x(), pos.y())
                return True
            if g == Qt.NativeGestureType.SmartZoomNativeGesture:
                if self.vp.physical_scale > self.vp.fit_scale * self.vp.dpr * 1.01:
                    self.fit()
                else:
                    self.zoom_at(2.0, pos.x(), pos.y())
                return True
        return super().viewportEvent(ev)

    def _near_divider(self, x: float) -> bool:
        return self.split and abs(x - self.divider * self.viewport().width()) <= DIVIDER_GRAB_PX

    def mousePressEvent(self, ev) -> None:
        if ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag_pos = ev.position()
            self._drag_divider = ev.button() == Qt.MouseButton.LeftButton and self._near_divider(ev.position().x())
            if not self._drag_divider:
                self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            ev.accept()
        else:
            super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev) -> None:
        pos = ev.position()
        if self._drag_pos is not None:
            if self._drag_divider:
                w = max(1, self.viewport().width())
                self.divider = min(max(pos.x() / w, 0.02), 0.98)
                self.viewport().update()
                self.schedule_request()
            else:
                d = pos - self._drag_pos
                self.pan_by(d.x(), d.y())
            self._drag_pos = pos
        elif self._near_divider(pos.x()):
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
        else:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        if self.scene.image is not None:
            ix, iy = self.vp.screen_to_image(pos.x(), pos.y())
            inside = 0 <= ix < self.vp.image_w and 0 <= iy < self.vp.image_h
            self.hoverChanged.emit((ix, iy) if inside else None)
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev) -> None:
        if self._drag_pos is not None:
            self._drag_pos = None
            self._drag_divider = False
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            ev.accept()
        else:
            super().mouseReleaseEvent(ev)

    def mouseDoubleClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and self.scene.image is not None and not self._near_divider(ev.position().x()):
            self.zoom_at(2.0, ev.position().x(), ev.position().y())
            ev.accept()

    def leaveEvent(self, ev) -> None:
        self.hoverChanged.emit(None)
        super().leaveEvent(ev)

    def keyPressEvent(self, ev) -> None:
        step = 0.5 if ev.modifiers() & Qt.KeyboardModifier.ShiftModifier else 0.125
        w, h = self.viewport().width(), self.viewport().height()
        moves = {Qt.Key.Key_Left: (w * step, 0), Qt.Key.Key_Right: (-w * step, 0),
                 Qt.Key.Key_Up: (0, h * step), Qt.Key.Key_Down: (0, -h * step)}
        if ev.key() in moves and self.scene.image is not None:
            self.pan_by(*moves[ev.key()])
            ev.accept()
        else:
            super().keyPressEvent(ev)
