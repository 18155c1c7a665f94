"""Viewport: which part of the image a view shows, and how big (pure Python, no Qt).

Units and conventions:

* **Image coordinates** are in input pixels with the origin at the top-left *corner* of the
  image: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)`` (x right, y down). The image spans
  ``[0, w] x [0, h]``. (``core.coords.region_of_rect`` maps this to its ``[-1, 1]`` square.)
* **Screen coordinates** are the widget's logical pixels, origin at its top-left corner.
  A logical pixel is ``dpr`` physical pixels (HiDPI).
* ``scale`` is logical screen pixels per image pixel; ``physical_scale = scale * dpr`` is what
  the zoom percentage shows (100 % = one image pixel per physical screen pixel) and what
  decides the render level.
* ``centre`` is the image point shown at the middle of the widget.

The only constraint on panning is that the middle of the widget stays over the image, so a
zoom anchored at a point of the image keeps that point exactly under the cursor.
"""

from __future__ import annotations

import math
from typing import Tuple

from cisr_zoom.core.render.levels import ImageRect

#: Largest zoom, in physical screen pixels per image pixel.
MAX_PHYSICAL_SCALE = 128.0
#: Zooming out stops at this physical scale, or at "fit" if the image is larger than that.
MIN_PHYSICAL_SCALE = 1.0 / 8.0


class Viewport:
    """Centre and scale of a view of an ``h x w`` image in a ``view_w x view_h`` widget."""

    def __init__(self, image_size: Tuple[int, int] = (1, 1), view_size: Tuple[float, float] = (1.0, 1.0),
                 dpr: float = 1.0):
        self.image_h, self.image_w = int(image_size[0]), int(image_size[1])
        self.view_w, self.view_h = float(view_size[0]), float(view_size[1])
        self.dpr = float(dpr) if dpr > 0 else 1.0
        self.scale = 1.0
        self.cx, self.cy = self.image_w / 2.0, self.image_h / 2.0
        self.fit()

    # -- state ---------------------------------------------------------------------------
    def set_image_size(self, image_size: Tuple[int, int]) -> None:
        """A new image: fit it."""
        self.image_h, self.image_w = max(1, int(image_size[0])), max(1, int(image_size[1]))
        self.fit()

    def set_view_size(self, view_w: float, view_h: float, dpr: float | None = None) -> None:
        """The widget was resized (the image point at its middle stays there)."""
        self.view_w, self.view_h = max(1.0, float(view_w)), max(1.0, float(view_h))
        if dpr is not None and dpr > 0:
            self.dpr = float(dpr)
        self.scale = self._clamp_scale(self.scale)

    # -- limits --------------------------------------------------------------------------
    @property
    def fit_scale(self) -> float:
        """Scale at which the whole image just fits the widget."""
        return min(self.view_w / self.image_w, self.view_h / self.image_h)

    @property
    def min_scale(self) -> float:
        return min(self.fit_scale, MIN_PHYSICAL_SCALE / self.dpr)

    @property
    def max_scale(self) -> float:
        return max(MAX_PHYSICAL_SCALE / self.dpr, self.fit_scale)

    @property
    def physical_scale(self) -> float:
        return self.scale * self.dpr

    def _clamp_scale(self, s: float) -> float:
        return min(max(s, self.min_scale), self.max_scale)

    def _clamp_centre(self) -> None:
        self.cx = min(max(self.cx, 0.0), float(self.image_w))
        self.cy = min(max(self.cy, 0.0), float(self.image_h))

    # -- mapping -------------------------------------------------------------------------
    def screen_to_image(self, sx: float, sy: float) -> Tuple[float, float]:
        return (self.cx + (sx - self.view_w / 2.0) / self.scale,
                self.cy + (sy - self.view_h / 2.0) / self.scale)

    def image_to_screen(self, ix: float, iy: float) -> Tuple[float, float]:
        return ((ix - self.cx) * self.scale + self.view_w / 2.0,
                (iy - self.cy) * self.scale + self.view_h / 2.0)

    def visible_rect(self) -> ImageRect:
        """The image-coordinate rectangle covered by the whole widget (may extend past the image)."""
        x0, y0 = self.screen_to_image(0.0, 0.0)
        x1, y1 = self.screen_to_image(self.view_w, self.view_h)
        return ImageRect(x0, y0, x1, y1)

    def visible_image_rect(self) -> ImageRect | None:
        """The part of the image that is visible (``None`` if none is)."""
        return self.visible_rect().intersect(ImageRect(0.0, 0.0, float(self.image_w), float(self.image_h)))

    def screen_rect_of(self, r: ImageRect) -> Tuple[float, float, float, float]:
        """``(x, y, width, height)`` in screen coordinates of image rectangle ``r``."""
        x0, y0 = self.image_to_screen(r.x0, r.y0)
        return x0, y0, r.width * self.scale, r.height * self.scale

    # -- changes -------------------------------------------------------------------------
    def fit(self) -> None:
        self.scale = self.fit_scale
        self.cx, self.cy = self.image_w / 2.0, self.image_h / 2.0

    def set_scale_at(self, scale: float, sx: float | None = None, sy: float | None = None) -> None:
        """Set the scale keeping the image point under screen point ``(sx, sy)`` (default:
        the middle of the widget) where it is."""
        if sx is None or sy is None:
            sx, sy = self.view_w / 2.0, self.view_h / 2.0
        ix, iy = self.screen_to_image(sx, sy)
        self.scale = self._clamp_scale(scale)
        self.cx = ix - (sx - self.view_w / 2.0) / self.scale
        self.cy = iy - (sy - self.view_h / 2.0) / self.scale
        self._clamp_centre()

    def zoom_at(self, factor: float, sx: float | None = None, sy: float | None = None) -> None:
        """Multiply the scale by ``factor`` anchored at screen point ``(sx, sy)``."""
        if factor > 0 and math.isfinite(factor):
            self.set_scale_at(self.scale * factor, sx, sy)

    def set_physical_scale(self, physical: float, sx: float | None = None, sy: float | None = None) -> None:
        self.set_scale_at(physical / self.dpr, sx, sy)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the image by ``(dx, dy)`` screen pixels (drag direction)."""
        self.cx -= dx / self.scale
        self.cy -= dy / self.scale
        self._clamp_centre()

    def centre_on(self, ix: float, iy: float) -> None:
        self.cx, self.cy = float(ix), float(iy)
        self._clamp_centre()

    def follow_at(self, leader: "Viewport", centre: Tuple[float, float]) -> None:
        """Show ``leader``'s image at ``leader``'s magnification (the same physical scale),
        centred on image point ``centre`` (clamped to the image): used by the comparison panes
        (``centre``: the point under the cursor, a loupe) and the grid's views (``centre``:
        the leader's centre). The mapping to ``leader``'s screen is then a translation, so a
        point anchored in either stays anchored in both."""
        self.image_w, self.image_h = leader.image_w, leader.image_h
        self.scale = leader.physical_scale / self.dpr
        self.centre_on(*centre)

    def link_ratio(self, leader: "Viewport") -> float:
        """Screen pixels of this follower per screen pixel of ``leader`` (1 on one screen)."""
        return self.scale / leader.scale
