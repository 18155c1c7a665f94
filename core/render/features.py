"""Per-LR-pixel precomputed values computed lazily in low-resolution tiles with a halo, cached
by bytes (LRU).

The LR image is cut into a grid of ``tile x tile`` pixels. What is cached per tile is the
model's precompute (:meth:`cisr_zoom.core.models.decoder.GridDecoder.precompute`: ``D`` values
per LR pixel, channels last); for LIIF, encoder + first INN layer's feature part.

Exactness: a precomputed value depends on the input within the descriptor's
``receptive_radius`` pixels (LIIF with EDSR-baseline: 34 for the encoder, one per 3x3 conv, plus
one for the 3x3 feature unfolding). Tiles are encoded from a crop of the input grown by
``halo = receptive_radius`` pixels on every side (clipped at the true image border). At the
true border the crop ends where the image ends, so the encoder's zero padding and LIIF's
zero-padded unfold see exactly what they see on the whole image; at an inner crop edge the zero
padding disturbs only pixels within ``halo`` of it, and those are discarded. Tiled and
whole-image values therefore agree up to float rounding (measured in tests and by
``cisr bench``). A model without a known radius is encoded whole (one tile).

Missing tiles that one request needs are encoded together, in boxes of at most
``max_box x max_box`` LR pixels, so the halo is paid per box, not per tile.

**Eviction by distance.** While a *focus* is set (the LR pixel the user looks at: the centre
of the view being rendered, or of the encode-ahead), a full cache drops the tiles farthest
from it first; without one, the least recently used. :meth:`FeatureTiles.ahead_step` encodes
the missing tiles nearest the focus, one bounded box per call, and stops once the budget holds
only tiles nearer than every missing one (so encoding ahead never evicts what it would need
again first).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch

TileKey = Tuple[int, int]
Encoder = Callable[[int, int, int, int], torch.Tensor]


class FeatureTiles:
    """LRU cache of projected-feature tiles.

    ``compute(y0, y1, x0, x1)`` must return the projected features of LR pixels
    ``[y0, y1) x [x0, x1)`` as ``(y1-y0, x1-x0, D)`` (it handles the halo itself).
    ``budget_bytes`` bounds the cache; tiles a call is using are kept alive by that call even
    if evicted, so one call may briefly exceed the budget by its own window.
    """

    def __init__(self, compute: Encoder, lr_size: Tuple[int, int], tile: int = 48,
                 budget_bytes: int = 512 * 2**20, max_box: int = 192, bytes_per_pixel: int = 0):
        self.compute = compute
        self.bytes_per_pixel = int(bytes_per_pixel)  # of one cached LR pixel, for prefetch sizing
        self.h, self.w = int(lr_size[0]), int(lr_size[1])
        self.tile = max(1, int(tile))
        self.budget_bytes = int(budget_bytes)
        self.max_box = max(self.tile, int(max_box))
        self.n_rows = math.ceil(self.h / self.tile)
        self.n_cols = math.ceil(self.w / self.tile)
        self._tiles: "OrderedDict[TileKey, torch.Tensor]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()
        #: ``(y, x)`` LR pixel eviction measures distances from (None: least recently used first)
        self.focus: Optional[Tuple[float, float]] = None
        self.encode_calls = 0     # encoder runs (boxes), for statistics
        self.encode_seconds = 0.0  # wall-clock seconds spent in ``compute``, for statistics

    # -- bookkeeping -----------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._tiles)

    def clear(self) -> None:
        with self._lock:
            self._tiles.clear()
            self._bytes = 0

    def tile_bounds(self, key: TileKey) -> Tuple[int, int, int, int]:
        """LR pixel bounds ``(y0, y1, x0, x1)`` of tile ``key = (row, col)``."""
        ty, tx = key
        t = self.tile
        return ty * t, min(self.h, (ty + 1) * t), tx * t, min(self.w, (tx + 1) * t)

    def keys_for(self, y0: int, y1: int, x0: int, x1: int) -> List[TileKey]:
        """Tiles covering LR pixels ``[y0, y1) x [x0, x1)`` (clipped to the image)."""
        y0, x0 = max(0, y0), max(0, x0)
        y1, x1 = min(self.h, y1), min(self.w, x1)
        if y1 <= y0 or x1 <= x0:
            return []
        t = self.tile
        return [(ty, tx) for ty in range(y0 // t, (y1 - 1) // t + 1) for tx in range(x0 // t, (x1 - 1) // t + 1)]

    def _insert(self, key: TileKey, value: torch.Tensor) -> None:
        old = self._tiles.pop(key, None)
        if old is not None:
            self._bytes -= old.numel() * old.element_size()
        self._tiles[key] = value
        self._bytes += value.numel() * value.element_size()

    def _distance(self, key: TileKey, focus: Tuple[float, float]) -> float:
        """Squared distance (LR pixels) from ``focus`` to the centre of tile ``key``."""
        y0, y1, x0, x1 = self.tile_bounds(key)
        dy, dx = (y0 + y1) / 2.0 - focus[0], (x0 + x1) / 2.0 - focus[1]
        return dy * dy + dx * dx

    def _evict(self) -> None:
        if self._bytes <= self.budget_bytes:
            return
        focus = self.focus
        if focus is None:
            order = list(self._tiles)                                       # least recently used first
        else:
            order = sorted(self._tiles, key=lambda k: -self._distance(k, focus))   # farthest first
        for key in order:
            if self._bytes <= self.budget_bytes:
                break
            v = self._tiles.pop(key)
            self._bytes -= v.numel() * v.element_size()

    # -- computing -------------------------------------------------------------------------
    def _boxes(self, missing: Iterable[TileKey], max_box: Optional[int] = None) -> List[Tuple[int, int, int, int]]:
        """Group missing tiles into boxes (tile units ``ty0, ty1, tx0, tx1``) of at most
        ``max_box`` (default :attr:`max_box`) LR pixels a side, each holding a missing tile."""
        missing = set(missing)
        if not missing:
            return []
        ty0 = min(k[0] for k in missing)
        ty1 = max(k[0] for k in missing) + 1
        tx0 = min(k[1] for k in missing)
        tx1 = max(k[1] for k in missing) + 1
        step = max(1, (max_box or self.max_box) // self.tile)
        out = []
        for by in range(ty0, ty1, step):
            for bx in range(tx0, tx1, step):
                box = (by, min(ty1, by + step), bx, min(tx1, bx + step))
                if any(box[0] <= k[0] < box[1] and box[2] <= k[1] < box[3] for k in missing):
                    out.append(box)
        return out

    def ensure(self, keys: Iterable[TileKey], max_box: Optional[int] = None) -> Dict[TileKey, torch.Tensor]:
        """Return the tiles ``keys``, computing the missing ones (grouped in boxes of at most
        ``max_box`` LR pixels a side, default :attr:`max_box`)."""
        keys = list(keys)
        with self._lock:
            got: Dict[TileKey, torch.Tensor] = {}
            missing = []
            for k in keys:
                v = self._tiles.get(k)
                if v is None:
                    missing.append(k)
                else:
                    self._tiles.move_to_end(k)
                    got[k] = v
            want = set(missing)
            for ty0, ty1, tx0, tx1 in self._boxes(missing, max_box):
                y0, _, x0, _ = self.tile_bounds((ty0, tx0))
                _, y1, _, x1 = self.tile_bounds((ty1 - 1, tx1 - 1))
                t0 = time.perf_counter()
                try:
                    block = self.compute(y0, y1, x0, x1)
                finally:
                    self.encode_seconds += time.perf_counter() - t0
                self.encode_calls += 1
                for ty in range(ty0, ty1):
                    for tx in range(tx0, tx1):
                        if (ty, tx) not in want:
                            continue
                        a0, a1, b0, b1 = self.tile_bounds((ty, tx))
                        tile = block[a0 - y0:a1 - y0, b0 - x0:b1 - x0].contiguous()
                        got[(ty, tx)] = tile
                        self._insert((ty, tx), tile)
                del block
                self._evict()
            return got

    def missing_pixels(self, y0: int, y1: int, x0: int, x1: int) -> int:
        """LR pixels of the tiles under ``[y0, y1) x [x0, x1)`` that are not cached."""
        with self._lock:
            total = 0
            for k in self.keys_for(y0, y1, x0, x1):
                if k not in self._tiles:
                    a0, a1, b0, b1 = self.tile_bounds(k)
                    total += (a1 - a0) * (b1 - b0)
            return total

    def encode_box(self, y0: int, y1: int, x0: int, x1: int, within: Tuple[int, int, int, int],
                   max_box: Optional[int] = None) -> bool:
        """Encode, in one box of at most ``max_box`` (default :attr:`max_box`) LR pixels a side
        (whole tiles, at least one), missing tiles that LR
        pixels ``[y0, y1) x [x0, x1)`` need: the box is centred on them and grown within
        ``within = (y0, y1, x0, x1)`` (LR pixels; e.g. the rest of the view), so the halo is
        paid once for the neighbours too. Returns False when nothing was missing (no work);
        call again until then (a range wider than one box takes several calls)."""
        with self._lock:
            need = [k for k in self.keys_for(y0, y1, x0, x1) if k not in self._tiles]
            if not need:
                return False
            step = max(1, min(self.max_box, max_box or self.max_box) // self.tile)
            wy0, wy1, wx0, wx1 = within
            t = self.tile
            lo_y, hi_y = max(0, min(wy0, y0)) // t, (max(1, min(self.h, max(wy1, y1))) - 1) // t
            lo_x, hi_x = max(0, min(wx0, x0)) // t, (max(1, min(self.w, max(wx1, x1))) - 1) // t

            def span(a: int, b: int, lo: int, hi: int) -> range:
                if b - a + 1 >= step:
                    return range(a, a + step)
                start = min(max(lo, a - (step - (b - a + 1)) // 2), max(lo, hi - step + 1))
                return range(max(start, lo), min(start + step, hi + 1))
            ky0 = min(k[0] for k in need)
            rows = span(ky0, min(max(k[0] for k in need), ky0 + step - 1), lo_y, hi_y)
            first = [k for k in need if k[0] in rows]
            kx0 = min(k[1] for k in first)
            cols = span(kx0, min(max(k[1] for k in first), kx0 + step - 1), lo_x, hi_x)
            box = [(ty, tx) for ty in rows for tx in cols if (ty, tx) not in self._tiles]
            self.ensure(box, step * t)
            self._evict()
            return True

    def ahead_step(self, max_box: Optional[int] = None) -> bool:
        """Encode ahead of need: one box (at most ``max_box`` LR pixels a side) around the
        missing tile nearest :attr:`focus` (the image centre when none), grown within the
        image. False, with no work done, when every tile is cached or the budget is full of
        tiles nearer the focus than any missing one."""
        with self._lock:
            focus = self.focus if self.focus is not None else (self.h / 2.0, self.w / 2.0)
            missing = [(ty, tx) for ty in range(self.n_rows) for tx in range(self.n_cols)
                       if (ty, tx) not in self._tiles]
            if not missing:
                return False
            nearest = min(missing, key=lambda k: self._distance(k, focus))
            y0, y1, x0, x1 = self.tile_bounds(nearest)
            need = (y1 - y0) * (x1 - x0) * (self.bytes_per_pixel or self._bytes_per_pixel())
            if self._tiles and self._bytes + need > self.budget_bytes:
                farthest = max(self._distance(k, focus) for k in self._tiles)
                if self._distance(nearest, focus) >= farthest:
                    return False
            prev, self.focus = self.focus, focus
            try:
                return self.encode_box(y0, y1, x0, x1, (0, self.h, 0, self.w), max_box=max_box)
            finally:
                self.focus = prev

    def window(self, y0: int, y1: int, x0: int, x1: int) -> Tuple[torch.Tensor, int, int]:
        """Features of LR pixels covering ``[y0, y1) x [x0, x1)`` as ``(tensor, r0, c0)``: an
        ``(R, C, D)`` tensor whose element ``[i, j]`` is LR pixel ``(r0 + i, c0 + j)``. When the
        range lies in one tile, that whole tile is returned without copying."""
        keys = self.keys_for(y0, y1, x0, x1)
        tiles = self.ensure(keys)
        if len(keys) == 1:
            a0, _, b0, _ = self.tile_bounds(keys[0])
            return tiles[keys[0]], a0, b0
        y0, x0 = max(0, y0), max(0, x0)
        y1, x1 = min(self.h, y1), min(self.w, x1)
        any_tile = next(iter(tiles.values()))
        dtype = any_tile.dtype
        for v in tiles.values():          # a tile kept wider (float16 overflow) widens the window
            dtype = torch.promote_types(dtype, v.dtype)
        out = torch.empty((y1 - y0, x1 - x0, any_tile.shape[-1]), dtype=dtype, device=any_tile.device)
        for k in keys:
            a0, a1, b0, b1 = self.tile_bounds(k)
            r0, r1, c0, c1 = max(a0, y0), min(a1, y1), max(b0, x0), min(b1, x1)
            out[r0 - y0:r1 - y0, c0 - x0:c1 - x0] = tiles[k][r0 - a0:r1 - a0, c0 - b0:c1 - b0]
        return out, y0, x0

    def prefetch(self, y0: int, y1: int, x0: int, x1: int, max_fraction: float = 0.5) -> bool:
        """Compute the tiles under ``[y0, y1) x [x0, x1)`` in large boxes, unless they would take
        more than ``max_fraction`` of the budget (then nothing is done). Returns True if done."""
        keys = self.keys_for(y0, y1, x0, x1)
        with self._lock:
            missing = [k for k in keys if k not in self._tiles]
            if not missing:
                return True
            d_bytes = self.bytes_per_pixel or self._bytes_per_pixel()
            need = sum((b[1] - b[0]) * (b[3] - b[2]) for b in map(self.tile_bounds, keys)) * d_bytes
            if d_bytes and need > max_fraction * self.budget_bytes:
                return False
            self.ensure(keys)
            return True

    def _bytes_per_pixel(self) -> int:
        for v in self._tiles.values():
            return v.shape[-1] * v.element_size()
        return 0

