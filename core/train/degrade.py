"""Mild real-photo degradations of the LR synthesis (first-order, BSRGAN / Real-ESRGAN style).

A camera JPEG is not a clean bicubic downscale: it is blurred by the lens and demosaicking,
noisy, and JPEG-compressed. A model trained only on clean bicubic inputs turns that noise into a
pattern at the LR pixel period. :class:`Degrader` applies, each with its own probability and in
this order, to the LR image ``(3, h, w)`` in [0, 1] (after downsampling, before 8-bit rounding):

1. isotropic Gaussian blur, sigma ~ U(blur_sigma) LR pixels (kernel radius ``ceil(3 sigma)``,
   reflect padding);
2. additive noise: Gaussian with sigma ~ U(noise_sigma) (in 8-bit levels, per channel or, with
   probability ``gray_noise_prob``, the same for all channels), or Poisson (shot) noise with
   ``poisson_prob`` share, scale ~ U(poisson_scale) (a pixel of value v gets ``Poisson(v * 255 *
   k) / (255 * k)``, k = 10**-scale);
3. JPEG re-compression at quality ~ U(jpeg_quality) (integers, Pillow's encoder, 4:2:0).

The HR target is never degraded: the model learns to remove what the camera added. All
randomness comes from the ``numpy.random.Generator`` passed in (reproducible on resume).

**Second order** (``second_order = true`` in the table; :class:`SecondOrderSpec`, after
Real-ESRGAN's high-order model, Wang et al. 2021) degrades the **HR crop** down to the LR size
instead of starting from a clean bicubic LR. Twice, with independent parameters: blur with a
random kernel (isotropic, anisotropic, generalised Gaussian, plateau, or a sinc), a random
resize (up, down or keep, by area, bilinear or bicubic), Gaussian or Poisson noise (per channel
or grey), JPEG (quality ~ U(jpeg_range), 4:2:0); then, in one of the two orders at random, the
final resize to the LR size followed (with ``final_sinc_prob``) by a sinc filter, and a last
JPEG. Optionally (``usm_gt``) the HR target is sharpened with an unsharp mask as Real-ESRGAN
trains; optionally (``shuffle_prob``) the eight operations of the two stages run in a random
order, as BSRGAN's shuffled degradations do. Sizes are in the pixels of the image at that step
(blur sigmas in stage 1 are HR pixels).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import CisrError


class DegradeConfigError(CisrError):
    """An invalid ``datasets.train.degrade`` table."""


@dataclass(frozen=True)
class DegradeSpec:
    """Probabilities (0..1) and ranges ``(low, high)`` of each degradation; see the module doc."""

    blur_prob: float = 0.0
    blur_sigma: Tuple[float, float] = (0.2, 1.2)
    noise_prob: float = 0.0
    noise_sigma: Tuple[float, float] = (1.0, 8.0)       # 8-bit levels
    gray_noise_prob: float = 0.4
    poisson_prob: float = 0.3                           # share of noisy samples that get Poisson noise
    poisson_scale: Tuple[float, float] = (0.05, 1.0)    # log10 of the inverse photon count per level
    jpeg_prob: float = 0.0
    jpeg_quality: Tuple[float, float] = (60.0, 95.0)
    second_order: Optional["SecondOrderSpec"] = None    # set: the second-order pipeline instead

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "DegradeSpec":
        """Validated spec from a config table (unknown keys and bad values are errors). With
        ``second_order = true`` the other keys are :class:`SecondOrderSpec`'s."""
        raw = dict(raw)
        so = raw.pop("second_order", False)
        if not isinstance(so, bool):
            raise DegradeConfigError(f"datasets.train.degrade.second_order must be true or false, got {so!r}")
        if so:
            return cls(second_order=SecondOrderSpec.from_dict(raw))
        names = {f.name for f in fields(cls)} - {"second_order"}
        unknown = sorted(set(raw) - names)
        if unknown and unknown[0] in {f.name for f in fields(SecondOrderSpec)}:
            raise DegradeConfigError(f"datasets.train.degrade.{unknown[0]} is a second-order key: "
                                     f"add second_order = true")
        if unknown:
            raise DegradeConfigError(f"unknown key 'datasets.train.degrade.{unknown[0]}' "
                                     f"(known: {', '.join(sorted(names))})")
        vals: Dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            v = raw[f.name]
            where = f"datasets.train.degrade.{f.name}"
            if f.name.endswith("_prob"):
                vals[f.name] = _prob(where, v)
            else:
                vals[f.name] = _range(where, v, (1, 100) if f.name == "jpeg_quality" else None)
        return cls(**vals)

    @property
    def active(self) -> bool:
        return self.second_order is not None or self.blur_prob > 0 or self.noise_prob > 0 or self.jpeg_prob > 0

    def describe(self) -> str:
        """One line for the model card."""
        if self.second_order is not None:
            return self.second_order.describe()
        if not self.active:
            return "none (clean downsampling)"
        parts = []
        if self.blur_prob:
            parts.append(f"Gaussian blur p={self.blur_prob:g} sigma {self.blur_sigma[0]:g}-{self.blur_sigma[1]:g} px")
        if self.noise_prob:
            parts.append(f"noise p={self.noise_prob:g} (Gaussian sigma {self.noise_sigma[0]:g}-{self.noise_sigma[1]:g}"
                         f" levels, gray {self.gray_noise_prob:g}; Poisson share {self.poisson_prob:g})")
        if self.jpeg_prob:
            parts.append(f"JPEG p={self.jpeg_prob:g} quality {self.jpeg_quality[0]:g}-{self.jpeg_quality[1]:g}")
        return ", ".join(parts)


