"""Benchmark tables: bicubic and LIIF-family models on HR image folders, at several scales.

For each HR image and scale ``s`` (a whole number):

1. ``HR`` is read as 8-bit RGB and cropped at the bottom/right to a multiple of ``s``;
2. the LR input is MATLAB bicubic ``imresize(HR, 1/s)`` on the 8-bit image (antialiased,
   8-bit result), as the standard benchmark LR sets were made;
3. the SR output at the HR size is, for ``bicubic``, MATLAB bicubic ``imresize(LR, s)`` of the
   8-bit LR (8-bit result); for a LIIF-family model, ``model.query(model.encode(LR), coords,
   cells)`` at every HR pixel centre (cell = one HR pixel; computed by the renderer from the
   features of the whole LR image, :func:`super_resolve`), for a fixed-scale model its output at
   its native scale resampled to the HR size (both through
   :func:`cisr_zoom.core.render.sources.open_source`), clamped to ``[0, 1]`` and **quantised
   to 8 bits** (``round(255 x) / 255``) like a saved PNG, as in standard practice;
4. metrics (:mod:`.metrics`): PSNR on ``Y`` with ``s`` pixels shaved for benchmark sets (on the
   grey level for grey-scale files, as the MATLAB scripts behind the published tables do), on
   RGB with ``s + 6`` shaved for DIV2K (LIIF's conventions); SSIM on ``Y`` with the same shave;
   NIQE (:mod:`.niqe`) and LPIPS (:mod:`.lpips`) on the same shaved images;
5. artifact measures (:mod:`.artifacts`, on the whole output): ``cell``, the energy at the
   input-pixel period, and ``blocking``, the energy at the period of 8 input pixels (JPEG's
   block), each as a ratio to the ground truth's own energy (``/GT``) and to bicubic's output
   from the same LR (``/bicubic``).

:func:`evaluate_no_reference` scores photos without ground truth (``cisr eval --no-reference``):
each image is the LR input; NIQE of each output, the artifact ratios to bicubic's output in the
smooth half of the photo (:func:`.artifacts.smooth_mask`, where a pattern shows), and a crop
figure per image and scale (:mod:`.figure`).

With ``degrade`` (:mod:`.degrade_lr`, ``cisr eval --degrade jpeg:75``), step 2's LR is degraded
(JPEG, or the ``realistic`` camera model) and rounded to 8 bits before step 3; the scores are
still against the clean HR.

PSNR, SSIM, NIQE and LPIPS figures are means over the images of a set; the artifact ratios are
medians (one image with no texture must not dominate a ratio). LPIPS appears only when its
pretrained weights are available; otherwise the table says "unavailable" and why.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..atomic import atomic_write_text
from ..coords import FULL_REGION, make_cell, make_coord
from ..devices import cpu_name
from ..errors import CisrError
from ..imageio import READABLE_SUFFIXES, load_image, to_uint8
from ..render.session import RenderSession
from . import metrics as M
from .artifacts import blocking_energy, cell_energy, centre_crop, smooth_mask
from .bicubic import imresize, modcrop
from .degrade_lr import LRDegradation

DEFAULT_SCALES = (2, 3, 4, 6, 12, 24, 30)
METRICS = ("psnr", "ssim", "niqe", "lpips", "cell", "blocking")
DEFAULT_METRICS = METRICS
DEFAULT_CHUNK = 30000
UNAVAILABLE = "unavailable"

METRIC_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "niqe": "NIQE", "lpips": "LPIPS"}
METRIC_DIGITS = {"psnr": 2, "ssim": 4, "niqe": 3, "lpips": 4}

#: artifact metrics: the energy measure of an output at integer scale ``s`` (:mod:`.artifacts`)
ARTIFACTS: Dict[str, Callable[..., float]] = {"cell": cell_energy, "blocking": blocking_energy}
#: what an artifact ratio is relative to: the ground truth's own energy, bicubic's output's
REFERENCES = ("gt", "bicubic")
REF_LABELS = {"gt": "GT", "bicubic": "bicubic"}


def metric_keys(metric: str, references: Sequence[str] = REFERENCES) -> List[str]:
    """The per-image value keys of a metric: ``psnr`` -> ``[psnr]``; ``cell`` -> ``[cell_gt,
    cell_bicubic]`` (the raw energy ``cell_energy`` is kept per image, not tabled)."""
    return [f"{metric}_{r}" for r in references] if metric in ARTIFACTS else [metric]


def key_label(key: str) -> str:
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    met, ref = key.rsplit("_", 1)
    return f"{met}/{REF_LABELS[ref]} (median)"


def key_digits(key: str) -> int:
    return METRIC_DIGITS.get(key, 2)


def is_median(key: str) -> bool:
    """Artifact ratios are summarised by the median over images, the other metrics by the mean."""
    return key.rsplit("_", 1)[0] in ARTIFACTS


def ratio(a: float, b: float) -> float:
    """``a / b``, NaN where either is undefined or ``b`` is not positive."""
    return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else float("nan")


def artifact_energies(metrics: Sequence[str], img: np.ndarray, s: int,
                      mask: Optional[np.ndarray] = None) -> Dict[str, float]:
    """``{metric: energy}`` of ``img`` (an output at integer scale ``s``) for each artifact metric."""
    return {met: ARTIFACTS[met](img, s, mask) for met in metrics if met in ARTIFACTS}


def artifact_scores(energies: Dict[str, float], refs: Dict[str, Dict[str, float]]) -> Dict[str, float]:
    """Per-image values: ``{met}_energy`` and ``{met}_{ref}`` = energy / the reference's."""
    out: Dict[str, float] = {}
    for met, e in energies.items():
        out[f"{met}_energy"] = e
        for ref, ref_e in refs.items():
            out[f"{met}_{ref}"] = ratio(e, ref_e[met])
    return out


