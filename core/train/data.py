"""Training pairs for LIIF / CiSRGAN: random HR crop, scale ``s ~ U(smin, smax)``, bicubic LR.

One sample (as in LIIF's ``sr-implicit-downsampled`` pairs):

1. draw ``s``; the HR crop is ``round(lr_patch * s)`` pixels square, cut at a random place of a
   random training image big enough for it (then randomly flipped / transposed);
2. the LR input is the crop downsampled to ``lr_patch x lr_patch`` with antialiased bicubic
   (values clamped to [0, 1]), optionally degraded like a camera file (blur, noise, JPEG:
   :mod:`.degrade`) and, by default, rounded to 8 bits like a real input file; with the
   second-order pipeline (``degrade.second_order = true``) the HR crop itself is degraded down to
   the LR size instead (its own random resizes replace the bicubic one), and the target may be
   its unsharp-masked copy;
3. targets are HR pixels at coordinates of the crop's pixel grid (:mod:`cisr_zoom.core.coords`
   convention: ``(y, x)`` centres in ``[-1, 1]``), with cells ``(2 / H_crop, 2 / W_crop)``:

   * ``points``: ``n_points`` distinct random HR pixels (LIIF);
   * ``patches``: a contiguous ``patch_size x patch_size`` block of HR pixels at a random
     position inside the crop (CiSRGAN), returned row-major so it reshapes to an image.

Randomness comes only from the ``numpy.random.Generator`` passed in; the trainer makes one per
(seed, iteration, rank), so a resumed run draws exactly the samples it would have drawn.
Images are decoded once and kept in memory as uint8.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..coords import make_coord
from ..errors import CisrError
from ..imageio import READABLE_SUFFIXES, load_image, to_uint8
from .degrade import Degrader, DegradeSpec

#: folder names of the evaluation sets; training on them would make the benchmark meaningless
BENCHMARK_NAMES = ("set5", "set14", "b100", "bsd100", "urban100", "manga109", "div2k_valid_hr", "benchmark")
SAMPLE_MODES = ("points", "patches")
DEGRADATIONS = ("bicubic", "matlab-bicubic")


class TrainDataError(CisrError):
    """Training images missing, unreadable, too small, or from a benchmark set."""


@dataclass
class ImageBank:
    """Decoded training images, uint8 ``(H, W, 3)`` each, and where they came from."""

    images: List[np.ndarray]
    paths: List[Path]
    dirs: List[Path]

    @classmethod
    def from_dirs(cls, dirs: Sequence[str | os.PathLike], min_side: int = 1,
                  allow_benchmark: bool = False) -> "ImageBank":
        """Load every readable image (sorted by name) directly inside each of ``dirs``."""
        if not dirs:
            raise TrainDataError("no training image folders given (set datasets.train.dirs in the config "
                                 "or pass --data DIR ...)")
        images, paths, resolved = [], [], []
        for d in dirs:
            d = Path(d).expanduser()
            if not d.is_dir():
                raise TrainDataError(f"training image folder '{d}' does not exist")
            parts = {p.lower() for p in d.resolve().parts}
            bad = parts.intersection(BENCHMARK_NAMES)
            if bad and not allow_benchmark:
                raise TrainDataError(f"refusing to train on '{d}': it looks like an evaluation set "
                                     f"({sorted(bad)[0]}); benchmark images must not be used for training")
            files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in READABLE_SUFFIXES)
            if not files:
                raise TrainDataError(f"training image folder '{d}' contains no images")
            resolved.append(d.resolve())
            for f in files:
                img = load_image(f)
                arr = to_uint8(img.rgb)
                if min(arr.shape[:2]) >= min_side:
                    images.append(arr)
                    paths.append(f.resolve())
        if not images:
            raise TrainDataError(f"no training image is at least {min_side} pixels on its shorter side")
        return cls(images, paths, resolved)

    def take(self, indices) -> "ImageBank":
        """A bank of the images at ``indices`` (same folders)."""
        idx = list(indices)
        return ImageBank([self.images[i] for i in idx], [self.paths[i] for i in idx], list(self.dirs))

    def describe(self) -> dict:
        """Plain-data summary for checkpoint metadata."""
        per_dir = {}
        for p in self.paths:
            per_dir[str(p.parent)] = per_dir.get(str(p.parent), 0) + 1
        return {"dirs": [str(d) for d in self.dirs], "images_per_dir": per_dir, "images": len(self.images),
                "megapixels": round(sum(a.shape[0] * a.shape[1] for a in self.images) / 1e6, 3)}


@dataclass
class Batch:
    """One training batch (tensors on the CPU; the trainer moves them).

    ``lr``: ``(B, 3, p, p)`` in [0, 1]; ``coords``/``cells``: ``(B, Q, 2)``; ``gt``: ``(B, Q, 3)``
    in [0, 1]; ``scales``: ``(B,)`` actual HR/LR size ratios; ``patch``: side of the HR patch
    in ``patches`` mode (``Q == patch**2``, row-major), else ``None``.
    """

    lr: torch.Tensor
    coords: torch.Tensor
    cells: torch.Tensor
    gt: torch.Tensor
    scales: torch.Tensor
    patch: Optional[int] = None

    def gt_image(self) -> torch.Tensor:
        """Targets as ``(B, 3, P, P)`` images (``patches`` mode only)."""
        return to_image(self.gt, self.patch)

    def to(self, device, non_blocking: bool = False) -> "Batch":
        t = [x.to(device, non_blocking=non_blocking) for x in (self.lr, self.coords, self.cells, self.gt, self.scales)]
        return Batch(*t, self.patch)


def to_image(values: torch.Tensor, patch: Optional[int]) -> torch.Tensor:
    """``(B, P*P, 3)`` row-major patch values -> ``(B, 3, P, P)``."""
    if patch is None:
        raise ValueError("only patch samples form images")
    b = values.shape[0]
    return values.reshape(b, patch, patch, 3).permute(0, 3, 1, 2)


def bicubic_downsample(hr: torch.Tensor, size: int, degradation: str = "bicubic") -> torch.Tensor:
    """``(3, H, W)`` in [0, 1] -> ``(3, size, size)``, antialiased bicubic, clamped to [0, 1].

    ``bicubic``: torch's antialiased bicubic (PIL-like). ``matlab-bicubic``: the evaluation
    code's MATLAB ``imresize`` (``cisr_zoom.core.eval.bicubic``), the kernel the benchmarks use.
    """
    if degradation == "matlab-bicubic":
        try:
            from ..eval.bicubic import imresize  # type: ignore
        except ImportError as e:
            raise TrainDataError(f"degradation 'matlab-bicubic' needs cisr_zoom.core.eval.bicubic ({e})") from None
        return imresize(hr, size=(size, size)).clamp(0, 1)
    out = F.interpolate(hr.unsqueeze(0), size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp(0, 1)


class PairSampler:
    """Draws :class:`Batch` es from an :class:`ImageBank` (see the module docstring)."""

    def __init__(self, bank: ImageBank, lr_patch: int = 48, scale_min: float = 1.0, scale_max: float = 4.0,
                 sample: str = "points", n_points: int = 2304, patch_size: int = 64, augment: bool = True,
                 degradation: str = "bicubic", quantize_lr: bool = True,
                 degrade: Optional[DegradeSpec] = None):
        if sample not in SAMPLE_MODES:
            raise TrainDataError(f"unknown sampling mode {sample!r}: choose one of {', '.join(SAMPLE_MODES)}")
        if degradation not in DEGRADATIONS:
            raise TrainDataError(f"unknown degradation {degradation!r}: choose one of {', '.join(DEGRADATIONS)}")
        if not 1.0 <= scale_min <= scale_max:
            raise TrainDataError(f"need 1 <= scale_min <= scale_max, got {scale_min}, {scale_max}")
        if sample == "points" and n_points > lr_patch * lr_patch:
            raise TrainDataError(f"n_points={n_points} exceeds the smallest HR crop ({lr_patch}x{lr_patch} at x1)")
        if sample == "patches" and patch_size > lr_patch:
            raise TrainDataError(f"patch_size={patch_size} exceeds the smallest HR crop ({lr_patch} at x1): "
                                 f"use lr_patch >= patch_size")
        self.bank = bank
        self.lr_patch, self.scale_min, self.scale_max = int(lr_patch), float(scale_min), float(scale_max)
        self.sample, self.n_points, self.patch_size = sample, int(n_points), int(patch_size)
        self.augment, self.degradation, self.quantize_lr = augment, degradation, quantize_lr
        self.degrader = Degrader(degrade or DegradeSpec())
        self._sides = np.array([min(a.shape[:2]) for a in bank.images])
        biggest = round(self.lr_patch * self.scale_max)
        if self._sides.max() < round(self.lr_patch * self.scale_min):
            raise TrainDataError(f"no training image is large enough for a {round(self.lr_patch * self.scale_min)} "
                                 f"pixel HR crop")
        self._max_hr = min(biggest, int(self._sides.max()))

    def crop_pair(self, rng: np.random.Generator):
        """``(lr (3,p,p), hr (3,H,H), hr_size)``: steps 1 and 2 of the module docstring (the HR
        crop in [0, 1], its LR input degraded and quantised as configured)."""
        s = rng.uniform(self.scale_min, self.scale_max)
        hr_size = min(max(int(round(self.lr_patch * s)), self.lr_patch), self._max_hr)
        eligible = np.flatnonzero(self._sides >= hr_size)
        img = self.bank.images[int(eligible[rng.integers(len(eligible))])]
        h, w = img.shape[:2]
        y0, x0 = int(rng.integers(h - hr_size + 1)), int(rng.integers(w - hr_size + 1))
        crop = img[y0:y0 + hr_size, x0:x0 + hr_size]
        if self.augment:
            flips = rng.random(3) < 0.5
            if flips[0]:
                crop = crop[:, ::-1]
            if flips[1]:
                crop = crop[::-1, :]
            if flips[2]:
                crop = crop.transpose(1, 0, 2)
        hr = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255.0)
        if self.degrader.second_order:      # the HR crop degraded to the LR size; a sharpened target?
            lr, hr = self.degrader.pair(hr, self.lr_patch, rng)
        else:
            lr = bicubic_downsample(hr, self.lr_patch, self.degradation)
            lr = self.degrader(lr, rng)
        if self.quantize_lr:
            lr = torch.round(lr * 255.0) / 255.0
        return lr, hr, hr_size

    def sample_one(self, rng: np.random.Generator):
        """``(lr (3,p,p), coords (Q,2), cells (Q,2), gt (Q,3), scale)`` for one random pair."""
        lr, hr, hr_size = self.crop_pair(rng)
        if self.sample == "points":
            idx = torch.from_numpy(rng.choice(hr_size * hr_size, self.n_points, replace=False))
            coords = make_coord((hr_size, hr_size))[idx]
            gt = hr.reshape(3, -1).t()[idx]
        else:
            p = self.patch_size
            py, px = int(rng.integers(hr_size - p + 1)), int(rng.integers(hr_size - p + 1))
            coords = make_coord((hr_size, hr_size), flatten=False)[py:py + p, px:px + p].reshape(-1, 2)
            gt = hr[:, py:py + p, px:px + p].reshape(3, -1).t()
        cells = torch.full_like(coords, 2.0 / hr_size)
        return lr, coords, cells, gt.contiguous(), hr_size / self.lr_patch

    def batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        items = [self.sample_one(rng) for _ in range(batch_size)]
        lr, coords, cells, gt, scales = zip(*items)
        return Batch(torch.stack(lr), torch.stack(coords), torch.stack(cells), torch.stack(gt),
                     torch.tensor(scales, dtype=torch.float32),
                     self.patch_size if self.sample == "patches" else None)


def iteration_rng(seed: int, iteration: int, rank: int = 0) -> np.random.Generator:
    """The data generator for one (seed, iteration, rank): independent streams per rank (so
    processes see different samples), reproducible on resume."""
    return np.random.default_rng([int(seed), int(iteration), int(rank)])

