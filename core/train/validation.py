"""Validation during training on images held out from the training folders.

``[validation]`` in the config::

    holdout = 0          # images taken out of the training bank (0: no validation)
    every = 500          # iterations between validations (and once at the end of a run)
    scales = [2, 4]      # integer scales; LR made with MATLAB-bicubic like `cisr eval`
    crop = 192           # HR centre crop side (pixels), cut to a multiple of each scale
    lpips = true         # also LPIPS(alex) when its ImageNet weights are installed
    photos = ""          # a folder of real photographs without ground truth (e.g. realphoto/): the
    photo_scales = [4, 6]  # cell pattern on their smooth areas at these scales, as a ratio to
    photo_crop = 96      # bicubic's (median over the photos), on an LR centre crop of this side

The held-out images are a fixed, name-sorted choice (every k-th image of the bank), never the
benchmark sets; they are removed from the training bank, so the model never sees them. Each
validation records, per scale, the mean Y-channel PSNR (shaved by the scale, as `cisr eval`)
and the mean LPIPS where available; with ``photos``, ``"photo_x4": {"cell_to_bicubic": r}`` per
photo scale (:mod:`cisr_zoom.core.eval.artifacts`, masked to the smooth half of each crop, where a
pattern shows and no detail hides it; the median over the photos). Results go to ``log.jsonl`` as ``{"iter": i, "val": {...}}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..errors import CisrError
from .data import ImageBank


class ValidationConfigError(CisrError):
    """An invalid ``[validation]`` table."""


@dataclass(frozen=True)
class ValidationSpec:
    holdout: int = 0
    every: int = 500
    scales: Tuple[int, ...] = (2, 4)
    crop: int = 192
    lpips: bool = True
    photos: str = ""
    photo_scales: Tuple[int, ...] = (4, 6)
    photo_crop: int = 96

    @classmethod
    def from_config(cls, v: Dict[str, Any]) -> "ValidationSpec":
        scales = v["scales"]
        if not (isinstance(scales, list) and scales
                and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 32 for s in scales)):
            raise ValidationConfigError(f"validation.scales must be a list of integers in 1..32, got {scales!r}")
        if int(v["holdout"]) < 0:
            raise ValidationConfigError("validation.holdout must be >= 0")
        if int(v["every"]) < 1:
            raise ValidationConfigError("validation.every must be >= 1")
        if int(v["crop"]) < 2 * max(scales):
            raise ValidationConfigError(f"validation.crop must be at least twice the largest scale "
                                        f"({2 * max(scales)}), got {v['crop']}")
        photo_scales = v.get("photo_scales", [4, 6])
        if not (isinstance(photo_scales, list) and photo_scales
                and all(isinstance(s, int) and not isinstance(s, bool) and 2 <= s <= 32 for s in photo_scales)):
            raise ValidationConfigError(f"validation.photo_scales must be a list of integers in 2..32, "
                                        f"got {photo_scales!r}")
        if not isinstance(v.get("photos", ""), str):
            raise ValidationConfigError("validation.photos must be a folder path (a string)")
        if not 16 <= int(v.get("photo_crop", 96)) <= 1024:
            raise ValidationConfigError(f"validation.photo_crop must be 16..1024, got {v.get('photo_crop')}")
        return cls(int(v["holdout"]), int(v["every"]), tuple(scales), int(v["crop"]), bool(v["lpips"]),
                   str(v.get("photos", "")), tuple(photo_scales), int(v.get("photo_crop", 96)))

    @property
    def enabled(self) -> bool:
        return self.holdout > 0


def split_holdout(bank: ImageBank, n: int) -> Tuple[ImageBank, ImageBank]:
    """``(training bank, held-out bank)``: every k-th image (by the bank's sorted order) held out."""
    if n <= 0:
        return bank, ImageBank([], [], list(bank.dirs))
    if n >= len(bank.images):
        raise ValidationConfigError(f"validation.holdout = {n} leaves no training image (the bank has "
                                    f"{len(bank.images)})")
    step = len(bank.images) / n
    held = sorted({int(i * step + step / 2) for i in range(n)})
    keep = [i for i in range(len(bank.images)) if i not in set(held)]
    return bank.take(keep), bank.take(held)


class Validator:
    """Scores a generator on the held-out images (see the module docstring)."""

    def __init__(self, spec: ValidationSpec, bank: ImageBank, device: torch.device):
        self.spec, self.bank, self.device = spec, bank, device
        self.photos = load_photo_crops(spec.photos, spec.photo_crop) if spec.photos else []
        self.lpips = None
        self.lpips_note: Optional[str] = None
        if spec.lpips:
            from ..eval.lpips import load_lpips
            from ..pretrained import PretrainedWeightsUnavailable
            try:
                self.lpips = load_lpips(device=device, download=False)
            except PretrainedWeightsUnavailable as e:
                self.lpips_note = f"LPIPS not computed: {str(e).splitlines()[0]}"

    def names(self) -> List[str]:
        return [p.name for p in self.bank.paths]

    @torch.no_grad()
    def run(self, model: torch.nn.Module) -> Dict[str, Any]:
        """``{"x2": {"psnr_y": dB, "lpips": value or absent}, ...}``, means over the images."""
        from ..eval.artifacts import centre_crop
        from ..eval.benchmark import make_pair, super_resolve
        from ..imageio import to_uint8
        from ..eval.metrics import psnr_y

        was_training = model.training
        model.eval()
        try:
            out: Dict[str, Any] = {}
            for s in self.spec.scales:
                ps: List[float] = []
                lp: List[float] = []
                for img in self.bank.images:
                    crop = centre_crop(img, self.spec.crop)
                    hr, lr = make_pair(crop, s)
                    sr = super_resolve(model, lr, hr.shape[:2], self.device)
                    sr8 = to_uint8(sr)
                    ps.append(psnr_y(sr8, hr, border=s))
                    if self.lpips is not None:
                        lp.append(self._lpips(sr8, hr))
                rec: Dict[str, Any] = {"psnr_y": round(float(np.mean(ps)), 4)}
                if lp:
                    rec["lpips"] = round(float(np.mean(lp)), 5)
                out[f"x{s}"] = rec
            for s in self.spec.photo_scales if self.photos else ():
                ratios = [photo_cell_ratio(model, lr, s, self.device) for lr in self.photos]
                out[f"photo_x{s}"] = {"cell_to_bicubic": round(float(np.median(ratios)), 4)}
            return out
        finally:
            model.train(was_training)

    def _lpips(self, a: np.ndarray, b: np.ndarray) -> float:
        ta = torch.from_numpy(a).permute(2, 0, 1)[None].float().div(255.0).to(self.device)
        tb = torch.from_numpy(b).permute(2, 0, 1)[None].float().div(255.0).to(self.device)
        v = float(self.lpips(ta, tb).mean())
        return v if math.isfinite(v) else float("nan")


def load_photo_crops(folder: str, side: int) -> List[np.ndarray]:
    """LR centre crops (``side`` pixels, uint8 RGB) of the images in ``folder``, sorted by name."""
    from pathlib import Path

    from ..eval.artifacts import centre_crop
    from ..eval.benchmark import load_hr
    from ..imageio import READABLE_SUFFIXES
    d = Path(folder).expanduser()
    if not d.is_dir():
        raise ValidationConfigError(f"validation.photos: '{d}' is not a folder")
    paths = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in READABLE_SUFFIXES)
    if not paths:
        raise ValidationConfigError(f"validation.photos: no images in '{d}'")
    return [np.ascontiguousarray(centre_crop(load_hr(str(p))[0], side)) for p in paths]


def photo_cell_ratio(model: torch.nn.Module, lr: np.ndarray, s: int, device: torch.device) -> float:
    """Cell-pattern energy of ``model``'s x``s`` output over bicubic's, both on the smooth half of
    the LR crop ``lr`` (uint8 RGB): the ``cell/bicubic`` column of ``cisr eval --no-reference``."""
    from ..eval.artifacts import cell_energy, smooth_mask
    from ..eval.benchmark import ratio, super_resolve
    from ..eval.bicubic import imresize
    from ..imageio import to_uint8
    size = (lr.shape[0] * s, lr.shape[1] * s)
    sr = to_uint8(super_resolve(model, lr, size, device))
    bic = imresize(lr, size=size)
    mask = smooth_mask(lr)
    return ratio(cell_energy(sr, s, mask), cell_energy(bic, s, mask))


def describe(spec: ValidationSpec, names: Sequence[str]) -> Dict[str, Any]:
    """Plain data for the model card."""
    out = {"held_out_images": list(names), "every": spec.every, "scales": list(spec.scales),
           "crop": spec.crop, "lpips": spec.lpips}
    if spec.photos:
        out.update(photos=spec.photos, photo_scales=list(spec.photo_scales), photo_crop=spec.photo_crop)
    return out
