"""MATLAB-compatible bicubic ``imresize``: how the standard SR benchmarks make their LR inputs.

MATLAB's ``imresize(img, scale)`` / ``imresize(img, [H W])`` with the default ``'bicubic'``
method, reproduced from its documented definition:

* Keys' cubic kernel with ``a = -0.5``::

      k(x) = 1.5|x|^3 - 2.5|x|^2 + 1                 |x| <= 1
             -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2         1 < |x| <= 2
             0                                       otherwise

* Output pixel ``j`` (1-based) maps to input position ``u = j / s + (1 - 1/s) / 2``
  (pixel centres aligned: the image edges coincide).
* When shrinking (``s < 1``) with antialiasing (MATLAB's default), the kernel is stretched
  to ``s * k(s x)`` with support ``4 / s`` input pixels, i.e. it low-passes like an
  area filter.
* Each output pixel takes ``ceil(support) + 2`` input pixels starting at
  ``floor(u - support / 2)``; the weights are normalised to sum to 1; indices outside the
  image are mirrored with the edge pixel repeated (``0 -> 1``, ``-1 -> 2``; symmetric
  padding).
* The two axes are resized one after the other, the axis with the smaller scale factor
  first (rows first on ties), as MATLAB does.
* Given a scale factor the output size is ``ceil(n * s)``; given an output size the
  factor is ``n_out / n_in`` per axis.

Computation is in float64. ``uint8`` input gives ``uint8`` output, rounded and clipped after
each axis as MATLAB's ``uint8`` path does (so a ``uint8`` HR image gives the same LR file as
the published benchmark LR sets; no MATLAB was available to check that bit for bit). Layouts: numpy arrays are ``(H, W)`` or ``(H, W, C)``
(MATLAB's layout); torch tensors are ``(..., H, W)`` (channels first).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

#: tolerance for ``ceil(n * s)``: ``255 * (1 / 3)`` must give 85, not 86
_CEIL_EPS = 1e-9


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``bicubic``)."""
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def contributions(in_len: int, out_len: int, scale: float, antialias: bool = True
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """MATLAB's per-output-pixel weights and (0-based, mirrored) input indices along one axis.

    Returns ``(weights, indices)``, both ``(out_len, P)``; each row of ``weights`` sums to 1.
    """
    if in_len < 1 or out_len < 1:
        raise ValueError(f"image axes must have at least one pixel (in {in_len}, out {out_len})")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    shrink_aa = scale < 1 and antialias
    width = 4.0 / scale if shrink_aa else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)          # 1-based output pixels
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)                  # 1-based input positions
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]   # 1-based
    dist = u[:, None] - idx
    w = scale * cubic(scale * dist) if shrink_aa else cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    # symmetric mirroring of out-of-range indices: 1-based idx -> aux[(idx - 1) mod 2n]
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    mirrored = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    return w, mirrored


@lru_cache(maxsize=64)
def _matrix_cached(in_len: int, out_len: int, scale: float, antialias: bool) -> np.ndarray:
    w, idx = contributions(in_len, out_len, scale, antialias)
    m = np.zeros((out_len, in_len), dtype=np.float64)
    rows = np.repeat(np.arange(out_len), w.shape[1])
    np.add.at(m, (rows, idx.ravel()), w.ravel())
    m.setflags(write=False)
    return m


def resize_matrix(in_len: int, out_len: int, scale: Optional[float] = None, antialias: bool = True) -> np.ndarray:
    """The ``(out_len, in_len)`` float64 matrix ``M`` with ``out = M @ in`` along one axis.

    ``scale`` defaults to ``out_len / in_len`` (MATLAB's rule when an output size is given).
    """
    s = float(out_len) / float(in_len) if scale is None else float(scale)
    return _matrix_cached(int(in_len), int(out_len), s, bool(antialias))


def output_size(in_size: Sequence[int], scale: Union[float, Sequence[float]]) -> Tuple[int, int]:
    """MATLAB's output size for a scale factor: ``ceil(n * s)`` per axis (float noise tolerated)."""
    sy, sx = (scale, scale) if np.isscalar(scale) else tuple(scale)
    return (max(1, int(math.ceil(in_size[0] * sy - _CEIL_EPS))),
            max(1, int(math.ceil(in_size[1] * sx - _CEIL_EPS))))


def _plan(in_hw: Tuple[int, int], scale, size) -> Tuple[Tuple[int, int], Tuple[float, float]]:
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if size is not None:
        out_hw = (int(size[0]), int(size[1]))
        if min(out_hw) < 1:
            raise ValueError(f"output size must be positive, got {out_hw}")
        return out_hw, (out_hw[0] / in_hw[0], out_hw[1] / in_hw[1])
    sy, sx = (float(scale), float(scale)) if np.isscalar(scale) else (float(scale[0]), float(scale[1]))
    if not (sy > 0 and sx > 0):
        raise ValueError(f"scale must be positive, got {scale}")
    return output_size(in_hw, (sy, sx)), (sy, sx)


