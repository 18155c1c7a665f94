"""Rows in, strips out: the streaming writers take rows in any number and write strips of a
fixed height (TIFF strips, a pyramid's tile rows)."""

from __future__ import annotations

from typing import Iterator, List, Optional

import numpy as np


class Strips:
    """Gathers rows ``(n, W, C)`` into strips of ``height`` rows (each a new array)."""

    def __init__(self, height: int):
        self.height = int(height)
        self._parts: List[np.ndarray] = []
        self._rows = 0

    def add(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        """Take ``rows``; yields every strip they complete."""
        i = 0
        while i < rows.shape[0]:
            take = min(rows.shape[0] - i, self.height - self._rows)
            self._parts.append(rows[i:i + take])
            self._rows += take
            i += take
            if self._rows == self.height:
                yield self._take()

    def rest(self) -> Optional[np.ndarray]:
        """The last, shorter strip (None: nothing left)."""
        return self._take() if self._rows else None

    def _take(self) -> np.ndarray:
        parts = self._parts
        strip = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0].copy()
        self._parts, self._rows = [], 0
        return strip
