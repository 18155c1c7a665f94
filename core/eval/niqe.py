"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik, 2013).

A no-reference score: the distance between a multivariate Gaussian (MVG) fitted to
natural-scene-statistics features of the test image's patches and a "pristine" MVG fitted
once on sharp natural images. Lower is more natural. This module follows the published
algorithm and the conventions of its MATLAB release:

* The image is the BT.601 luma ``Y`` in grey levels (as MATLAB ``rgb2ycbcr`` on an 8-bit
  image: rounded to whole levels), cropped to a whole number of 96x96 patches.
* **MSCN coefficients**: ``(I - mu) / (sigma + 1)`` with ``mu``, ``sigma`` the local mean and
  standard deviation under a 7x7 Gaussian window (sigma 7/6), replicate-padded.
* Per patch, 18 features: an asymmetric generalised Gaussian (AGGD) fit of the MSCN
  coefficients (shape, mean of the two scales) and of the products of horizontally,
  vertically and diagonally (both diagonals) adjacent coefficients (shape, mean, left and
  right scale). The AGGD shape is found by moment matching on the grid 0.2:0.001:10.
* Two scales: the image, then the image halved by MATLAB bicubic ``imresize`` (48x48 patches
  there); 36 features per patch.
* **Pristine model**: features of all patches of the training images whose sharpness (mean
  local ``sigma`` over the patch) exceeds 0.75 of the sharpest patch of the same image; their
  mean and covariance. :func:`fit_pristine` does this; the shipped model
  (``resources/niqe/pristine.npz``) was fitted by this code on the project's own HR training
  images (see ``resources/niqe/README.md``), not with the authors' parameters.
* ``NIQE = sqrt((mu_p - mu_d)^T pinv((C_p + C_d) / 2) (mu_p - mu_d))``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as np

from ..atomic import atomic_writer
from .bicubic import imresize
from .metrics import rgb_to_y

PATCH = 96
SHARPNESS_THRESHOLD = 0.75
N_FEATURES = 36



def default_pristine_path() -> Path:
    """The pristine model shipped with the package: ``cisr_zoom/resources/niqe/pristine.npz``."""
    from cisr_zoom.resources import RESOURCES_DIR
    return RESOURCES_DIR / "niqe" / "pristine.npz"


@lru_cache(maxsize=1)
def gaussian_window_7() -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', 7, 7/6)`` (the 2-D window is its outer product)."""
    r = np.arange(7, dtype=np.float64) - 3.0
    g = np.exp(-(r * r) / (2.0 * (7.0 / 6.0) ** 2))
    return g / g.sum()