# -- data ------------------------------------------------------------------------------------

def hr_folder(data: str | os.PathLike) -> Path:
    """``DIR/HR`` when it exists, else ``DIR`` itself."""
    d = Path(data).expanduser()
    if not d.is_dir():
        raise CisrError(f"data folder '{d}' does not exist or is not a folder")
    return d / "HR" if (d / "HR").is_dir() else d


def dataset_name(data: str | os.PathLike) -> str:
    """``Set5`` for ``.../Set5``, ``.../Set5/HR`` or ``.../Set5/HR/`` alike."""
    d = Path(data).expanduser().resolve()
    return d.parent.name if d.name.upper() == "HR" else d.name


def list_images(folder: Path, limit: Optional[int] = None) -> List[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in READABLE_SUFFIXES)
    if not files:
        raise CisrError(f"no images found in '{folder}'")
    return files[:limit] if limit else files


GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def load_hr(path: Path) -> Tuple[np.ndarray, bool]:
    """8-bit RGB ``(H, W, 3)`` ``uint8`` (alpha, if any, is ignored), and whether the file is grey-scale."""
    img = load_image(path)
    u8 = np.clip(np.floor(img.rgb.astype(np.float64) * 255.0 + 0.5), 0, 255).astype(np.uint8)
    return u8, img.source_mode in GREY_MODES


