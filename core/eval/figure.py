"""A side-by-side crop figure: the same LR crop enlarged by bicubic and by each model.

``python -m cisr_zoom.core.eval.figure IMAGE -o FIG.png --scale 4 --crop 96 --model liif-edsr-baseline
--model cisrgan-edsr-baseline`` takes a ``crop x crop`` pixel square of IMAGE at its own pixels (the
LR input; ``--at Y,X`` its top-left corner in image pixels, default: the centre), enlarges it
``scale`` times with MATLAB-bicubic and with each model, and writes the columns side by side
with a label above each (atomically; PNG). What the README's "400 %" crop figure is made with.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import List, Optional, Sequence, Tuple

import numpy as np

LABEL_HEIGHT = 22        # pixels of the label band above each column
GAP = 6                  # pixels between columns


def crop_at(img: np.ndarray, side: int, at: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """The ``side x side`` square of ``img`` (``(H, W, 3)``) with top-left ``at = (y, x)`` in
    pixels (default: centred); clipped to the image."""
    h, w = img.shape[:2]
    side = min(side, h, w)
    y, x = at if at is not None else ((h - side) // 2, (w - side) // 2)
    y, x = min(max(0, int(y)), h - side), min(max(0, int(x)), w - side)
    return img[y:y + side, x:x + side]


def side_by_side(columns: Sequence[Tuple[str, np.ndarray]]) -> np.ndarray:
    """``uint8`` RGB canvas: the equally sized ``(label, image)`` columns left to right, each
    under a band with its label, :data:`GAP` pixels apart, on white."""
    from PIL import Image, ImageDraw
    h, w = columns[0][1].shape[:2]
    canvas = Image.new("RGB", (len(columns) * w + (len(columns) - 1) * GAP, h + LABEL_HEIGHT), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, px) in enumerate(columns):
        if px.shape[:2] != (h, w):
            raise ValueError("the figure's columns must have one size")
        x = i * (w + GAP)
        canvas.paste(Image.fromarray(px), (x, LABEL_HEIGHT))
        draw.text((x + 4, 4), label, fill=(0, 0, 0))
    return np.asarray(canvas)


def make_figure(image_path: str, scale: int, models: Sequence[str], crop: int = 96,
                at: Optional[Tuple[int, int]] = None, labels: Optional[Sequence[str]] = None) -> np.ndarray:
    """The figure's pixels: bicubic and each model (bundled name or checkpoint) on the crop."""
    from .benchmark import load_hr, make_method
    lr = crop_at(load_hr(image_path)[0], crop, at)
    size = (lr.shape[0] * scale, lr.shape[1] * scale)
    names = ["bicubic"] + list(models)
    shown = list(labels) if labels else names
    if len(shown) != len(names):
        raise ValueError(f"{len(names)} columns but {len(shown)} labels")
    cols: List[Tuple[str, np.ndarray]] = []
    for name, label in zip(names, shown):
        cols.append((f"{label}  x{scale}", make_method(name).upscale(lr, size)))
    return side_by_side(cols)


def _pair(text: str) -> Tuple[int, int]:
    try:
        y, x = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected Y,X in pixels, got {text!r}") from None
    return y, x


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cisr_zoom.core.eval.figure", description=__doc__.split("\n\n")[0])
    ap.add_argument("image", help="the photo, taken as the LR input at its own pixels")
    ap.add_argument("-o", "--out", required=True, help="the PNG to write")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--crop", type=int, default=96, help="LR crop side in pixels (default 96)")
    ap.add_argument("--at", type=_pair, default=None, help="Y,X: the crop's top-left pixel (default: centred)")
    ap.add_argument("--model", action="append", default=[], help="bundled model name or checkpoint (repeatable)")
    ap.add_argument("--label", action="append", default=[],
                    help="column labels, bicubic's first (repeatable; default: the names)")
    args = ap.parse_args(argv)
    from PIL import Image

    from ..atomic import atomic_write_bytes
    from ..errors import CisrError, error_message
    try:
        if args.scale < 1 or args.crop < 1:
            raise CisrError("--scale and --crop must be at least 1")
        fig = make_figure(args.image, args.scale, args.model, args.crop, args.at, args.label or None)
        buf = io.BytesIO()
        Image.fromarray(fig).save(buf, format="PNG", optimize=True)
        atomic_write_bytes(args.out, buf.getvalue())
    except (CisrError, OSError, ValueError) as e:
        print(f"error: {error_message(e)}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({fig.shape[1]}x{fig.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