def imresize(img: ArrayLike, scale: Union[float, Sequence[float], None] = None,
             size: Optional[Sequence[int]] = None, antialias: bool = True) -> ArrayLike:
    """Resize like MATLAB ``imresize(img, scale)`` or ``imresize(img, [H W])`` (bicubic).

    ``img``: numpy ``(H, W)`` / ``(H, W, C)`` or torch ``(..., H, W)``; values are not
    clipped (except for ``uint8`` input). ``scale``: a factor (or ``(s_y, s_x)``), e.g.
    ``1/4`` to make a x4 LR input; ``size``: ``(H_out, W_out)``. Returns the same kind of
    array: numpy float64 (``uint8`` for ``uint8`` input) or a torch tensor of the input's
    floating dtype on its device.
    """
    if isinstance(img, torch.Tensor):
        return _imresize_torch(img, scale, size, antialias)
    a = np.asarray(img)
    if a.ndim not in (2, 3):
        raise ValueError(f"numpy images must be (H, W) or (H, W, C), got shape {a.shape}")
    is_u8 = a.dtype == np.uint8
    x = a.astype(np.float64)
    (oh, ow), (sy, sx) = _plan(a.shape[:2], scale, size)
    for axis in _axis_order(sy, sx):
        if axis == 0:
            m = resize_matrix(x.shape[0], oh, sy, antialias)
            x = np.tensordot(m, x, axes=([1], [0]))
        else:
            m = resize_matrix(x.shape[1], ow, sx, antialias)
            x = np.moveaxis(np.tensordot(m, x, axes=([1], [1])), 0, 1)
        if is_u8:
            x = np.clip(np.floor(x + 0.5), 0, 255)  # MATLAB rounds halves up
    return x.astype(np.uint8) if is_u8 else x


def _axis_order(sy: float, sx: float) -> Tuple[int, int]:
    """MATLAB resizes the axis with the smaller scale factor first (rows on ties)."""
    return (0, 1) if sy <= sx else (1, 0)


def _imresize_torch(t: torch.Tensor, scale, size, antialias: bool) -> torch.Tensor:
    if t.dim() < 2:
        raise ValueError(f"torch images must be (..., H, W), got shape {tuple(t.shape)}")
    in_dtype = t.dtype
    is_u8 = in_dtype == torch.uint8
    work = torch.float32 if t.device.type == "mps" else torch.float64  # MPS has no float64
    x = t.to(work)
    (oh, ow), (sy, sx) = _plan(tuple(t.shape[-2:]), scale, size)
    for axis in _axis_order(sy, sx):
        if axis == 0:
            m = torch.from_numpy(np.array(resize_matrix(x.shape[-2], oh, sy, antialias))).to(x.device, work)
            x = torch.matmul(m, x)
        else:
            m = torch.from_numpy(np.array(resize_matrix(x.shape[-1], ow, sx, antialias))).to(x.device, work)
            x = torch.matmul(x, m.transpose(0, 1))
        if is_u8:
            x = torch.floor(x + 0.5).clamp(0, 255)
    if is_u8:
        return x.to(torch.uint8)
    return x.to(in_dtype) if in_dtype.is_floating_point else x


def downscale(hr: ArrayLike, scale: int) -> ArrayLike:
    """The LR input: MATLAB bicubic by ``1 / scale`` (``hr`` cropped by :func:`modcrop` first,
    so the output is exactly ``H / scale x W / scale``)."""
    h, w = (hr.shape[-2:] if isinstance(hr, torch.Tensor) else np.asarray(hr).shape[:2])
    s = _integer_scale(scale)
    if h % s or w % s:
        raise ValueError(f"image {h}x{w} is not a multiple of the scale {s}: modcrop it first")
    return imresize(hr, size=(h // s, w // s))


def modcrop(img: ArrayLike, scale: int) -> ArrayLike:
    """Crop the bottom and right so that both sides are multiples of the integer ``scale``."""
    is_t = isinstance(img, torch.Tensor)
    h, w = (img.shape[-2:] if is_t else np.asarray(img).shape[:2])
    s = _integer_scale(scale)
    nh, nw = h - h % s, w - w % s
    if nh < 1 or nw < 1:
        raise ValueError(f"image {h}x{w} is smaller than the scale factor {s}")
    return img[..., :nh, :nw] if is_t else np.asarray(img)[:nh, :nw]


def _integer_scale(scale) -> int:
    s = float(scale)
    if s != int(s) or s < 1:
        raise ValueError(f"benchmark scales must be whole numbers >= 1, got {scale}")
    return int(s)