def _prob(where: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
        raise DegradeConfigError(f"{where} must be a probability in [0, 1], got {v!r}")
    return float(v)


def _range(where: str, v: Any, within: Optional[Tuple[float, float]] = None) -> Tuple[float, float]:
    ok = (isinstance(v, (list, tuple)) and len(v) == 2
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
          and 0 <= v[0] <= v[1])
    if not ok:
        raise DegradeConfigError(f"{where} must be a range [low, high] with 0 <= low <= high, got {v!r}")
    if within is not None and not (within[0] <= v[0] and v[1] <= within[1]):
        raise DegradeConfigError(f"{where} must lie within [{within[0]:g}, {within[1]:g}], got {v!r}")
    return float(v[0]), float(v[1])


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(3, h, w)`` blurred by a separable Gaussian of ``sigma`` pixels (reflect padding)."""
    r = max(1, int(math.ceil(3 * sigma)))
    r = min(r, img.shape[-1] - 1, img.shape[-2] - 1)
    if r < 1:
        return img
    x = torch.arange(-r, r + 1, dtype=img.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    t = F.pad(img.unsqueeze(0), (r, r, r, r), mode="reflect")
    c = img.shape[0]
    t = F.conv2d(t, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    t = F.conv2d(t, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return t[0]


def gaussian_noise(img: torch.Tensor, sigma: float, grey: bool, rng: np.random.Generator) -> torch.Tensor:
    """``img`` plus Gaussian noise of ``sigma`` ([0, 1] units): per channel, or (``grey``) one
    field for all channels (not clamped)."""
    shape = (1,) + tuple(img.shape[1:]) if grey else tuple(img.shape)
    return img + torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) * sigma


def jpeg_roundtrip(img: torch.Tensor, quality: int) -> torch.Tensor:
    """``(3, h, w)`` in [0, 1] encoded as an 8-bit JPEG of ``quality`` with 4:2:0 chroma
    subsampling (Pillow's default, stated) and decoded again."""
    arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality), subsampling="4:2:0")
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1).contiguous()


