"""The cell pattern: energy of an upscaled image at the harmonics of the LR pixel period.

A model that turns input noise into a texture repeating with every LR pixel produces, at an
integer scale ``s``, a component of period ``s`` HR pixels in both axes. Its energy is measured
on the luma (BT.601 Y, [0, 1]) as:

1. high-pass: ``r = Y - box_s(Y)``, where ``box_s`` is an ``s x s`` moving average; a box of
   width ``s`` has zeros at every harmonic ``k / s`` (k = 1 .. s-1), so ``r`` keeps the period-``s``
   components whole and drops the slowly varying image content;
2. fold: average ``r`` over all ``s x s`` cells aligned with the LR pixel grid: what is left is
   exactly the projection of ``r`` onto the frequencies ``(k / s, l / s)`` (the mean cell);
3. energy: the mean square of that ``s x s`` mean cell (units: squared [0, 1] luma).

:func:`cell_pattern_score` divides a method's energy by bicubic's on the same input, so 1.0 is
"as periodic as bicubic interpolation", and a pattern the eye sees is well above it. Where the
ground truth exists, ``cisr eval`` also divides by the ground truth's own energy (a sharp true
image has far more energy at the LR period than bicubic's blur).

**JPEG blocking** (:func:`blocking_energy`) is the periodic energy at the period of ``8`` LR
pixels (``8 s`` HR pixels, the JPEG block) of the squared luma differences (block edges are
steps of random sign: folding the signal itself would average them away), less the part that
repeats with every LR pixel (the cell pattern's share), relative to their mean.

Optionally the fold keeps only some LR cells (``mask``, a boolean ``(H // s, W // s)`` array):
:func:`smooth_mask` picks the smooth half of an LR image, where a pattern shows (used without a
ground truth, ``cisr eval --no-reference``).

``python -m cisr_zoom.core.eval.artifacts IMAGE --scale 6 --model liif-edsr-baseline`` prints the
energies and ratios for bicubic and each ``--model`` on a centre crop of the image taken as LR.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np


def luma(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 or float [0, 1] -> BT.601 Y in [0, 1], float64."""
    x = rgb.astype(np.float64) / (255.0 if rgb.dtype == np.uint8 else 1.0)
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def _box(y: np.ndarray, s: int) -> np.ndarray:
    """``s x s`` moving average, same size, edge-replicated (a separable running sum)."""
    lo, hi = (s - 1) // 2, s // 2
    p = np.pad(y, ((lo, hi), (lo, hi)), mode="edge")
    c = np.cumsum(np.pad(p, ((1, 0), (1, 0))), axis=0)
    c = np.cumsum(c, axis=1)
    h, w = y.shape
    return (c[s:s + h, s:s + w] - c[:h, s:s + w] - c[s:s + h, :w] + c[:h, :w]) / (s * s)