def make_pair(hr: np.ndarray, scale: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(HR cropped to a multiple of scale, LR)``, both ``uint8`` ``(H, W, 3)``."""
    hr = modcrop(hr, scale)
    h, w = hr.shape[:2]
    return hr, imresize(hr, size=(h // scale, w // scale))


# -- methods ---------------------------------------------------------------------------------

@torch.no_grad()
def super_resolve(model: torch.nn.Module, lr: np.ndarray, size: Tuple[int, int],
                  device: torch.device | str = "cpu", chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """A LIIF-family model's output at every pixel centre of an ``size = (H, W)`` grid.

    ``lr``: ``(h, w, 3)`` ``uint8`` or float in ``[0, 1]``. Returns float32 ``(H, W, 3)`` clamped
    to ``[0, 1]`` (not quantised)."""
    device = torch.device(device)
    x = lr.astype(np.float32) / 255.0 if lr.dtype == np.uint8 else lr.astype(np.float32)
    if model.describe().fast_path:
        # the renderer's float32 fast path (same values as model.query within 1e-4, much faster),
        # features of the whole image encoded in one piece
        session = RenderSession.whole_image(model, x, device, "float32", chunk_size=chunk_size)
        return session.render(FULL_REGION, (int(size[0]), int(size[1])))
    inp = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)
    h, w = int(size[0]), int(size[1])
    coords = make_coord((h, w), device=device)[None]
    cells = make_cell((h, w), n=h * w, device=device)[None]
    feats = model.encode(inp)
    out = model.query(feats, coords, cells, chunk_size=chunk_size)
    return out[0].clamp(0, 1).view(h, w, 3).cpu().numpy()


@dataclass
class Method:
    """Something that turns an 8-bit LR image into an 8-bit SR image of a given size."""

    name: str
    upscale: Callable[[np.ndarray, Tuple[int, int]], np.ndarray]
    info: Dict[str, Any] = field(default_factory=dict)


def bicubic_method() -> Method:
    return Method("bicubic", lambda lr, size: imresize(lr, size=size),
                  {"kind": "bicubic", "description": "MATLAB bicubic imresize of the 8-bit LR"})


def model_method(name_or_path: str, device: torch.device | str = "cpu", chunk_size: int = DEFAULT_CHUNK) -> Method:
    """A bundled model name or a checkpoint path, loaded with :func:`core.fixed_scale.load_model`
    and rendered through :func:`core.render.sources.open_source` on the whole LR image at the HR
    size (an INN checkpoint from features of the whole image, as :func:`super_resolve`; a
    fixed-scale model at its native scale, resampled like a view)."""
    from ..fixed_scale import load_model
    from ..render.sources import describe_source, open_source
    lm = load_model(name_or_path, device=device)
    desc = describe_source(lm)

    def up(lr: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
        rgb = lr.astype(np.float32) / 255.0 if lr.dtype == np.uint8 else lr.astype(np.float32)
        source = open_source(lm, rgb, device, "float32", chunk_size=chunk_size, whole=True)
        return to_uint8(source.render(FULL_REGION, (int(size[0]), int(size[1]))))
    return Method(lm.name, up, {"kind": desc.kind, "path": str(lm.path), **desc.facts})


def make_method(spec: str, device: torch.device | str = "cpu", chunk_size: int = DEFAULT_CHUNK) -> Method:
    """``bicubic``, a bundled model name or a checkpoint path."""
    return bicubic_method() if spec.lower() == "bicubic" else model_method(spec, device, chunk_size)


# -- scoring ---------------------------------------------------------------------------------

class Scorers:
    """The metric functions for one run; LPIPS / NIQE models are loaded once, or marked unavailable."""

    def __init__(self, metrics: Sequence[str], device: torch.device | str = "cpu",
                 lpips_backbone: Optional[str] = None, lpips_linear: Optional[str] = None,
                 niqe_model: Optional[str] = None, lpips_model: Any = None,
                 say: Optional[Callable[[str], None]] = None):
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise CisrError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
        self.metrics = list(metrics)
        self.device = torch.device(device)
        self.unavailable: Dict[str, str] = {}
        self.lpips = None
        self.niqe = None
        if not self.metrics:
            raise CisrError(f"no metrics given; choose from {', '.join(METRICS)}")
        for flag, given in (("--lpips-alexnet", lpips_backbone), ("--lpips-linear", lpips_linear),
                            ("--niqe-model", niqe_model)):
            if given and not Path(given).expanduser().is_file():   # a typo must not read as "unavailable"
                raise CisrError(f"{flag}: file '{given}' does not exist")
        if "lpips" in self.metrics:
            if lpips_model is not None:
                self.lpips = lpips_model
            else:
                from .lpips import load_lpips
                from ..pretrained import PretrainedWeightsUnavailable
                try:
                    self.lpips = load_lpips(lpips_backbone, lpips_linear, self.device, say=say)
                except PretrainedWeightsUnavailable as e:
                    self.unavailable["lpips"] = str(e)
        if "niqe" in self.metrics:
            from .niqe import NiqeModelError, default_model, load_pristine
            try:
                self.niqe = load_pristine(niqe_model) if niqe_model else default_model()
            except NiqeModelError as e:
                self.unavailable["niqe"] = str(e)

    def score(self, sr: np.ndarray, hr: np.ndarray, proto: M.Protocol, grey: bool = False,
              scale: Optional[int] = None, refs: Optional[Dict[str, Dict[str, float]]] = None) -> Dict[str, float]:
        """All available metrics of one ``uint8`` SR/HR pair (``grey``: grey-scale test image).
        The artifact metrics need the integer ``scale`` and ``refs``, the reference energies
        ``{"gt": {...}, "bicubic": {...}}`` (:func:`artifact_energies` of the HR and of bicubic)."""
        from .niqe import niqe
        out: Dict[str, float] = {}
        if refs is not None:
            out.update(artifact_scores(artifact_energies(self.metrics, sr, int(scale)), refs))
        srf, hrf = M.as_float(sr), M.as_float(hr)
        if "psnr" in self.metrics:
            out["psnr"] = proto.psnr(srf, hrf, grey)
        if "ssim" in self.metrics:
            out["ssim"] = proto.ssim(srf, hrf, grey)
        if "niqe" in self.metrics and self.niqe is not None:
            out["niqe"] = niqe(proto.crop(sr), self.niqe)
        if "lpips" in self.metrics and self.lpips is not None:
            if hr is None:
                raise CisrError("LPIPS needs a ground truth")
            a = torch.from_numpy(np.ascontiguousarray(proto.crop(srf).transpose(2, 0, 1))).float()[None]
            b = torch.from_numpy(np.ascontiguousarray(proto.crop(hrf).transpose(2, 0, 1))).float()[None]
            with torch.no_grad():
                out["lpips"] = float(self.lpips(a.to(self.device), b.to(self.device))[0])
        return out


@dataclass
class DatasetResult:
    """Scores of several methods on one image set. ``per_image[method][scale][image][metric]``."""

    dataset: str
    kind: str
    folder: str
    images: List[str]
    scales: List[int]
    metrics: List[str]
    methods: List[str]
    per_image: Dict[str, Dict[int, Dict[str, Dict[str, float]]]]
    unavailable: Dict[str, str]
    skipped: Dict[str, List[str]] = field(default_factory=dict)   # "x30" -> images too small
    seconds: float = 0.0
    grey_images: List[str] = field(default_factory=list)           # scored on grey levels
    degrade: Optional[Dict[str, str]] = None                        # LRDegradation.to_dict()
    references: Tuple[str, ...] = REFERENCES                        # of the artifact ratios

    def _values(self, method: str, key: str, scale: int) -> List[float]:
        return [v[key] for v in self.per_image[method][scale].values()
                if key in v and v[key] is not None and math.isfinite(v[key])]

    def mean(self, method: str, metric: str, scale: int) -> Optional[float]:
        """Mean over the images with a finite value; ``None`` when there is none."""
        vals = self._values(method, metric, scale)
        return float(np.mean(vals)) if vals else None

    def median(self, method: str, key: str, scale: int) -> Optional[float]:
        """Median over the images with a finite value; ``None`` when there is none."""
        vals = self._values(method, key, scale)
        return float(np.median(vals)) if vals else None

    def value(self, method: str, key: str, scale: int) -> Optional[float]:
        """The table's figure: the median for artifact ratios, else the mean."""
        return (self.median if is_median(key) else self.mean)(method, key, scale)

    def keys(self) -> List[str]:
        """The tabled value keys, in order (one per metric, two per artifact metric)."""
        return [k for met in self.metrics for k in metric_keys(met, self.references)]

    def count(self, method: str, metric: str, scale: int) -> int:
        return sum(1 for v in self.per_image[method][scale].values()
                   if metric in v and v[metric] is not None and math.isfinite(v[metric]))

    def protocol_text(self) -> str:
        if self.kind == M.NO_REFERENCE:
            return "no ground truth: the input is the LR image"
        if self.kind == M.DIV2K:
            return "PSNR on RGB, shave scale+6 px; SSIM on Y"
        return "PSNR and SSIM on Y (BT.601), shave scale px"

    def to_dict(self) -> Dict[str, Any]:
        def summary(median: bool):
            return {m: {k: {f"x{s}": self.value(m, k, s) for s in self.scales} for k in self.keys()
                        if is_median(k) == median} for m in self.methods}
        return {"dataset": self.dataset, "kind": self.kind, "folder": self.folder, "images": self.images,
                "scales": self.scales, "metrics": self.metrics, "methods": self.methods,
                "degrade": self.degrade, "protocol": self.protocol_text(), "mean": summary(False),
                "median": summary(True), "unavailable": self.unavailable,
                "skipped": self.skipped, "grey_images": self.grey_images, "seconds": round(self.seconds, 1),
                "per_image": {m: {f"x{s}": self.per_image[m][s] for s in self.scales} for m in self.methods}}


def _upscale(m: Method, lr: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    sr = m.upscale(lr, size)
    if sr.shape != (size[0], size[1], 3):
        raise CisrError(f"{m.name} returned {sr.shape[1]}x{sr.shape[0]} for a {size[1]}x{size[0]} target")
    return sr


def _step(progress: Optional[Callable[[str], None]], where: str, m: Method, lr: np.ndarray,
          size: Tuple[int, int], bicubic: Optional[np.ndarray] = None) -> np.ndarray:
    """One method's output, with a progress line naming the image, scale, method and time."""
    t = time.perf_counter()
    sr = bicubic if bicubic is not None and m.info.get("kind") == "bicubic" else _upscale(m, lr, size)
    if progress:
        progress(f"{where} {m.name}: {time.perf_counter() - t:.1f} s")
    return sr


def too_small(size: Tuple[int, int], scale: int, kind: str) -> bool:
    """An HR image of ``size = (h, w)`` cannot be scored at ``scale``: after cropping to a
    multiple of the scale, the LR image is empty or the shaved border leaves under 10 pixels."""
    h, w = size[0] - size[0] % scale, size[1] - size[1] % scale
    return h // scale < 1 or w // scale < 1 or min(h, w) <= 2 * M.protocol(kind, scale).border + 10


def check_sizes(data: str | os.PathLike, scales: Sequence[int], kind: Optional[str] = None,
                limit: Optional[int] = None) -> None:
    """For ``cisr eval``, before any work: refuse (one line) a scale at which no image of the
    set ``data`` can be scored, naming the images and the smallest side that scale needs. A
    scale at which only some are too small goes on (:func:`evaluate` skips them and the table
    lists them)."""
    from PIL import Image
    name = dataset_name(data)
    kind = kind or M.guess_kind(name)
    files = list_images(hr_folder(data), limit)
    sizes = {}
    for p in files:
        try:
            with Image.open(p) as im:
                sizes[p.name] = (im.height, im.width)
        except Exception:  # noqa: BLE001 - an unreadable image is reported when it is loaded
            return
    for s in scales:
        if sizes and all(too_small(hw, s, kind) for hw in sizes.values()):
            need = next(n for n in range(s, 100 * s + 1000, s) if not too_small((n, n), s, kind))
            listed = ", ".join(f"{n} ({w}x{h})" for n, (h, w) in list(sizes.items())[:5])
            more = f" and {len(sizes) - 5} more" if len(sizes) > 5 else ""
            raise CisrError(f"every image of {name} is too small to score at x{s} (it needs at least {need} pixels "
                            f"a side): {listed}{more}; choose smaller --scales or larger images")


def evaluate(methods: Sequence[Method], data: str | os.PathLike, scales: Sequence[int],
             scorers: Scorers, kind: Optional[str] = None, limit: Optional[int] = None,
             progress: Optional[Callable[[str], None]] = None,
             degrade: Optional[LRDegradation] = None) -> DatasetResult:
    """Score ``methods`` on the HR images of ``data`` (a folder of images, or one holding ``HR/``);
    with ``degrade``, on degraded LR inputs (against the clean HR). ``progress`` gets a line per
    method and image."""
    t0 = time.perf_counter()
    folder = hr_folder(data)
    name = dataset_name(data)
    kind = kind or M.guess_kind(name)
    files = list_images(folder, limit)
    scales = [int(s) for s in scales]
    per: Dict[str, Dict[int, Dict[str, Dict[str, float]]]] = {m.name: {s: {} for s in scales} for m in methods}
    skipped: Dict[str, List[str]] = {}
    greys: List[str] = []
    for k, path in enumerate(files):
        hr_full, grey = load_hr(path)
        if grey:
            greys.append(path.name)
        for s in scales:
            proto = M.protocol(kind, s)
            if too_small(hr_full.shape[:2], s, kind):
                skipped.setdefault(f"x{s}", []).append(path.name)
                continue
            hr, lr = make_pair(hr_full, s)
            if degrade is not None:
                lr = degrade.apply(lr, path.name, s)
            refs = bic = None
            if any(met in ARTIFACTS for met in scorers.metrics):
                bic = imresize(lr, size=hr.shape[:2])
                refs = {"gt": artifact_energies(scorers.metrics, hr, s),
                        "bicubic": artifact_energies(scorers.metrics, bic, s)}
            where = f"{name} {k + 1}/{len(files)} {path.name} x{s}"
            for m in methods:
                sr = _step(progress, where, m, lr, hr.shape[:2], bic)
                per[m.name][s][path.name] = scorers.score(sr, hr, proto, grey, s, refs)
    return DatasetResult(dataset=name, kind=kind, folder=str(folder), images=[p.name for p in files],
                         scales=scales, metrics=list(scorers.metrics), methods=[m.name for m in methods],
                         per_image=per, unavailable=dict(scorers.unavailable), skipped=skipped,
                         seconds=time.perf_counter() - t0, grey_images=greys,
                         degrade=degrade.to_dict() if degrade else None)


NO_REFERENCE_METRICS = ("niqe", "cell", "blocking")
FIGURE_CROP = 96     # LR pixels: the side of the crop figure of --no-reference


def figure_path(folder: str | os.PathLike, image: str, scale: int) -> Path:
    return Path(folder) / f"{Path(image).stem}_x{scale}.png"


def evaluate_no_reference(methods: Sequence[Method], data: str | os.PathLike, scales: Sequence[int],
                          scorers: Scorers, limit: Optional[int] = None,
                          progress: Optional[Callable[[str], None]] = None, crop: Optional[int] = None,
                          figures: Optional[str | os.PathLike] = None,
                          figure_crop: int = FIGURE_CROP) -> DatasetResult:
    """Score ``methods`` on photos without ground truth: every image of ``data`` is the LR input
    (``crop``: its central ``crop x crop`` pixels only), enlarged ``s`` times for each scale.
    Per image: NIQE of each output, and ``cell_bicubic`` / ``blocking_bicubic``, the artifact
    energies in the smooth half of the photo relative to bicubic's there. With ``figures``, a
    crop figure per image and scale (:func:`figure_path`): the central ``figure_crop`` LR pixels
    of bicubic's and each method's output, side by side."""
    from .figure import side_by_side
    wrong = [m for m in scorers.metrics if m not in NO_REFERENCE_METRICS]
    if wrong:
        raise CisrError(f"{', '.join(wrong)} need(s) a ground truth; without one choose from "
                        f"{', '.join(NO_REFERENCE_METRICS)}")
    t0 = time.perf_counter()
    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise CisrError(f"folder '{folder}' does not exist or is not a folder")
    files = list_images(folder, limit)
    scales = [int(s) for s in scales]
    if any(s < 2 for s in scales):
        raise CisrError("--no-reference needs whole-number scales of at least 2")
    per: Dict[str, Dict[int, Dict[str, Dict[str, float]]]] = {m.name: {s: {} for s in scales} for m in methods}
    niqe_model = scorers.niqe if "niqe" in scorers.metrics else None
    for k, path in enumerate(files):
        lr = load_hr(path)[0]
        if crop:
            lr = centre_crop(lr, crop)
        mask = smooth_mask(lr)
        for s in scales:
            size = (lr.shape[0] * s, lr.shape[1] * s)
            bic = imresize(lr, size=size)
            refs = {"bicubic": artifact_energies(scorers.metrics, bic, s, mask)}
            where = f"{folder.name} {k + 1}/{len(files)} {path.name} x{s}"
            cols = [(f"bicubic x{s}", bic)]
            for m in methods:
                sr = _step(progress, where, m, lr, size, bic)
                row = artifact_scores(artifact_energies(scorers.metrics, sr, s, mask), refs)
                if niqe_model is not None:
                    from .niqe import niqe
                    row["niqe"] = niqe(sr, niqe_model)
                per[m.name][s][path.name] = row
                if m.info.get("kind") != "bicubic":
                    cols.append((f"{m.name} x{s}", sr))
            if figures is not None:     # the centred figure_crop square of LR pixels, enlarged
                side = min(figure_crop, *lr.shape[:2])
                y0, x0 = (lr.shape[0] - side) // 2 * s, (lr.shape[1] - side) // 2 * s
                fig = side_by_side([(label, px[y0:y0 + side * s, x0:x0 + side * s]) for label, px in cols])
                write_png(figure_path(figures, path.name, s), fig)
    return DatasetResult(dataset=folder.name, kind=M.NO_REFERENCE, folder=str(folder),
                         images=[p.name for p in files], scales=scales, metrics=list(scorers.metrics),
                         methods=[m.name for m in methods], per_image=per, unavailable=dict(scorers.unavailable),
                         seconds=time.perf_counter() - t0, references=("bicubic",))


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """An ``uint8`` RGB array as a PNG, atomically (parent folders made)."""
    from PIL import Image

    from ..atomic import atomic_write_bytes
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue())


# -- tables ----------------------------------------------------------------------------------

def _cell(r: DatasetResult, method: str, key: str, scale: int) -> str:
    if key in r.unavailable:
        return UNAVAILABLE
    v = r.value(method, key, scale)
    if v is None:
        return "n/a"
    if math.isinf(v):
        return "inf"
    return f"{v:.{key_digits(key)}f}"


def table_rows(r: DatasetResult) -> Tuple[List[str], List[List[str]]]:
    header = ["Method", "Metric"] + [f"x{s}" for s in r.scales]
    rows = []
    for m in r.methods:
        for i, key in enumerate(r.keys()):
            rows.append([m if i == 0 else "", key_label(key)] + [_cell(r, m, key, s) for s in r.scales])
    return header, rows


def lr_text(r: DatasetResult) -> str:
    if r.kind == M.NO_REFERENCE:
        return "SR quantised to 8 bits; artifact ratios to bicubic's output in the smooth half of each photo"
    lr = "LR by MATLAB bicubic on 8-bit HR"
    if r.degrade:
        lr += f", degraded: {r.degrade['description']}; scored against the clean HR"
    return lr + "; SR quantised to 8 bits"


def caption(r: DatasetResult) -> str:
    return f"{r.dataset} ({r.kind}; {len(r.images)} images; {r.protocol_text()}; {lr_text(r)})"


def notes(r: DatasetResult) -> List[str]:
    out = [f"{met.upper()} unavailable: {why}" for met, why in r.unavailable.items()]
    if r.grey_images and r.kind == M.BENCHMARK:
        out.append(f"grey-scale image(s) scored on grey levels (MATLAB convention): {', '.join(r.grey_images)}")
    for s, names in r.skipped.items():
        out.append(f"{s}: {len(names)} image(s) too small, skipped: {', '.join(names[:5])}"
                   + (" ..." if len(names) > 5 else ""))
    for key in r.keys():
        if key in r.unavailable:
            continue
        for m in r.methods:
            for s in r.scales:
                n, total = r.count(m, key, s), len(r.per_image[m][s])
                if n < total:
                    why = ("too small for the period, or a reference without energy" if is_median(key)
                           else "e.g. no full 96x96 NIQE patch")
                    out.append(f"{m} {key_label(key).split(' (')[0].upper()} x{s}: "
                               f"{'median' if is_median(key) else 'mean'} of {n}/{total} images "
                               f"(others undefined, {why})")
    return out


def per_image_rows(r: DatasetResult) -> Tuple[List[str], List[List[str]]]:
    """Rows image x method, a column per value and scale (the no-reference targets are per photo)."""
    header = ["Image", "Method"] + [f"{key_label(k).split(' (')[0]} x{s}" for k in r.keys() for s in r.scales]
    rows = []
    for img in r.images:
        for i, m in enumerate(r.methods):
            cells = []
            for k in r.keys():
                for s in r.scales:
                    v = r.per_image[m][s].get(img, {}).get(k)
                    cells.append(UNAVAILABLE if k in r.unavailable else "n/a" if v is None or not math.isfinite(v)
                                 else f"{v:.{key_digits(k)}f}")
            rows.append([img if i == 0 else "", m] + cells)
    return header, rows


def _text_table(header: List[str], rows: List[List[str]]) -> List[str]:
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [line(header), line(["-" * w for w in widths])] + [line(row) for row in rows]


def format_text(r: DatasetResult) -> str:
    out = [caption(r)] + _text_table(*table_rows(r))
    if r.kind == M.NO_REFERENCE:
        out += ["per image:"] + _text_table(*per_image_rows(r))
    out += [f"note: {n}" for n in notes(r)]
    return "\n".join(out)


def format_markdown(r: DatasetResult) -> str:
    header, rows = table_rows(r)
    out = [f"**{caption(r)}**", "", "| " + " | ".join(header) + " |",
           "|" + "|".join(["---", "---"] + ["---:"] * len(r.scales)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    out += [""] + [f"- {n}" for n in notes(r)] if notes(r) else []
    return "\n".join(out)


def format_csv(results: Sequence[DatasetResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["dataset", "kind", "method", "metric", "scale", "value", "images"])
    for r in results:
        for m in r.methods:
            for key in r.keys():
                for s in r.scales:
                    v = UNAVAILABLE if key in r.unavailable else r.value(m, key, s)
                    w.writerow([r.dataset, r.kind, m, key, s, "" if v is None else v, r.count(m, key, s)])
    return buf.getvalue()


def machine_description() -> str:
    cpu = cpu_name()
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def run_info(device: torch.device | str, methods: Sequence[Method],
             degrade: Optional[LRDegradation] = None) -> Dict[str, Any]:
    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_description(), "device": str(device), "torch": torch.__version__,
            "methods": {m.name: m.info for m in methods},
            "degrade": degrade.to_dict() if degrade else None,
            "conventions": {"lr": "MATLAB bicubic imresize (antialiased) of the 8-bit HR, 8-bit result",
                            "sr": "clamped to [0,1] and quantised to 8 bits before scoring",
                            "benchmark": "PSNR/SSIM on BT.601 Y (grey levels for grey-scale images), shave = scale",
                            "div2k": "PSNR on RGB, shave = scale + 6; SSIM on Y",
                            "ssim": "Gaussian 11x11, sigma 1.5, K1 0.01, K2 0.03, valid windows",
                            "niqe": "96x96 patches, shipped pristine model fitted on HR training images",
                            "lpips": "v0.1, AlexNet, inputs in [-1, 1]",
                            "cell": "energy of the LR-aligned s x s mean cell of the high-passed Y (whole "
                                    "output); median over images of the ratio to the GT's and to bicubic's",
                            "blocking": "the same at the period of 8 LR pixels, less the cell pattern's "
                                        "harmonics; median over images of the ratios"}}


def write_results(path: str | os.PathLike, results: Sequence[DatasetResult], info: Dict[str, Any]) -> None:
    """Save as ``.json`` (everything, per image), ``.md`` or ``.csv`` (means), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        text = json.dumps({"run": info, "results": [r.to_dict() for r in results]}, indent=1,
                          allow_nan=True, default=str)
    elif suffix == ".md":
        head = f"Measured {info['date']} on {info['machine']} (device {info['device']}, torch {info['torch']})."
        text = "\n\n".join([head] + [format_markdown(r) for r in results]) + "\n"
    elif suffix == ".csv":
        text = format_csv(results)
    else:
        raise CisrError(f"cannot save results as '{path.name}': use a .json, .md or .csv file name")
    atomic_write_text(path, text)