class Degrader:
    """Applies a :class:`DegradeSpec` to LR images; a no-op when nothing is enabled."""

    def __init__(self, spec: DegradeSpec):
        self.spec = spec
        self.second = SecondOrderDegrader(spec.second_order) if spec.second_order is not None else None

    @property
    def second_order(self) -> bool:
        """True: the pipeline degrades the HR crop itself (:meth:`pair`), not a bicubic LR."""
        return self.second is not None

    def pair(self, hr: torch.Tensor, lr_size: int, rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        """Second order: ``(lr, hr_target)`` from an HR crop (see :class:`SecondOrderDegrader`)."""
        if self.second is None:
            raise RuntimeError("pair() is the second-order pipeline's; this spec is first-order")
        return self.second(hr, lr_size, rng)

    def __call__(self, lr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        s = self.spec
        if self.second is not None:
            raise RuntimeError("a second-order spec degrades HR crops: use pair()")
        if not s.active:
            return lr
        u = rng.random(3)  # one draw per stage keeps the streams aligned whatever fires
        if u[0] < s.blur_prob:
            lr = gaussian_blur(lr, float(rng.uniform(*s.blur_sigma)))
        if u[1] < s.noise_prob:
            if rng.random() < s.poisson_prob:
                k = 10.0 ** (-float(rng.uniform(*s.poisson_scale)))
                lam = lr.clamp(0, 1).numpy() * 255.0 * k
                lr = torch.from_numpy((rng.poisson(lam) / (255.0 * k)).astype(np.float32))
            else:
                sigma = float(rng.uniform(*s.noise_sigma)) / 255.0
                lr = gaussian_noise(lr, sigma, bool(rng.random() < s.gray_noise_prob), rng)
            lr = lr.clamp(0, 1)
        if u[2] < s.jpeg_prob:
            lo, hi = s.jpeg_quality
            lr = jpeg_roundtrip(lr, int(rng.integers(int(lo), int(hi) + 1)))
        return lr


# -- second order (Real-ESRGAN) ----------------------------------------------------------------

KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
RESIZE_MODES = ("area", "bilinear", "bicubic")
USM_SIGMA = 8.3          # the unsharp mask's Gaussian (a 51-pixel kernel, Real-ESRGAN's radius 50)
USM_THRESHOLD = 10.0     # 8-bit levels: residuals below this are not sharpened (soft mask)


@dataclass(frozen=True)
class SecondOrderSpec:
    """Settings of the second-order pipeline (module doc); defaults are Real-ESRGAN's x4 recipe.

    Keys ending in ``2`` are the second stage's; ``*_probs`` are probabilities over choices
    (``kernel_probs``: :data:`KERNELS`; ``resize_probs``: up, down, keep) summing to 1; noise
    sigmas are 8-bit levels; a Poisson scale multiplies shot noise of one photon per level."""

    kernel_size: Tuple[float, float] = (7, 21)          # odd sizes drawn from this range
    kernel_probs: Tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    blur_sigma: Tuple[float, float] = (0.2, 3.0)
    betag_range: Tuple[float, float] = (0.5, 4.0)       # generalised Gaussian shape
    betap_range: Tuple[float, float] = (1.0, 2.0)       # plateau shape
    sinc_prob: float = 0.1
    resize_probs: Tuple[float, ...] = (0.2, 0.7, 0.1)
    resize_range: Tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5                    # else Poisson
    noise_range: Tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: Tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: Tuple[float, float] = (30.0, 95.0)
    second_blur_prob: float = 0.8
    kernel_size2: Tuple[float, float] = (7, 21)
    kernel_probs2: Tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    blur_sigma2: Tuple[float, float] = (0.2, 1.5)
    betag_range2: Tuple[float, float] = (0.5, 4.0)
    betap_range2: Tuple[float, float] = (1.0, 2.0)
    sinc_prob2: float = 0.1
    resize_probs2: Tuple[float, ...] = (0.3, 0.4, 0.3)
    resize_range2: Tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: Tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: Tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: Tuple[float, float] = (30.0, 95.0)
    final_sinc_prob: float = 0.8
    usm_gt: bool = False
    usm_weight: float = 0.5
    shuffle_prob: float = 0.0

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "SecondOrderSpec":
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(raw) - set(names))
        if unknown:
            first = {f.name for f in fields(DegradeSpec)}
            hint = " (a first-order key: remove second_order = true to use it)" if unknown[0] in first else ""
            raise DegradeConfigError(f"unknown key 'datasets.train.degrade.{unknown[0]}' with second_order = true"
                                     f"{hint} (known: second_order, {', '.join(names)})")
        vals: Dict[str, Any] = {}
        for name in names:
            if name not in raw:
                continue
            v, where = raw[name], f"datasets.train.degrade.{name}"
            if name == "usm_gt":
                if not isinstance(v, bool):
                    raise DegradeConfigError(f"{where} must be true or false, got {v!r}")
                vals[name] = v
            elif name.startswith(("kernel_probs", "resize_probs")):
                n = len(KERNELS) if name.startswith("kernel") else 3
                ok = (isinstance(v, (list, tuple)) and len(v) == n
                      and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in v)
                      and abs(sum(v) - 1.0) < 1e-6)
                if not ok:
                    what = ", ".join(KERNELS) if n == len(KERNELS) else "up, down, keep"
                    raise DegradeConfigError(f"{where} must be {n} probabilities ({what}) summing to 1, got {v!r}")
                vals[name] = tuple(float(x) for x in v)
            elif name.endswith(("_prob", "_prob2")):
                vals[name] = _prob(where, v)
            elif name == "usm_weight":
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 2:
                    raise DegradeConfigError(f"{where} must be a number in [0, 2], got {v!r}")
                vals[name] = float(v)
            else:
                within = (1, 100) if name.startswith("jpeg") else (3, 41) if name.startswith("kernel_size") else None
                lo, hi = _range(where, v, within)
                if name.startswith("kernel_size") and not any(k % 2 for k in range(int(math.ceil(lo)), int(hi) + 1)):
                    raise DegradeConfigError(f"{where} must contain an odd size, got {v!r}")
                if name.startswith("resize_range") and lo <= 0:
                    raise DegradeConfigError(f"{where} must be above 0, got {v!r}")
                vals[name] = (lo, hi)
        return cls(**vals)

    def stage(self, k: int) -> "_Stage":
        sfx = "" if k == 1 else "2"
        g = lambda name: getattr(self, name + sfx)  # noqa: E731
        return _Stage(self.second_blur_prob if k == 2 else 1.0, g("kernel_size"), g("kernel_probs"),
                      g("blur_sigma"), g("betag_range"), g("betap_range"), g("sinc_prob"), g("resize_probs"),
                      g("resize_range"), g("gaussian_noise_prob"), g("noise_range"), g("poisson_scale_range"),
                      g("gray_noise_prob"), g("jpeg_range"))

    def describe(self) -> str:
        parts = [f"second-order (Real-ESRGAN): blur sigma {self.blur_sigma[0]:g}-{self.blur_sigma[1]:g} then "
                 f"{self.blur_sigma2[0]:g}-{self.blur_sigma2[1]:g} (p={self.second_blur_prob:g}), resize "
                 f"{self.resize_range[0]:g}-{self.resize_range[1]:g} then {self.resize_range2[0]:g}-"
                 f"{self.resize_range2[1]:g}, noise {self.noise_range[0]:g}-{self.noise_range[1]:g} then "
                 f"{self.noise_range2[0]:g}-{self.noise_range2[1]:g} levels, JPEG {self.jpeg_range[0]:g}-"
                 f"{self.jpeg_range[1]:g} then {self.jpeg_range2[0]:g}-{self.jpeg_range2[1]:g}, final sinc "
                 f"p={self.final_sinc_prob:g}"]
        if self.usm_gt:
            parts.append(f"unsharp-masked HR target (weight {self.usm_weight:g})")
        if self.shuffle_prob:
            parts.append(f"shuffled order p={self.shuffle_prob:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class _Stage:
    blur_prob: float
    kernel_size: Tuple[float, float]
    kernel_probs: Tuple[float, ...]
    blur_sigma: Tuple[float, float]
    betag_range: Tuple[float, float]
    betap_range: Tuple[float, float]
    sinc_prob: float
    resize_probs: Tuple[float, ...]
    resize_range: Tuple[float, float]
    gaussian_noise_prob: float
    noise_range: Tuple[float, float]
    poisson_scale_range: Tuple[float, float]
    gray_noise_prob: float
    jpeg_range: Tuple[float, float]


def _grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    return np.meshgrid(r, r, indexing="ij")      # (y, x)


def mixed_kernel(kind: str, size: int, sigma_x: float, sigma_y: float, theta: float,
                 beta: float = 1.0) -> np.ndarray:
    """A ``size x size`` blur kernel summing to 1: ``exp(-0.5 q ** beta)`` (Gaussian, beta = 1;
    generalised Gaussian) or ``1 / (1 + q ** beta)`` (plateau), with ``q = x' S^-1 x`` for the
    covariance of standard deviations ``sigma_x``, ``sigma_y`` rotated by ``theta`` radians."""
    c, s_ = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s_], [s_, c]])
    cov = rot @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rot.T
    inv = np.linalg.inv(cov)
    y, x = _grid(size)
    q = inv[0, 0] * x * x + (inv[0, 1] + inv[1, 0]) * x * y + inv[1, 1] * y * y
    k = 1.0 / (1.0 + q ** beta) if kind.startswith("plateau") else np.exp(-0.5 * q ** beta)
    return k / k.sum()


