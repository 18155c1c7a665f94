"""Render levels, integer pixel rectangles on a level's output grid, and image rectangles.

A *level* ``k`` is a discrete zoom ``2 ** (k / 4)`` physical output pixels per image pixel
(four levels per octave). Its full output grid is ``round(h * 2**(k/4)) x round(w * 2**(k/4))``
pixels covering the whole continuous image; a tile or request is a :class:`PixelRect` on that
grid. Level 0 (zoom <= about 1.09) is the image itself: nothing is super-resolved there.
The view draws a level's pixels with a small residual scale (between 0.92 and 1.09).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

import numpy as np

from ..coords import Region, region_of_pixels, scale_to_size

LEVELS_PER_OCTAVE = 4
#: Highest level: 2**(28/4) = 128x.
MAX_LEVEL = 28


def level_for_scale(physical_scale: float) -> int:
    """The level closest (in log scale) to ``physical_scale``; 0 when no upscaling is needed."""
    if physical_scale <= 1.0:
        return 0
    k = int(round(LEVELS_PER_OCTAVE * math.log2(physical_scale)))
    return min(max(k, 0), MAX_LEVEL)


def level_scale(level: int) -> float:
    return 2.0 ** (level / LEVELS_PER_OCTAVE)


def level_size(image_size: Tuple[int, int], level: int) -> Tuple[int, int]:
    """``(H, W)`` of the level's full output grid for an ``(h, w)`` image."""
    s = level_scale(level)
    return scale_to_size(image_size, (s, s))


@dataclass(frozen=True)
class ImageRect:
    """An axis-aligned rectangle in image coordinates: input pixels, origin at the image's
    top-left corner, pixel ``(i, j)`` covering ``[j, j+1) x [i, i+1)`` (floats, edges)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def intersect(self, other: "ImageRect") -> "ImageRect | None":
        x0, y0 = max(self.x0, other.x0), max(self.y0, other.y0)
        x1, y1 = min(self.x1, other.x1), min(self.y1, other.y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return ImageRect(x0, y0, x1, y1)

    def contains(self, other: "ImageRect", tol: float = 0.0) -> bool:
        return (other.x0 >= self.x0 - tol and other.y0 >= self.y0 - tol
                and other.x1 <= self.x1 + tol and other.y1 <= self.y1 + tol)


@dataclass(frozen=True, order=True)
class PixelRect:
    """Half-open integer rectangle ``[top, bottom) x [left, right)`` on a level grid."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def area(self) -> int:
        return max(0, self.height) * max(0, self.width)

    def is_empty(self) -> bool:
        return self.bottom <= self.top or self.right <= self.left

    def intersect(self, o: "PixelRect") -> Optional["PixelRect"]:
        r = PixelRect(max(self.top, o.top), max(self.left, o.left), min(self.bottom, o.bottom), min(self.right, o.right))
        return None if r.is_empty() else r

    def contains(self, o: "PixelRect") -> bool:
        return o.top >= self.top and o.left >= self.left and o.bottom <= self.bottom and o.right <= self.right

    def subtract(self, o: "PixelRect") -> List["PixelRect"]:
        """``self`` minus ``o`` as at most four disjoint rectangles."""
        i = self.intersect(o)
        if i is None:
            return [self]
        out = []
        if i.top > self.top:
            out.append(PixelRect(self.top, self.left, i.top, self.right))
        if i.bottom < self.bottom:
            out.append(PixelRect(i.bottom, self.left, self.bottom, self.right))
        if i.left > self.left:
            out.append(PixelRect(i.top, self.left, i.bottom, i.left))
        if i.right < self.right:
            out.append(PixelRect(i.top, i.right, i.bottom, self.right))
        return out

    def centre(self) -> Tuple[float, float]:
        return (self.top + self.bottom) / 2.0, (self.left + self.right) / 2.0


