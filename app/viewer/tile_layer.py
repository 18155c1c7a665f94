"""TileLayer: super-resolved pixels already rendered, as QImages, bounded in bytes (LRU).

A patch is the pixels of one :class:`~.geometry.PixelRect` of one level's output grid,
rendered by one *source* (a model id, or ``"bicubic"``). Patches are keyed by
``(source, level, rect)``; requests are exact visible rectangles, so patches of a level may
overlap and need not align to a grid. Lives on the GUI thread only.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
from PySide6.QtGui import QImage

from cisr_zoom.core.render.levels import PixelRect, subtract_all

DEFAULT_BUDGET_BYTES = 384 * 2 ** 20


def qimage_from_rgb8(pixels: np.ndarray) -> QImage:
    """A QImage (Format_RGB32, owning its memory) from a ``(h, w, 3)`` uint8 array."""
    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = arr.shape[:2]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected (h, w, 3) uint8 pixels, got shape {arr.shape}")
    view = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return view.convertToFormat(QImage.Format.Format_RGB32)  # a deep copy in the painter's native format


@dataclass
class Patch:
    source: str
    level: int
    rect: PixelRect
    image: QImage
    nbytes: int


class TileLayer:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES):
        self.budget_bytes = int(budget_bytes)
        self.bytes_used = 0
        self._lru: "OrderedDict[Tuple[str, int, PixelRect], Patch]" = OrderedDict()
        self._by_level: Dict[Tuple[str, int], Dict[PixelRect, Patch]] = {}
        self.version = 0  # bumped on every change (paint caches depend on it)

    def __len__(self) -> int:
        return len(self._lru)

    def add(self, source: str, level: int, rect: PixelRect, image: QImage) -> Patch:
        if image.width() != rect.width or image.height() != rect.height:
            raise ValueError(f"image {image.width()}x{image.height()} does not match {rect}")
        key = (source, level, rect)
        if key in self._lru:
            self._remove(key)
        nbytes = image.sizeInBytes()
        p = Patch(source, level, rect, image, nbytes)
        self._lru[key] = p
        self._by_level.setdefault((source, level), {})[rect] = p
        self.bytes_used += nbytes
        self.version += 1
        while self.bytes_used > self.budget_bytes and len(self._lru) > 1:
            self._remove(next(iter(self._lru)))
        return p

    def _remove(self, key) -> None:
        p = self._lru.pop(key)
        d = self._by_level.get((p.source, p.level))
        if d is not None:
            d.pop(p.rect, None)
            if not d:
                del self._by_level[(p.source, p.level)]
        self.bytes_used -= p.nbytes
        self.version += 1

    def clear(self) -> None:
        self._lru.clear()
        self._by_level.clear()
        self.bytes_used = 0
        self.version += 1

    def drop_level(self, source: str, level: int) -> None:
        """Forget every patch of ``source`` at ``level`` (the app bench re-renders a level)."""
        for p in list(self._by_level.get((source, level), {}).values()):
            self._remove((p.source, p.level, p.rect))

    def levels(self, source: str) -> List[int]:
        return sorted(level for (s, level) in self._by_level if s == source)

    def patches(self, source: str, level: int, within: Optional[PixelRect] = None, touch: bool = True) -> List[Patch]:
        """Patches of a level (those intersecting ``within``, if given), oldest first;
        ``touch`` marks them recently used."""
        d = self._by_level.get((source, level))
        if not d:
            return []
        if within is None:
            out = list(d.values())
        else:
            t, l, b, r = within.top, within.left, within.bottom, within.right
            out = [p for p in d.values()
                   if p.rect.top < b and p.rect.bottom > t and p.rect.left < r and p.rect.right > l]
        if touch:
            for p in out:
                self._lru.move_to_end((p.source, p.level, p.rect))
        return out

    def missing(self, source: str, level: int, rect: PixelRect,
                also_covered: Iterable[PixelRect] = ()) -> List[PixelRect]:
        """Parts of ``rect`` that no patch of the level covers (nor ``also_covered``)."""
        holes = [p.rect for p in self.patches(source, level, rect, touch=False)]
        holes.extend(also_covered)
        return subtract_all(rect, holes)

    def covers(self, source: str, level: int, rect: PixelRect) -> bool:
        return not self.missing(source, level, rect)