def sinc_kernel(size: int, omega: float) -> np.ndarray:
    """A ``size x size`` circular low-pass (2-D sinc: ``omega J1(omega r) / (2 pi r)``) with cutoff
    ``omega`` radians per pixel, summing to 1 (ringing and overshoot, as sharpening leaves)."""
    y, x = _grid(size)
    r = np.sqrt(x * x + y * y)
    j1 = torch.special.bessel_j1(torch.from_numpy(omega * r)).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(r > 0, omega * j1 / (2 * math.pi * r), omega ** 2 / (4 * math.pi))
    return k / k.sum()


def filter2d(img: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """``(3, h, w)`` filtered by a point-symmetric 2-D ``kernel`` (odd size; reflect padding, or
    replicate where the image is too small). Through the FFT: a 21x21 kernel costs what a 3x3 does."""
    k = kernel.shape[0]
    p = k // 2
    h, w = img.shape[-2:]
    mode = "reflect" if p < min(h, w) else "replicate"
    t = F.pad(img.unsqueeze(0), (p, p, p, p), mode=mode)[0]
    hh, ww = t.shape[-2:]
    kk = torch.zeros(hh, ww, dtype=img.dtype)
    kk[:k, :k] = torch.from_numpy(kernel.astype(np.float32))
    kk = torch.roll(kk, (-p, -p), (0, 1))          # the kernel's centre at the origin
    out = torch.fft.irfft2(torch.fft.rfft2(t) * torch.fft.rfft2(kk), s=(hh, ww))
    return out[:, p:p + h, p:p + w].contiguous()


def _odd_size(rng: np.random.Generator, lo_hi: Tuple[float, float]) -> int:
    sizes = [k for k in range(int(math.ceil(lo_hi[0])), int(lo_hi[1]) + 1) if k % 2]
    return sizes[int(rng.integers(len(sizes)))]


def random_kernel(st: _Stage, rng: np.random.Generator) -> np.ndarray:
    """One stage's blur kernel: a sinc with probability ``sinc_prob``, else a kernel of
    :data:`KERNELS` drawn by ``kernel_probs``."""
    size = _odd_size(rng, st.kernel_size)
    if rng.random() < st.sinc_prob:
        return sinc_kernel(size, float(rng.uniform(math.pi / 3, math.pi) if size < 13 else
                                       rng.uniform(math.pi / 5, math.pi)))
    kind = KERNELS[int(rng.choice(len(KERNELS), p=np.asarray(st.kernel_probs)))]
    sx = float(rng.uniform(*st.blur_sigma))
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, theta = sx, 0.0
    else:
        sy, theta = float(rng.uniform(*st.blur_sigma)), float(rng.uniform(-math.pi, math.pi))
    beta = 1.0
    if kind.startswith("generalized"):     # half below 1 (heavier tails), half above (flatter)
        lo, hi = st.betag_range
        beta = float(rng.uniform(lo, 1.0) if rng.random() < 0.5 and lo < 1.0 else rng.uniform(max(lo, 1.0), hi))
    elif kind.startswith("plateau"):
        beta = float(rng.uniform(*st.betap_range))
    return mixed_kernel(kind, size, sx, sy, theta, beta)


def resize(img: torch.Tensor, size: Tuple[int, int], mode: str) -> torch.Tensor:
    """``(3, h, w)`` resized to ``size`` by ``area``, ``bilinear`` or ``bicubic`` (not clamped)."""
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if mode == "area":
        return F.interpolate(img.unsqueeze(0), size=size, mode="area")[0]
    return F.interpolate(img.unsqueeze(0), size=size, mode=mode, align_corners=False)[0]


def poisson_noise(img: torch.Tensor, scale: float, grey: bool, rng: np.random.Generator) -> torch.Tensor:
    """Shot noise of one photon per 8-bit level, times ``scale`` (per channel or ``grey``)."""
    x = img.clamp(0, 1).numpy().astype(np.float64)
    if grey:
        y = x[0] * 0.299 + x[1] * 0.587 + x[2] * 0.114
        noise = (rng.poisson(y * 255.0) / 255.0 - y)[None]
    else:
        noise = rng.poisson(x * 255.0) / 255.0 - x
    return img + torch.from_numpy((noise * scale).astype(np.float32))


@lru_cache(maxsize=16)
def _blur_matrix(n: int, sigma: float) -> torch.Tensor:
    """``(n, n)``: a 1-D Gaussian of ``sigma`` (radius ``ceil(3 sigma)``) along an axis of ``n``
    pixels with reflect padding (replicate where ``n`` is too short), as a matrix."""
    r = int(math.ceil(3 * sigma))
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    g /= g.sum()
    m = np.zeros((n, n))
    i = np.arange(n)
    for t, w in zip(range(-r, r + 1), g):
        j = i + t
        if r < n:
            j = np.where(j < 0, -j, np.where(j >= n, 2 * (n - 1) - j, j))
        j = np.clip(j, 0, n - 1)
        np.add.at(m, (i, j), w)
    return torch.from_numpy(m.astype(np.float32))


def separable_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """``(c, h, w)`` blurred by a Gaussian of ``sigma`` as two matrix products (fast for wide
    kernels; the same values as :func:`gaussian_blur` within float rounding where both apply)."""
    return _blur_matrix(img.shape[-2], sigma) @ img @ _blur_matrix(img.shape[-1], sigma).T


def unsharp_mask(img: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
    """Real-ESRGAN's sharpened HR target: ``img + weight * (img - blur(img))`` where the residual
    exceeds :data:`USM_THRESHOLD` levels (a blurred, soft mask), clamped to [0, 1]."""
    res = img - separable_blur(img, USM_SIGMA)
    mask = ((res.abs() * 255.0) > USM_THRESHOLD).float()
    soft = separable_blur(mask, USM_SIGMA)
    sharp = (img + weight * res).clamp(0, 1)
    return soft * sharp + (1 - soft) * img


class SecondOrderDegrader:
    """The second-order pipeline of a :class:`SecondOrderSpec` (module doc)."""

    def __init__(self, spec: SecondOrderSpec):
        self.spec = spec
        self.stages = (spec.stage(1), spec.stage(2))

    def _ops(self, st: _Stage, k: int, lr_size: int):
        """The stage's four operations, each ``f(img, rng) -> img``."""
        def blur(x, rng):
            return filter2d(x, random_kernel(st, rng)) if rng.random() < st.blur_prob else x

        def resize_op(x, rng):
            way = int(rng.choice(3, p=np.asarray(st.resize_probs)))
            f = (rng.uniform(1.0, max(1.0, st.resize_range[1])) if way == 0 else
                 rng.uniform(min(1.0, st.resize_range[0]), 1.0) if way == 1 else 1.0)
            mode = RESIZE_MODES[int(rng.integers(3))]
            base = x.shape[-2:] if k == 1 else (lr_size, lr_size)   # stage 2: relative to the LR size
            return resize(x, (round(base[0] * f), round(base[1] * f)), mode)

        def noise(x, rng):
            grey = bool(rng.random() < st.gray_noise_prob)
            if rng.random() < st.gaussian_noise_prob:
                x = gaussian_noise(x, float(rng.uniform(*st.noise_range)) / 255.0, grey, rng)
            else:
                x = poisson_noise(x, float(rng.uniform(*st.poisson_scale_range)), grey, rng)
            return x.clamp(0, 1)

        def jpeg(x, rng):
            return jpeg_roundtrip(x, int(rng.integers(int(st.jpeg_range[0]), int(st.jpeg_range[1]) + 1)))
        return [blur, resize_op, noise, jpeg]

    def __call__(self, hr: torch.Tensor, lr_size: int, rng: np.random.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(lr (3, lr_size, lr_size), hr_target)`` from an HR crop ``(3, H, W)`` in [0, 1]."""
        s = self.spec
        ops: List = self._ops(self.stages[0], 1, lr_size) + self._ops(self.stages[1], 2, lr_size)
        if rng.random() < s.shuffle_prob:
            ops = [ops[int(i)] for i in rng.permutation(len(ops))]
        x = hr
        for op in ops:
            x = op(x, rng)

        def final_resize(x):
            x = resize(x, (lr_size, lr_size), RESIZE_MODES[int(rng.integers(3))])
            if rng.random() < s.final_sinc_prob:
                size = _odd_size(rng, s.kernel_size)
                x = filter2d(x, sinc_kernel(size, float(rng.uniform(math.pi / 3, math.pi))))
            return x.clamp(0, 1)
        q = int(rng.integers(int(s.jpeg_range2[0]), int(s.jpeg_range2[1]) + 1))
        if rng.random() < 0.5:
            x = jpeg_roundtrip(final_resize(x), q)
        else:
            x = final_resize(jpeg_roundtrip(x.clamp(0, 1), q))
        target = unsharp_mask(hr, s.usm_weight) if s.usm_gt else hr
        return x, target
