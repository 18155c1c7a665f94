"""Outputs at or below the input's size: an antialiased resample of the image, no network.

Super-resolution adds detail between input pixels; an output with at most one pixel per input
pixel (on both axes) has no room for it, so running a model there only costs time and memory
(an 81-megapixel photo reduced to 64x64 would encode all 81 megapixels). :func:`is_reduction`
says when that is the case, and :class:`ResampledSource` renders it instead: every output pixel
is a weighted mean of the input pixels around its centre, with the bicubic kernel (a = -0.5)
stretched by the reduction factor (the antialiased resize of Pillow and of
``torch.nn.functional.interpolate(antialias=True)``), so no aliasing; at exactly 1x it returns
the image's own pixels. Weights depend only on each output pixel's centre, so an export's bands
and chunks join seamlessly. ``cisr upscale``, the application's export and the viewer (whose
level 0 is the image itself, :mod:`.levels`) all use no model at or below 1x.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

import numpy as np

from ..coords import Region, output_size

StopFn = Optional[Callable[[], bool]]
#: input columns per step of the vertical pass (bounds the temporary copy of the image)
_COLUMN_BLOCK = 1024


def is_reduction(region: Region, out_size, lr_size: Tuple[int, int]) -> bool:
    """True when ``region`` (of an ``lr_size = (h, w)`` image) rendered at ``out_size`` has at
    most one output pixel per input pixel on both axes."""
    y0, x0, y1, x1 = region
    H, W = output_size(out_size)
    h, w = lr_size
    return H <= (y1 - y0) / 2.0 * h * (1 + 1e-9) and W <= (x1 - x0) / 2.0 * w * (1 + 1e-9)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' bicubic kernel, a = -0.5 (support 2)."""
    a = -0.5
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


def axis_weights(n_out: int, start: float, stop: float, n_in: int) -> Tuple[np.ndarray, int]:
    """``(weights (n_out, k), first)``: output pixel ``i`` (centres evenly spread over
    ``[start, stop]`` in ``[-1, 1]`` coordinates of an axis of ``n_in`` input pixels) is
    ``weights[i] @ input[first:first + k]``."""
    span = (stop - start) / 2.0 * n_in                   # input pixels the outputs cover
    centres = (start + 1.0) / 2.0 * n_in + span * (np.arange(n_out) + 0.5) / n_out   # in input pixels
    f = min(1.0, n_out / max(span, 1e-12))               # output pixels per input pixel (<= 1)
    radius = 2.0 / f
    first = max(0, int(math.floor(centres[0] - radius - 0.5)))
    last = min(n_in, int(math.ceil(centres[-1] + radius + 0.5)) + 1)
    j = np.arange(first, last) + 0.5                      # input pixel centres
    w = _cubic((j[None, :] - centres[:, None]) * f)
    total = w.sum(axis=1, keepdims=True)
    w /= np.where(total == 0, 1.0, total)                 # edges: the weights inside the image
    return w.astype(np.float32), first


class NothingToEncode:
    """The feature half of the :class:`~.sources.RenderSource` protocol for sources that read
    the image directly (bicubic, resampling): nothing to prepare or encode."""

    encode_seconds = 0.0

    def prefetch(self, region, should_stop: StopFn = None, max_fraction: float = 0.5) -> bool:
        """Nothing to prepare: the image is read directly."""
        return True

    def encode_step(self, region, within=None, should_stop: StopFn = None) -> bool:
        """Nothing to encode."""
        return False

    def uncached_pixels(self, region) -> int:
        """Nothing to encode."""
        return 0


class ResampledSource(NothingToEncode):
    """A :class:`~.sources.RenderSource` of an image reduced (or kept at 1x) by antialiased
    resampling; it encodes nothing. ``image``: a LoadedImage or an ``(h, w, 3)`` float array."""

    precision = "float32"

    def __init__(self, image):
        rgb = getattr(image, "rgb", image)
        self._rgb = np.asarray(rgb, dtype=np.float32)
        self.alpha: Optional[np.ndarray] = getattr(image, "alpha", None)
        self.lr_size: Tuple[int, int] = (int(self._rgb.shape[0]), int(self._rgb.shape[1]))

    def _resample(self, pixels: np.ndarray, region: Region, out_size, should_stop: StopFn) -> np.ndarray:
        from .session import RenderCancelled
        H, W = output_size(out_size)
        y0, x0, y1, x1 = region
        h, w = self.lr_size
        wy, r0 = axis_weights(H, y0, y1, h)
        wx, c0 = axis_weights(W, x0, x1, w)
        rows, cols = pixels[r0:r0 + wy.shape[1]], wx.shape[1]
        tail = pixels.shape[2:]
        tmp = np.empty((H, cols) + tail, dtype=np.float32)
        for c in range(0, cols, _COLUMN_BLOCK):           # vertical pass, a block of columns at a time
            if should_stop is not None and should_stop():
                raise RenderCancelled()
            block = rows[:, c0 + c:c0 + min(cols, c + _COLUMN_BLOCK)]
            tmp[:, c:c + block.shape[1]] = np.tensordot(wy, block, axes=(1, 0))
        out = np.tensordot(tmp, wx, axes=(1, 1))          # (H, *tail, W)
        out = np.moveaxis(out, -1, 1)
        return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)

    def render(self, region, out_size, should_stop: StopFn = None) -> np.ndarray:
        return self._resample(self._rgb, region, out_size, should_stop)

    def render_alpha(self, region, out_size) -> Optional[np.ndarray]:
        if self.alpha is None:
            return None
        return self._resample(np.asarray(self.alpha, dtype=np.float32), region, out_size, None)



def reduction_source(image, region: Region, out_size, lr_size: Tuple[int, int]) -> Optional[ResampledSource]:
    """A :class:`ResampledSource` of ``image`` when ``region`` at ``out_size`` is a reduction
    (:func:`is_reduction`), else None (the model renders it)."""
    if image is None or not is_reduction(region, out_size, lr_size):
        return None
    return ResampledSource(image)
