"""``cisr eval --degrade SPEC``: degrade each LR input after the MATLAB-bicubic downscale.

Benchmark LR sets are clean downscales; the photos people open are camera and web JPEGs. With a
degradation, ``cisr eval`` makes the LR as usual (MATLAB bicubic of the 8-bit HR), degrades it,
rounds it to 8 bits, and scores every method's output on it against the **clean** HR: the
question is how much of the true picture a method recovers from what a camera or the web stores.

SPEC is one of:

* ``jpeg:Q`` (Q a whole number 1-100): one JPEG round trip at quality Q with Pillow's encoder and
  4:2:0 chroma subsampling, as cameras and the web store photos (``jpeg:75``, ``jpeg:90``);
* ``realistic``: the first-order camera model of :mod:`cisr_zoom.core.train.degrade` with fixed
  settings (:data:`REALISTIC`: Gaussian blur with probability 0.5, sigma 0.2-1.0 LR pixels; noise
  always, Gaussian sigma 1-6 levels (grey with probability 0.4) or Poisson (a 0.3 share); then JPEG
  quality 50-90, 4:2:0). Its random draws come from a generator seeded by the image's file name
  and the scale (:func:`image_seed`), so reruns, on any machine, degrade each image alike.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..errors import CisrError
from ..train.degrade import Degrader, DegradeSpec, jpeg_roundtrip

#: the named ``realistic`` setting (changing it changes every published ``realistic`` table)
REALISTIC = DegradeSpec(blur_prob=0.5, blur_sigma=(0.2, 1.0), noise_prob=1.0, noise_sigma=(1.0, 6.0),
                        gray_noise_prob=0.4, poisson_prob=0.3, poisson_scale=(0.05, 1.0),
                        jpeg_prob=1.0, jpeg_quality=(50.0, 90.0))

SPEC_HELP = "jpeg:Q (Q 1-100, Pillow, 4:2:0) or realistic (blur, noise, JPEG 50-90; fixed seed per image)"


def image_seed(name: str, scale: int) -> list[int]:
    """The seed of an image's ``realistic`` degradation: CRC-32 of its file name, and the scale."""
    return [zlib.crc32(name.encode("utf-8")), int(scale)]


@dataclass(frozen=True)
class LRDegradation:
    """One ``--degrade`` setting: ``spec`` as typed (normalised), a description for tables."""

    spec: str
    description: str
    quality: Optional[int] = None       # jpeg:Q

    def apply(self, lr: np.ndarray, name: str, scale: int) -> np.ndarray:
        """The degraded 8-bit ``(h, w, 3)`` LR of image ``name`` at ``scale``."""
        t = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1))).float().div_(255.0)
        if self.quality is not None:
            t = jpeg_roundtrip(t, self.quality)
        else:
            t = Degrader(REALISTIC)(t, np.random.default_rng(image_seed(name, scale)))
        return np.clip(np.floor(t.permute(1, 2, 0).numpy() * 255.0 + 0.5), 0, 255).astype(np.uint8)

    def to_dict(self) -> dict:
        return {"spec": self.spec, "description": self.description}


def parse_degrade(text: str) -> LRDegradation:
    """``jpeg:75`` / ``realistic`` -> :class:`LRDegradation`; anything else is a one-line error."""
    t = text.strip().lower()
    if t == "realistic":
        return LRDegradation("realistic", f"realistic: {REALISTIC.describe()}; seed per image (file name, scale)")
    if t.startswith("jpeg:"):
        q = t[5:].strip()
        if q.isdigit() and 1 <= int(q) <= 100:
            return LRDegradation(f"jpeg:{int(q)}", f"JPEG quality {int(q)} (Pillow, 4:2:0)", int(q))
        raise CisrError(f"--degrade {text!r}: the JPEG quality must be a whole number from 1 to 100")
    raise CisrError(f"--degrade {text!r} is not known; use {SPEC_HELP}")
