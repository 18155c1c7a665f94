"""ZoomView: one view of the image; turns input into :class:`Viewport` changes.

After a short settle (``settle_ms`` without view changes) it tells the scene what each
*slot* shows (a source drawn in part of the view: the whole view, one side of the split, or
a comparison pane or grid view); the scene's
:class:`~cisr_zoom.core.render.planner.RequestPlanner` decides what to render and tracks it.
Painting is :class:`~.painter.ViewPainter`'s job; the view repaints where the scene reports
a new tile of a source it shows.

Views are synchronised through one Qt-free :class:`~.view_group.ViewGroup` that each of them
observes and edits (none reads another view): the main view (:data:`MAIN`, whose viewport is the
group's camera), comparison panes (:data:`LOUPE`, centred on the pointer, else on the camera's
centre) and grid views (:data:`MIRROR`, on the camera's centre), all at the camera's
magnification. Zoom and pan anywhere edit the group; the *pointer* (the image point under the
cursor, in whichever view of the group it is) is the group's too: the other views mark it with a
small cross, and tiles are ordered from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QAbstractScrollArea

from cisr_zoom.core.render.levels import ImageRect, PixelRect, level_for_scale, level_size
from cisr_zoom.core.render.planner import InFlight, SlotState
from cisr_zoom.core.render.worker import OTHER_VIEW, VIEW

from .painter import MARKER_PX, ViewPainter
from .scene import Scene
from .view_group import LOUPE, MAIN, MIRROR, ViewGroup
from .viewport import Viewport

WHEEL_STEP = 2.0 ** (1.0 / 3.0)      # zoom per wheel notch (120 units): three notches per octave
DIVIDER_GRAB_PX = 7



@dataclass(frozen=True)
class RenderSlot:
    """A source drawn in part of the view: ``index`` 0 (whole view or left side) or 1 (right)."""

    index: int
    source: Optional[str]


class ZoomView(QAbstractScrollArea):
    viewChanged = Signal()              # the viewport changed (zoom, pan, resize)
    hoverChanged = Signal(object)       # (x, y) image coordinates under the cursor, or None
    progressChanged = Signal(int, int)  # tiles done, tiles requested since the last settle

    def __init__(self, scene: Scene, view_id: str, parent=None, settle_ms: int = 80, tile_size: Optional[int] = None):
        super().__init__(parent)
        self.scene = scene
        self.view_id = view_id
        self._tile_size = tile_size   # None: the scene's choice for the device
        self.group = ViewGroup()            # its own group, as the main view, until it joins another
        self.mode = MAIN
        self.vp = self.group.camera
        self.slots: List[RenderSlot] = [RenderSlot(0, None)]
        self.split = False
        self.divider = 0.5                  # split position, fraction of the width
        self._marker_rect: Optional[QRectF] = None      # where the pointer's cross was last asked painted
        self.label_overlay = False          # draw the source name(s) over the image
        self.message: Optional[str] = None  # banner text (e.g. no model available)
        self.painter = ViewPainter(self)
        self._drag_pos: Optional[QPointF] = None
        self._drag_divider = False
        self._syncing = False
        self._cursor: Optional[Tuple[float, float]] = None  # screen point of the cursor, None: outside
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
        scene.imageChanged.connect(self._on_image_changed)
        scene.sessionsChanged.connect(self.schedule_request)
        scene.tileAdded.connect(self._on_tile_added)
        scene.progressChanged.connect(self._on_progress)
        self._observe(self.group, MAIN)

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

    @property
    def follow_mode(self) -> Optional[str]:
        """``LOUPE`` or ``MIRROR`` for a view that follows the group's main view; None for the main view."""
        return None if self.mode == MAIN else self.mode

    def join(self, group: ViewGroup, mode: str = LOUPE) -> None:
        """Show ``group``'s image at its magnification: centred on its pointer (``LOUPE``, a
        comparison pane) or on its centre (``MIRROR``, a grid view)."""
        if mode not in (LOUPE, MIRROR):
            raise ValueError(f"unknown follow mode {mode!r}")
        old = self.group
        for event, callback in self._observers():
            getattr(old.events, event).disconnect(callback)
        old.leave(self)
        self.group, self.mode, self.vp = group, mode, Viewport()
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._observe(group, mode)
        self._follow()

    def _observers(self):
        return (("view", self._on_group_view), ("pointer", self._on_pointer), ("settled", self._on_group_settled))

    def _observe(self, group: ViewGroup, mode: str) -> None:
        group.join(self, mode)
        for event, callback in self._observers():
            getattr(group.events, event).connect(callback)

    # ------------------------------------------------------------------ pointer ---------
    def pointer(self) -> Optional[Tuple[float, float]]:
        """The image point under the cursor in any view of this view's group (None: the
        cursor is in none of them)."""
        return self.group.pointer

    def pointer_view(self) -> Optional["ZoomView"]:
        """The view of this view's group the cursor is in (None: none)."""
        return self.group.pointer_member

    def _point(self) -> None:
        """Tell the group where the cursor is in this view (nothing if it is not here)."""
        if self._cursor is not None:
            self.group.point(self, self.vp.screen_to_image(*self._cursor))

    def marker_point(self) -> Optional[Tuple[float, float]]:
        """Screen point where this view marks the pointer: None when the cursor is here
        (it shows itself) or in no view of the group."""
        v = self.pointer_view()
        if v is None or v is self or self.scene.image is None:
            return None
        p = self.pointer()
        return None if p is None else self.vp.image_to_screen(*p)

    def _on_pointer(self) -> None:
        """The group's pointer moved: a loupe re-centres, the cross moves, tiles re-order."""
        if self.mode == LOUPE and self._follow():
            self.schedule_request()
        self._update_marker()
        self._refocus()

    def _on_group_view(self, shift: Optional[Tuple[int, int]]) -> None:
        """The group's centre or scale changed: the main view shows it (scrolling the painted
        frame by ``shift`` when that is exact), the others follow; the pointer is where the
        cursor now is."""
        if self.mode == MAIN:
            if shift is not None:
                self._scroll_frame(*shift)
            self._view_changed(repaint=shift is None)
        else:
            self._follow()
        if self.group.pointer_member is self:
            self._point()

    def _on_group_settled(self) -> None:
        if self.mode != MAIN:
            self.request_visible()

    def _update_marker(self) -> None:
        m = self.marker_point()
        new = None if m is None else QRectF(m[0] - MARKER_PX - 2, m[1] - MARKER_PX - 2,
                                            2 * MARKER_PX + 4, 2 * MARKER_PX + 4)
        for r in (self._marker_rect, new):
            if r is not None:
                self.viewport().update(r.toAlignedRect().adjusted(-1, -1, 1, 1))
        self._marker_rect = new

    # ------------------------------------------------------------------ view changes ----
    def _on_image_changed(self) -> None:
        img = self.scene.image
        self.cancel_all()
        if self.mode == MAIN:
            if img is not None:
                self.group.set_image(img.size)
            else:
                self._view_changed()
        else:
            self._follow()

    def _follow(self) -> bool:
        """Take the group's magnification and this view's centre; False if nothing changed."""
        vp = self.vp
        before = (vp.cx, vp.cy, vp.scale, vp.view_w, vp.view_h, vp.dpr, vp.image_w, vp.image_h)
        vp.set_view_size(self.viewport().width(), self.viewport().height(), self.devicePixelRatioF())
        vp.follow_at(self.group.camera, self.group.centre_for(self))
        if before == (vp.cx, vp.cy, vp.scale, vp.view_w, vp.view_h, vp.dpr, vp.image_w, vp.image_h):
            return False
        self._marker_rect = None
        self.viewport().update()
        self.viewChanged.emit()
        return True

    def _view_changed(self, sync_bars: bool = True, repaint: bool = True) -> None:
        if sync_bars:
            self._sync_scrollbars()
        if repaint:
            self.viewport().update()
        self.viewChanged.emit()
        self.schedule_request()

    def schedule_request(self) -> None:
        """Ask for tiles after the settle time; a follower waits for the main view's requests
        when those are due (the group tells it when they are made)."""
        if self.mode == MAIN:
            self.group.unsettle()
            self._settle.start()
        elif self.group.settled:
            self._settle.start()

    def fit(self) -> None:
        self.group.fit()

    def set_physical_zoom(self, physical: float, pos: Optional[QPointF] = None) -> None:
        """Zoom to ``physical`` screen pixels per image pixel (1.0 = 100 %), keeping the image
        point at ``pos`` (this view's logical pixels) in place."""
        self.group.set_physical_zoom(physical, None if pos is None else self.vp.screen_to_image(pos.x(), pos.y()))

    def zoom_at(self, factor: float, sx: Optional[float] = None, sy: Optional[float] = None) -> None:
        """Zoom by ``factor`` keeping the image point under screen point ``(sx, sy)`` fixed."""
        self.group.zoom_at(factor, None if sx is None or sy is None else self.vp.screen_to_image(sx, sy))

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` screen pixels of this view."""
        r = self.vp.link_ratio(self.group.camera)
        self.group.pan_by(dx / r, dy / r)

    def _scroll_frame(self, dx: int, dy: int) -> None:
        """Shift the painted frame by ``(dx, dy)``; repaint the exposed strip and the overlays
        (labels, divider, banner stay where they are on screen)."""
        vp = self.viewport()
        vp.scroll(dx, dy)
        for r in self.painter.overlay_rects:
            vp.update(r.toAlignedRect().adjusted(-1, -1, 1, 1))
            vp.update(r.translated(dx, dy).toAlignedRect().adjusted(-1, -1, 1, 1))

    # -- scroll bars (range: the image's extent in screen pixels beyond the view) --
    def _sync_scrollbars(self) -> None:
        if self.mode != MAIN:
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
        self._on_scroll(cx=(value + self.vp.view_w / 2) / self.vp.scale)

    def _on_vscroll(self, value: int) -> None:
        self._on_scroll(cy=(value + self.vp.view_h / 2) / self.vp.scale)

    def _on_scroll(self, cx: float | None = None, cy: float | None = None) -> None:
        """A scroll bar moved: centre the view on the new image point (image pixels)."""
        if self._syncing or self.scene.image is None:
            return
        self.group.centre_on(cx, cy)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        if self.mode != MAIN:
            self._follow()
            self._settle.start()
            return
        self.group.resize(self.viewport().width(), self.viewport().height(), self.devicePixelRatioF())

    # ------------------------------------------------------------------ geometry --------
    def slot_screen_rect(self, slot: RenderSlot) -> QRectF:
        """The part of the widget (logical pixels) where ``slot`` is drawn."""
        w, h = float(self.viewport().width()), float(self.viewport().height())
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
    def slot_states(self) -> List[SlotState]:
        """What each slot shows now, for the scene's planner."""
        k = self.current_level()
        return [SlotState(self.view_id, slot.index, slot.source, k, self.slot_visible_image_rect(slot))
                for slot in self.slots]

    def request_visible(self) -> None:
        """Ask the scene for the visible, uncached level pixels of every slot."""
        self._settle.stop()
        if self.scene.image is None:
            self._settled(False)
            return
        if self.mode != MAIN and not self.isVisible():
            self.cancel_all()   # a hidden comparison pane asks for nothing
            return
        # the main view's tiles first; a loupe's or grid view's after them, never before
        self.scene.request(self.slot_states(), self._focus_point(), self.tile_size,
                           VIEW if self.mode == MAIN else OTHER_VIEW)
        self._settled(True)

    def _settled(self, announce: bool) -> None:
        """The main view's requests are made (``announce``: the group's other views make
        theirs) or dropped."""
        if self.mode == MAIN:
            self.group.settle(announce)

    def _focus_point(self) -> Tuple[float, float]:
        """Image point the user is looking at: under the cursor (in this view or another of
        its group), else the anchor of the group's last zoom (while the cursor has not left a
        view since; not for a loupe, which is centred elsewhere), else the middle of this view."""
        if self._cursor is not None:
            return self.vp.screen_to_image(*self._cursor)
        p = self.pointer()
        if p is not None:
            return p
        if self.group.focus is not None and self.mode != LOUPE:
            return self.group.focus
        return self.vp.cx, self.vp.cy

    def _refocus(self) -> None:
        """The cursor moved: reorder the remaining tiles of the live requests from it."""
        if self.scene.image is not None and self.live_requests():
            self.scene.refocus(self.view_id, self._focus_point())

    def cancel_all(self) -> None:
        self._settle.stop()
        self._settled(False)
        self.scene.cancel_view(self.view_id)

    def live_requests(self) -> List[InFlight]:
        return self.scene.planner.live(self.view_id)

    @property
    def progress(self) -> Tuple[int, int]:
        """``(tiles done, tiles asked)`` since the last settle."""
        return self.scene.planner.progress(self.view_id)

    def is_complete(self) -> bool:
        """Nothing pending, and every slot's visible pixels at the current level are rendered
        (slots without a source, at level 0, or whose source failed to load are skipped)."""
        if self._settle.isActive():
            return False
        return self.scene.image is None or self.scene.is_complete(self.slot_states())

    def _on_progress(self, view_id: str, done: int, total: int) -> None:
        if view_id == self.view_id:
            self.progressChanged.emit(done, total)

    def _on_tile_added(self, source: str, level: int, rect: PixelRect) -> None:
        """Repaint where a new tile of a source shown here lands."""
        if source not in self.sources or self.scene.image is None:
            return
        H, W = level_size(self.scene.image.size, level)
        t = self.painter.image_transform(W, H)
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
        """Paint the view with ``p`` (see :meth:`ViewPainter.paint`)."""
        self.painter.paint(p, area)

    # ------------------------------------------------------------------ input -----------
    def wheelEvent(self, ev) -> None:
        if self.scene.image is None:
            return
        pos = ev.position()
        self._cursor = (pos.x(), pos.y())
        self._point()
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
        self._cursor = (pos.x(), pos.y())
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
        self._point()         # loupes re-centre, the other views move their cross, tiles re-order
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

    def _cursor_gone(self) -> None:
        """The cursor is no longer over this view: forget it and tell the group."""
        self._cursor = None
        self.group.forget_focus()
        self.group.unpoint(self)
        self._refocus()       # outside the view: tiles nearest the view centre first
        self.hoverChanged.emit(None)

    def leaveEvent(self, ev) -> None:
        self._cursor_gone()
        super().leaveEvent(ev)

    def hideEvent(self, ev) -> None:
        # a layout change (grid off, pane closed) hides a view without a Leave event: its
        # cursor must not keep steering the loupes and crosses of the views still shown
        if self._cursor is not None or self.pointer_view() is self:
            self._cursor_gone()
        super().hideEvent(ev)

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
