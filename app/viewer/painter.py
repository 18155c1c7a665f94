"""ViewPainter: paints a :class:`~.zoom_view.ZoomView` from the best pixels available.

Never waits: the smooth-scaled preview of the image (a box-filtered pyramid when zoomed
out), then super-resolved patches of other levels of the same source (farthest first), then
the patches of the current level on top. When the current level covers the visible area,
only its patches are drawn. Overlays (source labels, split divider, the cross marking the
cursor of another view of the group, banner) come last.

Coordinates: the widget's logical pixels; a level's patches are drawn through
:meth:`ViewPainter.image_transform` from that level's output grid to the screen.
"""

from __future__ import annotations

import math
from typing import List, Optional

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QTransform

from cisr_zoom.core.render.levels import ImageRect, level_size, visible_level_rect

BACKGROUND = QColor(38, 38, 40)
MARKER_PX = 9      # half size of the cross marking the cursor of another view


class ViewPainter:
    """Paints one view (reads its viewport, slots and scene; changes nothing of them)."""

    def __init__(self, view):
        self.view = view
        self.overlay_rects: List[QRectF] = []   # where overlays were painted last (logical px)

    def paint(self, p: QPainter, area: Optional[QRectF] = None) -> None:
        """Paint the view with ``p`` (a widget or an offscreen image of the view's size);
        ``area`` (logical pixels, default: everything) bounds what needs painting.
        :attr:`overlay_rects` then holds where overlays were painted."""
        w, h = float(self.view.viewport().width()), float(self.view.viewport().height())
        full = QRectF(0, 0, w, h)
        area = full if area is None else area.intersected(full)
        self.overlay_rects = []
        p.fillRect(area, BACKGROUND)
        img = self.view.scene.image
        if img is None:
            if self.view.follow_mode is None:
                self._paint_centred_text(p, "Open an image (Ctrl+O) or drop one here")
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        for slot in self.view.slots:
            r = self.view.slot_screen_rect(slot).intersected(area)
            if r.isEmpty():
                continue
            p.save()
            p.setClipRect(r)
            self._paint_slot(p, slot, r)
            p.restore()
        self._paint_overlays(p, w, h)

    def image_transform(self, img_w: float, img_h: float) -> QTransform:
        """Transform from the pixel grid of a ``img_w x img_h`` rendition of the whole image to the screen."""
        vp = self.view.vp
        s = vp.scale
        return QTransform(s * vp.image_w / img_w, 0.0, 0.0, s * vp.image_h / img_h,
                          vp.view_w / 2 - vp.cx * s, vp.view_h / 2 - vp.cy * s)

    def _paint_slot(self, p: QPainter, slot, r: QRectF) -> None:
        """Paint ``slot`` where it meets screen rectangle ``r``."""
        x0, y0 = self.view.vp.screen_to_image(r.left(), r.top())
        x1, y1 = self.view.vp.screen_to_image(r.right(), r.bottom())
        vis = ImageRect(x0, y0, x1, y1).intersect(ImageRect(0.0, 0.0, float(self.view.vp.image_w), float(self.view.vp.image_h)))
        if vis is None:
            return
        size = self.view.scene.image.size
        k = self.view.current_level()
        src = slot.source
        layer = self.view.scene.tile_layer
        covered = False
        if k > 0 and src is not None:
            want = visible_level_rect(size, k, vis)
            covered = want is not None and layer.covers(src, k, want)
        if not covered:
            self._paint_preview(p, vis)
            if src is not None:
                others = [lv for lv in layer.levels(src) if lv != k]
                for lv in sorted(others, key=lambda lv: -abs(lv - k)):
                    self._paint_level(p, src, lv, vis)
        if k > 0 and src is not None:
            self._paint_level(p, src, k, vis)

    def _paint_level(self, p: QPainter, source: str, level: int, vis: ImageRect) -> None:
        size = self.view.scene.image.size
        within = visible_level_rect(size, level, vis)
        if within is None:
            return
        patches = self.view.scene.tile_layer.patches(source, level, within)
        if not patches:
            return
        H, W = level_size(size, level)
        p.save()
        p.setWorldTransform(self.image_transform(W, H))
        for patch in patches:
            p.drawImage(QPointF(patch.rect.left, patch.rect.top), patch.image)
        p.restore()

    def _paint_preview(self, p: QPainter, vis: Optional[ImageRect] = None) -> None:
        """The image itself, smooth-scaled (a pyramid level when zoomed out), over ``vis``
        (image coordinates; default: all that is visible)."""
        data = self.view.scene.image
        ps = self.view.vp.physical_scale
        j = 0
        if ps < 1.0:
            j = min(len(data.pyramid) - 1, int(math.floor(math.log2(1.0 / ps) + 1e-9)))
        im = data.pyramid[j]
        iw, ih = im.width(), im.height()
        vis = vis or self.view.vp.visible_image_rect()
        if vis is None:
            return
        fx, fy = iw / self.view.vp.image_w, ih / self.view.vp.image_h
        x0 = max(0, int(math.floor(vis.x0 * fx)) - 2)
        y0 = max(0, int(math.floor(vis.y0 * fy)) - 2)
        x1 = min(iw, int(math.ceil(vis.x1 * fx)) + 2)
        y1 = min(ih, int(math.ceil(vis.y1 * fy)) + 2)
        src = QRectF(x0, y0, x1 - x0, y1 - y0)
        p.save()
        p.setWorldTransform(self.image_transform(iw, ih))
        p.drawImage(src, im, src)
        p.restore()

    def _paint_overlays(self, p: QPainter, w: float, h: float) -> None:
        cat = self.view.scene.catalog
        m = self.view.marker_point()
        if m is not None:
            self._paint_marker(p, QPointF(*m))
        if self.view.split:
            d = self.view.divider * w
            self.overlay_rects.append(QRectF(d - 12, 0, 24, h))
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
            self._paint_label(p, cat.label(self.view.slots[0].source), QPointF(10, 10), left=True)
            self._paint_label(p, cat.label(self.view.slots[1].source), QPointF(w - 10, 10), left=False)
        elif self.view.label_overlay:
            self._paint_label(p, cat.label(self.view.slots[0].source), QPointF(8, 8), left=True)
        msg = self.view.message
        if msg is None:
            for slot in self.view.slots:
                err = self.view.scene.source_error(slot.source)
                if err:
                    msg = f"{cat.label(slot.source)} could not be used: {err}. Showing a bicubic preview."
                    break
        if msg:
            self._paint_banner(p, msg, w, h)

    def _paint_marker(self, p: QPainter, at: QPointF) -> None:
        """A small cross (white on a dark outline) where the cursor of another view points."""
        r = MARKER_PX
        self.overlay_rects.append(QRectF(at.x() - r - 2, at.y() - r - 2, 2 * r + 4, 2 * r + 4))
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for pen in (QPen(QColor(0, 0, 0, 170), 3.5), QPen(QColor(255, 255, 255, 235), 1.5)):
            p.setPen(pen)
            p.drawLine(QPointF(at.x() - r, at.y()), QPointF(at.x() - 3, at.y()))
            p.drawLine(QPointF(at.x() + 3, at.y()), QPointF(at.x() + r, at.y()))
            p.drawLine(QPointF(at.x(), at.y() - r), QPointF(at.x(), at.y() - 3))
            p.drawLine(QPointF(at.x(), at.y() + 3), QPointF(at.x(), at.y() + r))
        p.restore()

    def _paint_label(self, p: QPainter, text: str, at: QPointF, left: bool) -> None:
        f = QFont(self.view.font())
        f.setBold(True)
        p.setFont(f)
        fm = p.fontMetrics()
        tw, th = fm.horizontalAdvance(text) + 16, fm.height() + 8
        x = at.x() if left else at.x() - tw
        box = QRectF(x, at.y(), tw, th)
        self.overlay_rects.append(box)
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
        self.overlay_rects.append(box)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(120, 70, 0, 210))
        p.drawRoundedRect(box, 6, 6)
        p.setPen(QColor(255, 255, 255))
        p.drawText(box.adjusted(10, 7, -10, -7), int(Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignVCenter), text)

    def _paint_centred_text(self, p: QPainter, text: str) -> None:
        p.setPen(QColor(180, 180, 185))
        p.drawText(QRectF(0, 0, self.view.viewport().width(), self.view.viewport().height()),
                   Qt.AlignmentFlag.AlignCenter, text)