def _filter_replicate(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'same'-size correlation with ``g`` (x) ``g`` and edge replication."""
    k = g.size
    p = k // 2
    xp = np.pad(x, p, mode="edge")
    h, w = x.shape
    rows = sum(g[i] * xp[i:i + h, :] for i in range(k))
    return sum(g[j] * rows[:, j:j + w] for j in range(k))


def mscn(img: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local std map of ``img`` (grey levels)."""
    g = gaussian_window_7()
    mu = _filter_replicate(img, g)
    sigma = np.sqrt(np.abs(_filter_replicate(img * img, g) - mu * mu))
    return (img - mu) / (sigma + 1.0), sigma


@lru_cache(maxsize=1)
def _aggd_table() -> Tuple[np.ndarray, np.ndarray]:
    """Shape grid 0.2:0.001:10 and ``Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))`` on it."""
    gam = np.round(np.arange(0.2, 10.0 + 5e-4, 0.001), 10)
    lg = np.vectorize(math.lgamma)
    r = np.exp(2 * lg(2.0 / gam) - lg(1.0 / gam) - lg(3.0 / gam))
    return gam, r


def aggd_fit(x: np.ndarray) -> Tuple[float, float, float]:
    """Moment-matching AGGD fit: ``(shape alpha, left scale beta_l, right scale beta_r)``.

    NaN when ``x`` has no negative or no positive values (e.g. a flat patch)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    neg, pos = x[x < 0], x[x > 0]
    if neg.size == 0 or pos.size == 0:
        return math.nan, math.nan, math.nan
    left, right = math.sqrt(np.mean(neg * neg)), math.sqrt(np.mean(pos * pos))
    g = left / right
    rhat = float(np.mean(np.abs(x))) ** 2 / float(np.mean(x * x))
    rnorm = rhat * (g ** 3 + 1) * (g + 1) / (g * g + 1) ** 2
    gam, r = _aggd_table()
    alpha = float(gam[np.argmin((r - rnorm) ** 2)])
    k = math.sqrt(math.exp(math.lgamma(1 / alpha) - math.lgamma(3 / alpha)))
    return alpha, left * k, right * k


def patch_features(coeffs: np.ndarray) -> np.ndarray:
    """The 18 NIQE features of one patch of MSCN coefficients."""
    alpha, bl, br = aggd_fit(coeffs)
    feats = [alpha, (bl + br) / 2.0]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):   # horizontal, vertical, two diagonals
        prod = coeffs * np.roll(coeffs, shift, axis=(0, 1))
        a, l, r = aggd_fit(prod)
        mean = (r - l) * math.exp(math.lgamma(2 / a) - math.lgamma(1 / a)) if a == a else math.nan
        feats += [a, mean, l, r]
    return np.array(feats, dtype=np.float64)


def to_luma(img: np.ndarray) -> np.ndarray:
    """RGB ``(H, W, 3)`` in ``[0, 1]`` (or ``uint8``) -> rounded BT.601 ``Y``; ``(H, W)`` is taken as grey levels."""
    a = np.asarray(img)
    if a.ndim == 3:
        return np.floor(rgb_to_y(a) + 0.5)
    if a.ndim == 2:
        return a.astype(np.float64)
    raise ValueError(f"expected an (H, W, 3) RGB or (H, W) luma image, got shape {a.shape}")


def image_features(img: np.ndarray, patch: int = PATCH) -> Tuple[np.ndarray, np.ndarray]:
    """Per-patch features ``(N, 36)`` and sharpness ``(N,)`` of an image (RGB or luma, see :func:`to_luma`)."""
    y = to_luma(img)
    nh, nw = y.shape[0] // patch, y.shape[1] // patch
    if nh == 0 or nw == 0:
        return np.zeros((0, N_FEATURES)), np.zeros((0,))
    y = y[:nh * patch, :nw * patch]
    per_scale, sharpness = [], None
    for level in (1, 2):
        coeffs, sigma = mscn(y)
        p = patch // level
        blocks = [(i, j) for i in range(nh) for j in range(nw)]
        per_scale.append(np.stack([patch_features(coeffs[i * p:(i + 1) * p, j * p:(j + 1) * p])
                                   for i, j in blocks]))
        if level == 1:
            sharpness = np.array([sigma[i * p:(i + 1) * p, j * p:(j + 1) * p].mean() for i, j in blocks])
            y = imresize(y, 0.5)
    return np.concatenate(per_scale, axis=1), sharpness


@dataclass
class PristineModel:
    """The MVG of pristine patch features: ``mu`` ``(36,)``, ``cov`` ``(36, 36)``, and how it was made."""

    mu: np.ndarray
    cov: np.ndarray
    info: Dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` atomically (temporary file in the target folder, then rename)."""
        with atomic_writer(path) as f:
            np.savez(f, mu=self.mu, cov=self.cov, info=np.array(json.dumps(self.info, sort_keys=True)))


class NiqeModelError(ValueError):
    """The pristine-model file is missing or malformed."""


def load_pristine(path: Optional[str | os.PathLike] = None) -> PristineModel:
    """Read a pristine model (default: the one shipped in ``cisr_zoom.resources``)."""
    path = Path(path) if path is not None else default_pristine_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            mu, cov = np.asarray(z["mu"], np.float64), np.asarray(z["cov"], np.float64)
            info = json.loads(str(z["info"])) if "info" in z.files else {}
    except FileNotFoundError:
        raise NiqeModelError(f"NIQE pristine model '{path}' not found (fit one with `cisr eval --fit-niqe`)") from None
    except (OSError, ValueError, KeyError) as e:
        raise NiqeModelError(f"NIQE pristine model '{path}' is not readable ({type(e).__name__})") from None
    if mu.shape != (N_FEATURES,) or cov.shape != (N_FEATURES, N_FEATURES) or not np.all(np.isfinite(cov)):
        raise NiqeModelError(f"NIQE pristine model '{path}' has the wrong shape or non-finite values")
    return PristineModel(mu, cov, info)


def fit_pristine(images: Iterable[Tuple[str, np.ndarray]], threshold: float = SHARPNESS_THRESHOLD,
                 patch: int = PATCH) -> PristineModel:
    """Fit the pristine MVG on ``(name, image)`` pairs (RGB ``[0, 1]`` or ``uint8``, or luma).

    Keeps the patches whose sharpness exceeds ``threshold`` times the image's sharpest one."""
    kept, names, n_total = [], [], 0
    for name, img in images:
        feats, sharp = image_features(img, patch)
        if feats.shape[0] == 0:
            continue
        sel = sharp > threshold * sharp.max()
        n_total += feats.shape[0]
        kept.append(feats[sel])
        names.append(name)
    if not kept:
        raise ValueError(f"no image is at least {patch}x{patch} pixels: nothing to fit NIQE on")
    feats = np.concatenate(kept)
    feats = feats[~np.isnan(feats).any(axis=1)]
    if feats.shape[0] <= N_FEATURES:
        raise ValueError(f"only {feats.shape[0]} usable patches: too few to fit a {N_FEATURES}-D Gaussian")
    info = {"method": "NIQE (Mittal et al. 2013), MATLAB-release conventions, BT.601 Y rounded",
            "patch": patch, "sharpness_threshold": threshold, "images": len(names),
            "patches_total": int(n_total), "patches_used": int(feats.shape[0]), "image_names": names}
    return PristineModel(feats.mean(axis=0), np.cov(feats, rowvar=False), info)


def niqe_from_features(feats: np.ndarray, model: PristineModel) -> float:
    """NIQE of one image from its patch features ``(N, 36)``; NaN when no patch is usable."""
    good = feats[~np.isnan(feats).any(axis=1)] if feats.size else feats
    if good.shape[0] == 0:
        return math.nan
    mu = np.nanmean(feats, axis=0)
    cov = np.cov(good, rowvar=False) if good.shape[0] > 1 else np.zeros((N_FEATURES, N_FEATURES))
    d = model.mu - mu
    inv = np.linalg.pinv((model.cov + cov) / 2.0)
    return float(math.sqrt(max(float(d @ inv @ d), 0.0)))


def niqe(img: np.ndarray, model: Optional[PristineModel] = None) -> float:
    """NIQE of an RGB ``(H, W, 3)`` image in ``[0, 1]`` (or ``uint8``, or an ``(H, W)`` luma in grey
    levels). NaN for images smaller than one 96x96 patch or without texture."""
    model = model if model is not None else default_model()
    feats, _ = image_features(img)
    return niqe_from_features(feats, model)


@lru_cache(maxsize=1)
def default_model() -> PristineModel:
    """The shipped pristine model (read once)."""
    return load_pristine()