def subtract_all(rect: PixelRect, holes: Iterable[PixelRect]) -> List[PixelRect]:
    """``rect`` minus the union of ``holes``, as disjoint rectangles.

    Coordinate compression: the edges of the holes cut ``rect`` into a grid of cells, each
    either covered or not (numpy), then uncovered cells are merged into row runs and runs of
    equal extent in consecutive rows into rectangles. Linear in the number of holes plus
    cells, so painting stays cheap with hundreds of cached tiles on screen."""
    clipped = [c for c in (rect.intersect(h) for h in holes) if c is not None]
    if not clipped:
        return [rect]
    ys = np.unique(np.array([rect.top, rect.bottom] + [c.top for c in clipped] + [c.bottom for c in clipped]))
    xs = np.unique(np.array([rect.left, rect.right] + [c.left for c in clipped] + [c.right for c in clipped]))
    covered = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    for c in clipped:
        covered[np.searchsorted(ys, c.top):np.searchsorted(ys, c.bottom),
                np.searchsorted(xs, c.left):np.searchsorted(xs, c.right)] = True
    if covered.all():
        return []
    out: List[PixelRect] = []
    open_runs: dict = {}   # (x0, x1) -> top row index of a rectangle still growing downwards
    for i in range(covered.shape[0]):
        row = ~covered[i]
        runs = set()
        j = 0
        n = row.shape[0]
        while j < n:
            if row[j]:
                k = j
                while k < n and row[k]:
                    k += 1
                runs.add((j, k))
                j = k
            else:
                j += 1
        for run in list(open_runs):
            if run not in runs:
                top = open_runs.pop(run)
                out.append(PixelRect(int(ys[top]), int(xs[run[0]]), int(ys[i]), int(xs[run[1]])))
        for run in runs:
            open_runs.setdefault(run, i)
    for run, top in open_runs.items():
        out.append(PixelRect(int(ys[top]), int(xs[run[0]]), int(ys[-1]), int(xs[run[1]])))
    return out


def bounding_rect(rects: Iterable[PixelRect]) -> Optional[PixelRect]:
    rects = list(rects)
    if not rects:
        return None
    return PixelRect(min(r.top for r in rects), min(r.left for r in rects),
                     max(r.bottom for r in rects), max(r.right for r in rects))


def visible_level_rect(image_size: Tuple[int, int], level: int, visible: ImageRect) -> Optional[PixelRect]:
    """Level pixels needed to cover ``visible`` (image coordinates), clipped to the image:
    every pixel that is at least partly visible, and no other."""
    H, W = level_size(image_size, level)
    h, w = image_size
    sy, sx = H / h, W / w
    eps = 1e-9
    top = max(0, int(math.floor(visible.y0 * sy + eps)))
    left = max(0, int(math.floor(visible.x0 * sx + eps)))
    bottom = min(H, int(math.ceil(visible.y1 * sy - eps)))
    right = min(W, int(math.ceil(visible.x1 * sx - eps)))
    r = PixelRect(top, left, bottom, right)
    return None if r.is_empty() else r


def level_rect_to_image(image_size: Tuple[int, int], level: int, r: PixelRect) -> ImageRect:
    """A level rectangle in image coordinates."""
    H, W = level_size(image_size, level)
    h, w = image_size
    return ImageRect(r.left * w / W, r.top * h / H, r.right * w / W, r.bottom * h / H)


def level_rect_region(image_size: Tuple[int, int], level: int, r: PixelRect) -> Region:
    """A level rectangle as a ``core.coords`` region ``(y0, x0, y1, x1)`` in ``[-1, 1]``."""
    return region_of_pixels(level_size(image_size, level), r.top, r.left, r.height, r.width)


def order_centre_first(rects: Iterable[PixelRect], cy: float, cx: float) -> List[PixelRect]:
    """Sort by the distance from ``(cy, cx)`` (level pixels) to each rectangle's nearest point."""
    def dist(r: PixelRect) -> float:
        dy = max(r.top - cy, 0.0, cy - r.bottom)
        dx = max(r.left - cx, 0.0, cx - r.right)
        return dy * dy + dx * dx
    return sorted(rects, key=dist)
