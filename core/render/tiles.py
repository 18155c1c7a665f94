"""Output tile grids: a view (region + output size) cut into tiles, nearest a focus point first.

Tile ``(top, left, height, width)`` is in output pixels of the request; its ``region`` is the
rectangle of the continuous image ``[-1, 1]^2`` those pixels cover (see
:mod:`cisr_zoom.core.coords`), so rendering each tile's region at its own size gives the same
pixels as rendering the whole view at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..coords import Region, sub_region


@dataclass(frozen=True)
class TileSpec:
    top: int
    left: int
    height: int
    width: int
    region: Region


def plan_tiles(region: Region, out_size: Tuple[int, int], tile_size: int = 256,
               focus: Optional[Tuple[float, float]] = None) -> List[TileSpec]:
    """Cut an ``out_size = (H, W)`` render of ``region`` into tiles of ``tile_size`` pixels
    (smaller at the right and bottom edges), ordered by the distance of their centre from
    ``focus`` (``(y, x)`` in output pixels, may lie outside; default the centre of the view;
    ties: top to bottom, left to right)."""
    H, W = int(out_size[0]), int(out_size[1])
    t = int(tile_size)
    if H < 1 or W < 1 or t < 1:
        raise ValueError(f"need positive sizes, got out_size={out_size!r}, tile_size={tile_size!r}")
    cy, cx = (H / 2.0, W / 2.0) if focus is None else (float(focus[0]), float(focus[1]))
    specs = []
    for top in range(0, H, t):
        for left in range(0, W, t):
            h, w = min(t, H - top), min(t, W - left)
            d = (top + h / 2.0 - cy) ** 2 + (left + w / 2.0 - cx) ** 2
            specs.append((d, top, left, TileSpec(top, left, h, w, sub_region(region, (H, W), top, left, h, w))))
    specs.sort(key=lambda s: s[:3])
    return [s[3] for s in specs]
