"""Full-reference distortion metrics: PSNR (RGB or Y) and SSIM, with the SR benchmark conventions.

Images are numpy arrays ``(H, W, 3)`` RGB in ``[0, 1]`` (float; ``uint8`` is divided by 255).
All arithmetic is float64.

Conventions (as in the LIIF evaluation, ``calc_psnr``):

* **benchmark sets** (Set5, Set14, B100, Urban100): PSNR on the luma ``Y`` of BT.601 as in
  MATLAB ``rgb2ycbcr``, ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (``R, G, B`` in ``[0, 1]``,
  ``Y`` in ``[16, 235]`` grey levels), peak 255, after shaving ``scale`` pixels from each side.
* **DIV2K**: PSNR on RGB, peak 1, after shaving ``scale + 6`` pixels from each side.
* **grey-scale test images** (e.g. Set14 ``bridge``): scored on their grey levels, as the
  MATLAB evaluation scripts behind the usual benchmark tables do, not on a studio-range ``Y``
  (which would shrink every error by 219/255 and add 1.32 dB). Both images are reduced with
  MATLAB ``rgb2gray`` weights (``0.2989 R + 0.5870 G + 0.1140 B``, full range), which give
  a grey image back exactly. LIIF's Python evaluation instead treats them as RGB; on Set14
  that convention reads about 0.09 dB higher.
* **SSIM** (Wang et al. 2004): Gaussian window 11x11, sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``,
  on ``Y`` in grey levels (``L = 255``), mean over the valid (un-padded) windows of the shaved
  image; the same for both kinds of set, as in SR papers' evaluation scripts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

BENCHMARK = "benchmark"
DIV2K = "div2k"
PROTOCOLS = (BENCHMARK, DIV2K)
NO_REFERENCE = "no-reference"   # photos without ground truth (``cisr eval --no-reference``)

#: BT.601 luma weights of MATLAB ``rgb2ycbcr`` for ``R, G, B`` in ``[0, 1]``; offset 16.
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
#: MATLAB ``rgb2gray`` weights (full-range luma)
GREY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def as_float(img: np.ndarray) -> np.ndarray:
    """``uint8`` -> ``/ 255``; anything else as float64."""
    a = np.asarray(img)
    return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in ``[0, 1]`` -> ``(H, W)`` BT.601 luma in grey levels ``[16, 235]``."""
    x = as_float(rgb)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {x.shape}")
    wr, wg, wb = Y_WEIGHTS
    return Y_OFFSET + wr * x[..., 0] + wg * x[..., 1] + wb * x[..., 2]


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB in ``[0, 1]`` -> ``(H, W)`` full-range luma in grey levels ``[0, 255]``
    (MATLAB ``rgb2gray``; a grey image comes back unchanged)."""
    x = as_float(rgb)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {x.shape}")
    wr, wg, wb = GREY_WEIGHTS
    return 255.0 * (wr * x[..., 0] + wg * x[..., 1] + wb * x[..., 2])


def luma(rgb: np.ndarray, grey: bool = False) -> np.ndarray:
    """The channel PSNR/SSIM are measured on: BT.601 ``Y``, or for grey-scale test images the grey level."""
    return rgb_to_grey(rgb) if grey else rgb_to_y(rgb)


def shave(img: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels from each side (``(H, W)`` or ``(H, W, C)``)."""
    if border <= 0:
        return img
    h, w = img.shape[:2]
    if h <= 2 * border or w <= 2 * border:
        raise ValueError(f"image {h}x{w} is too small to shave {border} pixels from each side")
    return img[border:h - border, border:w - border]


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """``10 log10(peak^2 / MSE)`` in dB over all elements; ``inf`` for identical inputs."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def psnr_rgb(sr: np.ndarray, hr: np.ndarray, border: int = 0) -> float:
    """PSNR over the three RGB channels (peak 1), ``border`` pixels shaved."""
    return psnr(shave(as_float(sr), border), shave(as_float(hr), border), 1.0)


def psnr_y(sr: np.ndarray, hr: np.ndarray, border: int = 0, grey: bool = False) -> float:
    """PSNR of the BT.601 luma (peak 255 grey levels), ``border`` pixels shaved; ``grey``: of the
    full-range grey level instead (for grey-scale test images)."""
    return psnr(shave(luma(sr, grey), border), shave(luma(hr, grey), border), 255.0)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian (the 2-D window is its outer product)."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r * r) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation with ``g`` (x) ``g``, 'valid' region only."""
    k = g.size
    h, w = x.shape
    if h < k or w < k:
        raise ValueError(f"image {h}x{w} is smaller than the {k}x{k} SSIM window")
    rows = sum(g[i] * x[i:h - k + 1 + i, :] for i in range(k))
    return sum(g[j] * rows[:, j:w - k + 1 + j] for j in range(k))


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, window: int = 11,
             sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """Local SSIM of two single-channel images over the valid Gaussian windows."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"SSIM needs two (H, W) images of one shape, got {a.shape} and {b.shape}")
    g = gaussian_window(window, sigma)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a * mu_a
    var_b = _filter_valid(b * b, g) - mu_b * mu_b
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two single-channel images (Gaussian 11x11, sigma 1.5, valid windows)."""
    return float(np.mean(ssim_map(a, b, data_range)))


def ssim_y(sr: np.ndarray, hr: np.ndarray, border: int = 0, grey: bool = False) -> float:
    """SSIM of the BT.601 luma in grey levels (``L = 255``), ``border`` pixels shaved; ``grey``:
    of the full-range grey level instead."""
    return ssim(shave(luma(sr, grey), border), shave(luma(hr, grey), border), 255.0)


@dataclass(frozen=True)
class Protocol:
    """How one kind of test set is scored at one scale."""

    kind: str        # "benchmark" or "div2k"
    scale: int
    border: int      # pixels shaved from each side
    psnr_on: str     # "y" or "rgb"

    def psnr(self, sr: np.ndarray, hr: np.ndarray, grey: bool = False) -> float:
        """``grey``: the HR test image is grey-scale (scored on grey levels; see the module doc)."""
        return psnr_y(sr, hr, self.border, grey) if self.psnr_on == "y" else psnr_rgb(sr, hr, self.border)

    def ssim(self, sr: np.ndarray, hr: np.ndarray, grey: bool = False) -> float:
        return ssim_y(sr, hr, self.border, grey)

    def crop(self, img: np.ndarray) -> np.ndarray:
        return shave(img, self.border)


def protocol(kind: str, scale: float) -> Protocol:
    """LIIF's conventions: benchmark -> Y, shave ``scale``; DIV2K -> RGB, shave ``scale + 6``."""
    s = int(math.ceil(scale))
    if kind == BENCHMARK:
        return Protocol(kind, s, s, "y")
    if kind == DIV2K:
        return Protocol(kind, s, s + 6, "rgb")
    raise ValueError(f"unknown dataset kind {kind!r}; choose one of {', '.join(PROTOCOLS)}")


def guess_kind(name: str) -> Optional[str]:
    """``div2k`` for names containing DIV2K, else ``benchmark`` (Set5, Set14, B100, Urban100, ...)."""
    return DIV2K if "div2k" in name.lower() else BENCHMARK
