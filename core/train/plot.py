"""``cisr train --plot RUN``: the learning curves of a run as a PNG, drawn with Pillow only.

Panels, all against the iteration: the training loss (``loss_g``, a running mean over 20 log
lines beside the raw values), the generator's learning rate, validation Y-PSNR per scale (dB)
and, when logged, validation LPIPS per scale. Reads ``RUN/log.jsonl`` (see :mod:`.trainer`);
writes ``RUN/curves.png`` unless told otherwise, atomically.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image, ImageDraw

from ..atomic import atomic_write_bytes
from ..errors import CisrError

Series = List[Tuple[float, float]]
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
W, H_PANEL, MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 900, 230, 70, 110, 24, 28


def read_log(path: Path) -> Tuple[Dict[str, Series], Dict[str, Series]]:
    """``(training series, validation series)``, each ``{name: [(iter, value), ...]}``."""
    train: Dict[str, Series] = {}
    val: Dict[str, Series] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CisrError(f"cannot read '{path}': {e.strerror or e}") from None
    for line in lines:
        try:
            rec = json.loads(line)
            it = float(rec["iter"])
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(rec.get("val"), dict):
            for scale, r in rec["val"].items():
                for k, v in (r.items() if isinstance(r, dict) else ()):
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        val.setdefault(f"{k} {scale}", []).append((it, float(v)))
            continue
        for k in ("loss_g", "lr_g"):
            v = rec.get(k)
            if isinstance(v, (int, float)) and math.isfinite(v):
                train.setdefault(k, []).append((it, float(v)))
    return train, val


def running_mean(s: Series, n: int = 20) -> Series:
    out, acc = [], []
    for x, y in s:
        acc.append(y)
        if len(acc) > n:
            acc.pop(0)
        out.append((x, sum(acc) / len(acc)))
    return out


def _panel(draw: ImageDraw.ImageDraw, top: int, title: str, series: Sequence[Tuple[str, Series]],
           x_range: Tuple[float, float]) -> None:
    x0, x1 = MARGIN_L, W - MARGIN_R
    y0, y1 = top + MARGIN_T, top + H_PANEL - MARGIN_B
    draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
    draw.text((x0, top + 6), title, fill=(0, 0, 0))
    pts = [p for _, s in series for p in s]
    if not pts:
        draw.text((x0 + 10, y0 + 10), "no data", fill=(120, 120, 120))
        return
    lo, hi = min(p[1] for p in pts), max(p[1] for p in pts)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * abs(lo or 1) * 0.01 - 1e-9, hi + 0.5 * abs(hi or 1) * 0.01 + 1e-9
    xa, xb = x_range
    xb = xb if xb > xa else xa + 1

    def px(p):
        return (x0 + (p[0] - xa) / (xb - xa) * (x1 - x0), y1 - (p[1] - lo) / (hi - lo) * (y1 - y0))
    for t in range(5):  # y ticks
        v = lo + (hi - lo) * t / 4
        yy = y1 - (y1 - y0) * t / 4
        draw.line([x0 - 4, yy, x0, yy], fill=(0, 0, 0))
        draw.text((4, yy - 6), f"{v:.4g}", fill=(0, 0, 0))
    for t in range(5):  # x ticks
        v = xa + (xb - xa) * t / 4
        xx = x0 + (x1 - x0) * t / 4
        draw.line([xx, y1, xx, y1 + 4], fill=(0, 0, 0))
        draw.text((xx - 12, y1 + 6), f"{v:.0f}", fill=(0, 0, 0))
    for i, (name, s) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        xy = [px(p) for p in s]
        if len(xy) == 1:
            draw.ellipse([xy[0][0] - 3, xy[0][1] - 3, xy[0][0] + 3, xy[0][1] + 3], fill=colour)
        elif xy:
            draw.line(xy, fill=colour, width=2 if "mean" in name or len(series) > 1 else 1)
        draw.text((x1 + 8, y0 + 14 * i), name, fill=colour)


def render_curves(train: Dict[str, Series], val: Dict[str, Series], title: str = "") -> bytes:
    """The figure as PNG bytes."""
    panels: List[Tuple[str, List[Tuple[str, Series]]]] = []
    loss = train.get("loss_g", [])
    panels.append(("training loss (loss_g)", [("raw", loss), ("mean of 20", running_mean(loss))]))
    panels.append(("learning rate (generator)", [("lr_g", train.get("lr_g", []))]))
    psnr = sorted((k, s) for k, s in val.items() if k.startswith("psnr_y"))
    panels.append(("validation Y-PSNR (dB), held-out images", psnr))
    lp = sorted((k, s) for k, s in val.items() if k.startswith("lpips"))
    if lp:
        panels.append(("validation LPIPS (alex), held-out images", lp))
    xs = [p[0] for _, ss in panels for _, s in ss for p in s]
    x_range = (min(xs), max(xs)) if xs else (0.0, 1.0)
    img = Image.new("RGB", (W, 20 + H_PANEL * len(panels)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.text((MARGIN_L, 4), title or "learning curves", fill=(0, 0, 0))
    for i, (name, series) in enumerate(panels):
        _panel(draw, 20 + i * H_PANEL, name, series, x_range)
    draw.text((W // 2 - 20, img.height - 14), "iteration", fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def plot_run(run: str, output: Optional[str] = None) -> Path:
    """Draw ``run``'s ``log.jsonl`` (``run`` is the folder or the log file); returns the PNG path."""
    p = Path(run).expanduser()
    log = p if p.is_file() else p / "log.jsonl"
    if not log.is_file():
        raise CisrError(f"no training log at '{log}' (give the run folder, e.g. runs/<name>)")
    train, val = read_log(log)
    if not train and not val:
        raise CisrError(f"'{log}' holds no logged iterations yet")
    out = Path(output).expanduser() if output else log.parent / "curves.png"
    atomic_write_bytes(out, render_curves(train, val, title=str(log.parent.name)))
    return out
