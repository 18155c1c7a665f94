"""Coordinate and cell conventions shared by rendering, export, the CLI and training.

The continuous image is the square ``[-1, 1] x [-1, 1]``. Coordinates are stored as
``(y, x)`` pairs (row first, as in LIIF): ``y = -1`` is the top edge, ``x = -1`` the left edge.

* Pixel ``i`` of an axis with ``n`` pixels has its centre at ``-1 + (2 i + 1) / n``.
* The *cell* of an output grid is the size of one of its pixels in the same units:
  ``(2 / H_out, 2 / W_out)``. For an ``h x w`` low-resolution input shown at scale
  ``(s_y, s_x)`` that is ``(2 / (h s_y), 2 / (w s_x))``.
* A *region* is a rectangle ``(y0, x0, y1, x1)`` of that square (edges, not centres);
  an ``H x W`` grid over it has centres ``y0 + (y1 - y0) (2 i + 1) / (2 H)``.
"""

from __future__ import annotations

import math

from typing import Sequence, Tuple

import torch

Region = Tuple[float, float, float, float]
FULL_REGION: Region = (-1.0, -1.0, 1.0, 1.0)


def pixel_centers(n: int, v0: float = -1.0, v1: float = 1.0, dtype=torch.float32, device=None) -> torch.Tensor:
    """Centres of ``n`` equal pixels covering ``[v0, v1]``: ``v0 + (v1 - v0) (2 i + 1) / (2 n)``."""
    if n <= 0:
        raise ValueError(f"need at least one pixel, got {n}")
    r = (v1 - v0) / (2 * n)
    return v0 + r + 2 * r * torch.arange(n, dtype=torch.float64, device=device).to(dtype)


def make_coord(shape: Sequence[int], region: Region = FULL_REGION, flatten: bool = True,
               dtype=torch.float32, device=None) -> torch.Tensor:
    """Pixel-centre coordinates of an ``H x W`` grid over ``region``.

    Returns ``(H*W, 2)`` (``flatten=True``) or ``(H, W, 2)``, last axis ``(y, x)``.
    With the default region this equals the official LIIF ``make_coord``.
    """
    h, w = int(shape[0]), int(shape[1])
    y0, x0, y1, x1 = region
    ys = pixel_centers(h, y0, y1, dtype, device)
    xs = pixel_centers(w, x0, x1, dtype, device)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)
    return grid.reshape(-1, 2) if flatten else grid


def make_cell(out_shape: Sequence[int], region: Region = FULL_REGION, n: int | None = None,
              dtype=torch.float32, device=None) -> torch.Tensor:
    """Cell size ``((y1-y0)/H, (x1-x0)/W)`` of an ``H x W`` grid over ``region``.

    For the full image that is ``(2/H, 2/W)``. Returns shape ``(2,)``, or ``(n, 2)`` when
    ``n`` is given (one row per query point).
    """
    h, w = int(out_shape[0]), int(out_shape[1])
    y0, x0, y1, x1 = region
    cell = torch.tensor([(y1 - y0) / h, (x1 - x0) / w], dtype=dtype, device=device)
    return cell if n is None else cell.expand(n, 2).clone()


def scale_to_size(lr_size: Tuple[int, int], scale: Tuple[float, float]) -> Tuple[int, int]:
    """Output ``(H, W)`` for an ``(h, w)`` input at scale ``(s_y, s_x)``: ``round(h s_y)``, at least 1."""
    h, w = lr_size
    return max(1, int(round(h * scale[0]))), max(1, int(round(w * scale[1])))


# -- pixel rectangles -> regions: the only place these conversions are written ----------------

def _along(v0: float, v1: float, k: float, n: float) -> float:
    """Edge ``k`` of ``n`` equal pixels covering ``[v0, v1]`` (exactly ``v0``/``v1`` at the ends)."""
    if k == 0:
        return v0
    if k == n:
        return v1
    return v0 + (v1 - v0) * k / n


def region_of_rect(size: Tuple[float, float], y0: float, x0: float, y1: float, x1: float) -> Region:
    """The region of the pixel rectangle with edges ``[y0, y1) x [x0, x1)`` (pixel units, may
    be fractional or outside the image) of a grid of ``size = (h, w)`` pixels spanning the
    whole image (an image in its own pixels, or a full-image output grid)."""
    h, w = size
    return (_along(-1.0, 1.0, y0, h), _along(-1.0, 1.0, x0, w), _along(-1.0, 1.0, y1, h), _along(-1.0, 1.0, x1, w))


def region_of_pixels(full_size: Tuple[int, int], top: int, left: int, height: int, width: int) -> Region:
    """The region covered by output pixels ``[top, top+height) x [left, left+width)``
    of a full output grid of size ``full_size = (H, W)`` spanning the whole image."""
    return region_of_rect(full_size, top, left, top + height, left + width)


def sub_region(region: Region, out_size: Tuple[int, int], top: int, left: int, height: int, width: int) -> Region:
    """The part of ``region`` covered by output pixels ``[top, top+height) x [left, left+width)``
    of an ``out_size = (H, W)`` grid over it."""
    y0, x0, y1, x1 = region
    H, W = out_size
    return (_along(y0, y1, top, H), _along(x0, x1, left, W), _along(y0, y1, top + height, H),
            _along(x0, x1, left + width, W))


def lr_pixels_under(region: Region, lr_size: Tuple[int, int], margin: int = 1) -> Tuple[int, int, int, int]:
    """LR pixel rows and columns ``(r0, r1, c0, c1)`` (half-open, clipped to the image, never
    empty) under ``region`` of an ``lr_size = (h, w)`` image, plus ``margin`` pixels on every
    side (1: what the local ensemble or a resampling kernel may touch)."""
    y0, x0, y1, x1 = (float(v) for v in region)
    h, w = int(lr_size[0]), int(lr_size[1])
    r0 = max(0, math.floor((y0 + 1) / 2 * h) - margin)
    r1 = min(h, math.ceil((y1 + 1) / 2 * h) + margin)
    c0 = max(0, math.floor((x0 + 1) / 2 * w) - margin)
    c1 = min(w, math.ceil((x1 + 1) / 2 * w) + margin)
    return r0, max(r1, r0 + 1), c0, max(c1, c0 + 1)


def output_size(out_size) -> Tuple[int, int]:
    """``(H, W)`` in pixels from a ``(height, width)`` pair; :class:`~.errors.SizeError` (a
    ``ValueError`` too) for anything else or a side below 1."""
    from .errors import SizeError
    try:
        H, W = int(out_size[0]), int(out_size[1])
    except (TypeError, ValueError, IndexError):
        raise SizeError(f"invalid output size {out_size!r}: expected (height, width)") from None
    if H < 1 or W < 1:
        raise SizeError(f"invalid output size {W}x{H}: both sides must be at least 1 pixel")
    return H, W
