"""``cisr upscale IN -o OUT (--scale S | --scale SY,SX | --size WxH)``: upscale one image.

Any positive scale, non-integer and anisotropic included (2.7, 13, 30, ``2,3.5``). The output
is rendered and written in strips through :func:`cisr_zoom.core.render.export.export_image`,
so memory stays bounded for PNG and TIFF (JPEG is assembled in memory, up to a stated limit);
the file appears only when complete. Alpha (RGBA input) is upscaled bilinearly and kept for
PNG and TIFF outputs.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Tuple

DEFAULT_MODEL = "liif-edsr-baseline"
#: largest scale factor accepted (per axis); far beyond what any INN was trained for
MAX_SCALE = 1000.0
#: largest output side in pixels (PNG's own limit is 2**31 - 1)
MAX_SIDE = 2**31 - 1


def add_parser(sub) -> None:
    from ..devices import DEVICE_CHOICES
    from ..precision import PRECISION_CHOICES
    from ..render.export import MAX_OUTPUT_PIXELS, MAX_OUTPUT_SIDE
    from ..validate import POSITIVE_INT, QUALITY, arg_number
    p = sub.add_parser("upscale", help="upscale an image by any factor (2.7, 13, 30, or SY,SX)",
                       description="Upscale an image with a LIIF/CiSRGAN model. The output is written in "
                                   "strips (bounded memory) and appears only when complete.")
    p.add_argument("input", help="input image (PNG, JPEG, TIFF, WebP, BMP, ...)")
    p.add_argument("-o", "--output", required=True, help="output file: .png, .tif/.tiff or .jpg/.jpeg")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--scale", help="scale factor S, or SY,SX for different vertical/horizontal factors")
    size.add_argument("--size", help="output size WxH in pixels, e.g. 3840x2160")
    p.add_argument("--model", default=None,
                   help=f"bundled model name or checkpoint path (default: the bundled {DEFAULT_MODEL})")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="compute device (default: auto)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                      help="auto (default): the fastest precision whose error is below half an 8-bit level "
                           "(bfloat16 on CPUs with native bf16 and on GPUs, else float32); float32: exact; "
                           "bfloat16, float16 (GPUs), int8 (CPUs)")
    prec.add_argument("--exact", dest="precision", action="store_const", const="float32",
                      help="render in float32 (same as --precision float32)")
    p.add_argument("--tile", type=arg_number("--tile", POSITIVE_INT), default=None, metavar="N",
                   help="render chunk of N x N output pixels (default: by device); smaller uses less memory")
    p.add_argument("--jpeg-quality", type=arg_number("--jpeg-quality", QUALITY), default=95, metavar="Q",
                   help="JPEG quality 1-100 (default 95)")
    p.add_argument("--force", action="store_true",
                   help=f"render PNG/TIFF outputs above {MAX_OUTPUT_PIXELS // 10**6:,} megapixels or "
                        f"{MAX_OUTPUT_SIDE:,} pixels a side (streamed, bounded memory, but hours of work "
                        f"and a file of many GB)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def parse_scale(text: str) -> Tuple[float, float]:
    """``"2.7"`` -> ``(2.7, 2.7)``; ``"2,3.5"`` -> ``(2.0, 3.5)`` (vertical, horizontal)."""
    from ..errors import CisrError
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise CisrError(f"invalid --scale {text!r}: expected a number like 2.7 or two like 2,3.5") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or not all(math.isfinite(v) and 0 < v <= MAX_SCALE for v in vals):
        raise CisrError(f"invalid --scale {text!r}: expected one or two positive numbers up to {MAX_SCALE:g}")
    return vals[0], vals[1]


def parse_size(text: str) -> Tuple[int, int]:
    """``"WxH"`` -> ``(H, W)``."""
    from ..errors import CisrError
    t = str(text).lower().replace("*", "x").replace(",", "x")
    try:
        w, h = (int(v) for v in t.split("x"))
    except ValueError:
        raise CisrError(f"invalid --size {text!r}: expected WIDTHxHEIGHT, e.g. 3840x2160") from None
    if w < 1 or h < 1:
        raise CisrError(f"invalid --size {text!r}: both sides must be at least 1 pixel")
    if max(w, h) > MAX_SIDE:
        raise CisrError(f"invalid --size {text!r}: at most {MAX_SIDE} pixels a side")
    return h, w


def run(args) -> int:
    from ..checkpoint import bundled_models, load_checkpoint
    from ..coords import scale_to_size
    from ..devices import pick_device
    from ..errors import CisrError
    from ..imageio import load_image
    from ..render.export import check_export, check_output_ceiling, export_image, format_for
    from ..render.session import RenderSession

    out = Path(args.output).expanduser()
    format_for(out)                                   # unknown suffix: fail before any work
    scale = parse_scale(args.scale) if args.scale else None
    size = parse_size(args.size) if args.size else None
    if Path(args.input).expanduser().resolve() == out.resolve():
        raise CisrError(f"refusing to overwrite the input '{args.input}' with the output")

    image = load_image(args.input)
    h, w = image.size
    out_size = size if size is not None else scale_to_size((h, w), scale)
    fmt, out_size = check_export(out, out_size)
    check_output_ceiling(out_size, fmt, force=args.force)

    model_name = args.model
    if model_name is None:
        if DEFAULT_MODEL not in bundled_models():
            raise CisrError(f"no model available: the bundled '{DEFAULT_MODEL}' is not installed; "
                            f"pass --model PATH to a checkpoint (.pth)")
        model_name = DEFAULT_MODEL
    device = pick_device(args.device)
    lm = load_checkpoint(model_name, "cpu")
    if lm.descriptor is None:
        raise CisrError(f"model '{lm.name}' is not an image decoder (LIIF-style); cannot upscale with it")
    chunk = args.tile * args.tile if args.tile else None
    session = RenderSession(lm.model, image, device=device, precision=args.precision, chunk_size=chunk)

    show = not args.quiet and sys.stderr.isatty()
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if show and (now - last[0] > 0.5 or done == total):
            last[0] = now
            sys.stderr.write(f"\rcisr upscale: {100 * done / total:5.1f}% of {total} rows")
            sys.stderr.flush()

    try:
        export_image(session, out, out_size, fmt=fmt, jpeg_quality=args.jpeg_quality, progress=progress)
    finally:
        if show:
            sys.stderr.write("\n")
    H, W = out_size
    alpha = " with alpha" if image.alpha is not None and fmt != "jpeg" else ""
    if not args.quiet:
        print(f"wrote {out} ({W}x{H}{alpha}; from {w}x{h}, scale {H / h:.4g}x{W / w:.4g}) with model "
              f"{lm.name} on {device.type} ({session.precision}) in {time.perf_counter() - t0:.1f} s")
    if image.alpha is not None and fmt == "jpeg" and not args.quiet:
        print("note: JPEG has no alpha channel; the transparency of the input was dropped", file=sys.stderr)
    return 0
