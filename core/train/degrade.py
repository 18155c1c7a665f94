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
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, fields
from typing import Any, Dict, Tuple

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

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "DegradeSpec":
        """Validated spec from a config table (unknown keys and bad values are errors)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - names)
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
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                    raise DegradeConfigError(f"{where} must be a probability in [0, 1], got {v!r}")
                vals[f.name] = float(v)
            else:
                ok = (isinstance(v, (list, tuple)) and len(v) == 2
                      and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
                      and 0 <= v[0] <= v[1])
                if not ok:
                    raise DegradeConfigError(f"{where} must be a range [low, high] with 0 <= low <= high, got {v!r}")
                if f.name == "jpeg_quality" and not (1 <= v[0] and v[1] <= 100):
                    raise DegradeConfigError(f"{where} must lie within [1, 100], got {v!r}")
                vals[f.name] = (float(v[0]), float(v[1]))
        return cls(**vals)

    @property
    def active(self) -> bool:
        return self.blur_prob > 0 or self.noise_prob > 0 or self.jpeg_prob > 0

    def describe(self) -> str:
        """One line for the model card."""
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

    def __call__(self, lr: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        s = self.spec
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
                shape = (1,) + tuple(lr.shape[1:]) if rng.random() < s.gray_noise_prob else tuple(lr.shape)
                noise = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) * sigma
                lr = lr + noise
            lr = lr.clamp(0, 1)
        if u[2] < s.jpeg_prob:
            lo, hi = s.jpeg_quality
            lr = jpeg_roundtrip(lr, int(rng.integers(int(lo), int(hi) + 1)))
        return lr