def mean_cell(y: np.ndarray, s: int, mask: Optional[np.ndarray] = None) -> np.ndarray:
    """The ``s x s`` mean of the high-passed image over all LR-aligned cells (see module doc);
    with ``mask`` (boolean, one value per cell: ``(H // s, W // s)``), over the cells where it is
    true. All NaN when no cell is left (an image smaller than three cells, an empty mask)."""
    if s < 2:
        raise ValueError("the cell pattern needs an integer scale >= 2")
    r = y - _box(y, s)
    m = s  # drop a margin of one cell where the box filter sees the edge padding
    h, w = (y.shape[0] // s) * s, (y.shape[1] // s) * s
    r = r[m:h - m, m:w - m]
    cells = r.reshape(r.shape[0] // s, s, r.shape[1] // s, s).transpose(0, 2, 1, 3)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (h // s, w // s):
            raise ValueError(f"the cell mask must be {h // s}x{w // s} (one value per cell), got "
                             f"{mask.shape[0]}x{mask.shape[1]}")
        cells = cells[mask[1:-1, 1:-1]]
    else:
        cells = cells.reshape(-1, s, s)
    if cells.shape[0] == 0:
        return np.full((s, s), np.nan)
    return cells.mean(axis=0)


def cell_energy(img: np.ndarray, s: int, mask: Optional[np.ndarray] = None) -> float:
    """Energy of the cell pattern of an upscaled image at integer scale ``s`` (squared Y units);
    NaN where no cell is measured (see :func:`mean_cell`)."""
    c = mean_cell(luma(img), s, mask)
    return float(np.mean(c ** 2))


BLOCK = 8   # JPEG's block side, in LR pixels


def _phase_profile(d2: np.ndarray, p: int, w: Optional[np.ndarray]) -> np.ndarray:
    """Mean of ``d2`` (rows: positions along the axis) by position modulo ``p`` (weighted by ``w``)."""
    n = (d2.shape[0] // p) * p
    if n == 0:
        return np.full(p, np.nan)
    d2 = d2[:n].reshape(n // p, p, -1)
    if w is None:
        return d2.mean(axis=(0, 2))
    w = w[:n].reshape(n // p, p, -1)
    den = w.sum(axis=(0, 2))
    return np.where(den > 0, (d2 * w).sum(axis=(0, 2)) / np.maximum(den, 1e-30), np.nan)


def blocking_energy(img: np.ndarray, s: int, mask: Optional[np.ndarray] = None, block: int = BLOCK) -> float:
    """JPEG blocking of an output at integer scale ``s`` (``s = 1``: an image at its own pixels).

    A JPEG's block edges are steps of random sign, which a fold of the signal averages away, so
    the period of ``block`` LR pixels (``p = block * s`` output pixels) is measured on the squared
    differences of neighbouring luma values: per axis, their mean at each position modulo ``p``
    (the profile ``P``, over the whole image), less its part of period ``s`` (the cell pattern's
    share, whose harmonics are a subset: the two measures share no frequency); the energy is the
    mean square of that residual over ``mean(P) ** 2`` (dimensionless), averaged over the two
    axes. ``mask`` (boolean ``(H // s, W // s)``, one value per LR pixel) keeps the differences
    at the selected pixels. NaN where not one period fits or nothing is selected."""
    y = luma(img)
    p = block * s
    w = None
    if mask is not None:
        m = np.asarray(mask, dtype=np.float64)
        w = np.zeros(y.shape)
        big = np.repeat(np.repeat(m, s, axis=0), s, axis=1)
        w[:big.shape[0], :big.shape[1]] = big[:y.shape[0], :y.shape[1]]
    out = []
    for axis in (1, 0):
        d2 = np.diff(y, axis=axis) ** 2
        ww = None if w is None else np.minimum(w[:, 1:], w[:, :-1]) if axis == 1 else np.minimum(w[1:], w[:-1])
        if axis == 1:
            d2, ww = d2.T, None if ww is None else ww.T
        prof = _phase_profile(d2, p, ww)
        mean = float(np.mean(prof))
        if not math.isfinite(mean):
            return float("nan")
        resid = prof - np.tile(prof.reshape(block, s).mean(axis=0), block)
        out.append(float(np.mean(resid ** 2)) / mean ** 2 if mean > 0 else 0.0)
    return float(np.mean(out))


def smooth_mask(lr: np.ndarray, window: int = 5, share: float = 0.5) -> np.ndarray:
    """Boolean ``(h, w)``: the LR pixels whose luma standard deviation over a ``window x window``
    neighbourhood is among the lowest ``share`` of the image, or flat (the smooth areas, where a
    pattern at the pixel period shows and no true detail hides it)."""
    y = luma(lr)
    var = np.maximum(_box(y * y, window) - _box(y, window) ** 2, 0.0)
    return var <= max(float(np.quantile(var, share)), 1e-10)   # flat areas count whole (float noise)


def cell_pattern_score(sr: np.ndarray, bicubic: np.ndarray, s: int) -> float:
    """``cell_energy(sr) / cell_energy(bicubic)`` on the same input (1.0: bicubic's level)."""
    return cell_energy(sr, s) / max(cell_energy(bicubic, s), 1e-20)


def centre_crop(img: np.ndarray, side: int) -> np.ndarray:
    """The central ``side x side`` square of an ``(H, W, ...)`` array (smaller if the image is)."""
    h, w = img.shape[:2]
    side = min(side, h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return img[y:y + side, x:x + side]


def measure(image_path: str, scale: int, models: Sequence[str], crop: int = 96) -> List[Dict[str, object]]:
    """Rows ``{"method", "energy", "ratio_to_bicubic"}`` for bicubic and each model."""
    from ..eval.benchmark import load_hr, make_method

    lr = centre_crop(load_hr(image_path)[0], crop)
    size = (lr.shape[0] * scale, lr.shape[1] * scale)
    outs = {"bicubic": make_method("bicubic").upscale(lr, size)}
    for m in models:
        outs[m] = make_method(m).upscale(lr, size)
    base = cell_energy(outs["bicubic"], scale)
    return [{"method": k, "energy": cell_energy(v, scale), "ratio_to_bicubic": cell_energy(v, scale) / base}
            for k, v in outs.items()]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cisr_zoom.core.eval.artifacts", description=__doc__.split("\n\n")[0])
    ap.add_argument("image", help="the photo, taken as the LR input")
    ap.add_argument("--scale", type=int, default=6)
    ap.add_argument("--model", action="append", default=[], help="bundled model name or checkpoint (repeatable)")
    ap.add_argument("--crop", type=int, default=96, help="LR centre crop side in pixels (default 96)")
    args = ap.parse_args(argv)
    from ..errors import CisrError
    try:
        rows = measure(args.image, args.scale, args.model, args.crop)
    except (CisrError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"cell pattern at x{args.scale}, {args.crop}px LR centre crop of {args.image}")
    for r in rows:
        print(f"{r['method']:<28} energy {r['energy']:.3e}  ratio to bicubic {r['ratio_to_bicubic']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
