"""``cisr upscale INPUT... -o OUT (--scale S | --scale SY,SX | --size WxH)``: upscale images.

Any positive scale, non-integer and anisotropic included (2.7, 13, 30, ``2,3.5``); an output at
or below the input's size is an antialiased resample, no model (:mod:`..render.resample`). Inputs are
files, folders (the images directly inside, sorted by name), glob patterns (``'shots/*.jpg'``,
``**`` recursive) or ``-`` (one image read from stdin). With one input file, ``-o`` is the output
file (or ``-`` for stdout, or a folder when it ends in ``/``); with several inputs, a folder or a
glob, ``-o`` is a folder (made if missing) and each output is named ``STEM + SUFFIX + .EXT``: ``--suffix`` (default ``_x{scale}``,
or ``_{size}`` with ``--size``; fields ``{scale}``, ``{size}``, ``{width}``, ``{height}``,
``{model}``) and ``--format`` (default: the input's own format if it is PNG, JPEG, TIFF or WebP,
else PNG).

An existing output is never replaced unless ``--overwrite`` is given, also not one that another
process writes meanwhile (:func:`cisr_zoom.core.atomic.atomic_writer`'s ``overwrite=False``);
``--skip-existing`` leaves it and goes on. The output is checked to be writable before any work. A file that fails (unreadable, exists, too large ...) is reported in one
line and the batch goes on; the exit status is 1 if any failed. The batch is
:class:`cisr_zoom.core.batch.Batch`, the same job as the app's File > Upscale Folder...: each
output is rendered and written in strips through :func:`cisr_zoom.core.render.export.export_steps`
(bounded memory for PNG and TIFF), keeps the input's ICC profile, EXIF, resolution (scaled), 16 bits and
greyness where the format allows, and appears only when complete. Progress (rate, ETA) is a
``tqdm`` bar on stderr, also when stderr is not a terminal; ``-q`` turns it off.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Tuple

from ..batch import STDIO, BatchEvents, expand_inputs
from ..defaults import DEFAULT_MODEL

#: largest scale factor accepted (per axis); far beyond what any INN was trained for
MAX_SCALE = 1000.0
#: largest output side in pixels (PNG's own limit is 2**31 - 1)
MAX_SIDE = 2**31 - 1


def add_parser(sub) -> None:
    from ..devices import DEVICE_HELP, device_arg
    from ..precision import PRECISION_CHOICES
    from ..imagewrite.formats import EXPORT_FORMATS
    from ..render.export import MAX_OUTPUT_PIXELS, MAX_OUTPUT_SIDE
    from ..validate import POSITIVE_INT, QUALITY, arg_number
    p = sub.add_parser("upscale", help="upscale images by any factor (2.7, 13, 30, or SY,SX)",
                       description="Upscale images with a LIIF/CiSRGAN model. Outputs are written in strips "
                                   "(bounded memory), keep the input's ICC profile, EXIF, resolution and bit "
                                   "depth, and appear only when complete.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (PNG, JPEG, TIFF, WebP, BMP, ...), folders (their images), glob patterns "
                        "('*.jpg', 'shots/**/*.png'), or - to read one image from stdin")
    p.add_argument("-o", "--output", required=True,
                   help="output file for one input (.png, .tif/.tiff, .jpg/.jpeg, .webp), - for stdout; "
                        "a folder for several inputs, a folder or a glob")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--scale", help="scale factor S, or SY,SX for different vertical/horizontal factors")
    size.add_argument("--size", help="output size WxH in pixels, e.g. 3840x2160")
    p.add_argument("--suffix", default=None,
                   help="output names in a folder: STEM + SUFFIX + extension (default _x{scale}, or _{size} "
                        "with --size; fields {scale} {size} {width} {height} {model})")
    p.add_argument("--format", choices=[f.name for f in EXPORT_FORMATS], default=None,
                   help="output format (default: from the output's suffix; in a folder: the input's format "
                        "if PNG/JPEG/TIFF/WebP, else png; on stdout: likewise)")
    policy = p.add_mutually_exclusive_group()
    policy.add_argument("--overwrite", action="store_true", help="replace existing output files")
    policy.add_argument("--skip-existing", action="store_true",
                        help="leave existing output files as they are and go on (default: refuse, "
                             "counted as a failure)")
    p.add_argument("--model", default=None,
                   help=f"bundled model name or checkpoint path (default: the bundled {DEFAULT_MODEL})")
    p.add_argument("--exact-decoder", action="store_true",
                   help="render the model with its own decoder (default: through its bundled LM twin when one "
                        "measured within 0.10 dB of it exists; same encoder, distilled decoder, faster)")
    p.add_argument("--device", default="auto", type=device_arg, help=f"compute device: {DEVICE_HELP} (default: auto)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                      help="auto (default): the fastest precision whose error is below half an 8-bit level "
                           "(bfloat16 on CPUs with native bf16 and on GPUs, else float32); float32: exact; "
                           "bfloat16, float16 (GPUs), int8 (CPUs)")
    prec.add_argument("--exact", dest="precision", action="store_const", const="float32",
                      help="render in float32 (same as --precision float32)")
    p.add_argument("--tile", type=arg_number("--tile", POSITIVE_INT), default=None, metavar="N",
                   help="render chunk of N x N output pixels (default: by device); smaller uses less memory")
    p.add_argument("--quality", "--jpeg-quality", dest="quality", type=arg_number("--quality", QUALITY), default=95,
                   metavar="Q", help="JPEG and lossy WebP quality 1-100 (default 95)")
    p.add_argument("--lossless", action="store_true", help="lossless WebP")
    p.add_argument("--pyramid", action="store_true",
                   help="TIFF as a tiled pyramid (BigTIFF, OME-TIFF sub-resolutions) that image viewers "
                        "(napari, QuPath, GIMP) open at once at any size")
    p.add_argument("--color", "--colour", dest="colour", action="store_true",
                   help="write RGB for grey inputs (default: grey stays grey)")
    p.add_argument("--bits", type=int, choices=(8, 16), default=None,
                   help="bits per sample of PNG/TIFF outputs (default: 16 for 16-bit inputs, else 8)")
    p.add_argument("--no-metadata", dest="keep_metadata", action="store_false",
                   help="drop the input's ICC profile, EXIF and resolution")
    p.add_argument("--force", action="store_true",
                   help=f"render PNG/TIFF outputs above {MAX_OUTPUT_PIXELS // 10**6:,} megapixels or "
                        f"{MAX_OUTPUT_SIDE:,} pixels a side (streamed, bounded memory, but hours of work "
                        f"and a file of many GB)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary lines")
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


# -- the command ---------------------------------------------------------------------------

def options_of(args):
    """The :class:`~cisr_zoom.core.batch.BatchOptions` of the command line (bad --scale/--size: one line)."""
    from ..batch import OVERWRITE, REFUSE, SKIP, BatchOptions
    return BatchOptions(scale=parse_scale(args.scale) if args.scale else None,
                        size=parse_size(args.size) if args.size else None, suffix=args.suffix, fmt=args.format,
                        policy=OVERWRITE if args.overwrite else SKIP if args.skip_existing else REFUSE,
                        model=args.model, exact_decoder=getattr(args, "exact_decoder", False), device=args.device,
                        precision=args.precision, tile=args.tile, quality=args.quality, lossless=args.lossless,
                        pyramid=args.pyramid, colour=args.colour, bits=args.bits, keep_metadata=args.keep_metadata,
                        force=args.force)


class Lines(BatchEvents):
    """What ``cisr upscale`` prints as a batch goes: a tqdm bar per file (output pixels, rate,
    ETA) on stderr, also when stderr is not a terminal; a line per file written or skipped;
    errors and notes on stderr. ``quiet``: errors only."""

    def __init__(self, quiet: bool, info):
        self.quiet, self.info = quiet, info
        self.bar = None
        self.width = 0

    def file_rendering(self, index, total, result) -> None:
        from tqdm import tqdm
        H, W = result.out_size
        source = result.source
        label = (f"[{index}/{total}] " if total > 1 else "") + (Path(source).name if source != STDIO else "stdin")
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        self.width = W
        self.bar = tqdm(total=H * W, desc=label, unit="px", unit_scale=True, file=sys.stderr, disable=self.quiet,
                        mininterval=0.5, leave=True, dynamic_ncols=True)

    def file_progress(self, index, total, rows_done, rows) -> None:
        if self.bar is not None:
            self.bar.update(rows_done * self.width - self.bar.n)

    def file_finished(self, index, total, result) -> None:
        from ..batch import FAILED, SKIPPED
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if result.status == FAILED:
            print(f"cisr upscale: error: {result.message}", file=sys.stderr)
            return
        if self.quiet:
            return
        if result.status == SKIPPED:
            print(f"skipped {result.output} (exists)", file=self.info)
            return
        print(written_line(result), file=self.info)
        for note in result.lost:
            print(f"note: {note}", file=sys.stderr)


def written_line(result) -> str:
    """``wrote OUT (WxH, 8-bit RGB; ICC, EXIF; from wxh, scale ...) with model ... in S s``."""
    style, (H, W), (h, w) = result.style, result.out_size, result.in_size
    kind = f"{W}x{H}, {style.bits}-bit {'grey' if style.grey else 'RGB'}{' with alpha' if style.alpha else ''}"
    kept = [n for n, v in (("ICC", style.metadata.icc_profile), ("EXIF", style.metadata.exif),
                           ("dpi", style.metadata.dpi)) if v]
    return (f"wrote {result.output or 'stdout'} ({kind}{'; ' + ', '.join(kept) if kept else ''}; from {w}x{h}, "
            f"scale {H / h:.4g}x{W / w:.4g}) {result.how} in {result.seconds:.1f} s")


def run(args) -> int:
    from ..batch import Batch, run_to_end
    from ..errors import CisrError
    from ..imagewrite.formats import format_for
    up = Batch(options_of(args), args.output)        # bad --scale/--size: one line before any work
    files, several, problems = expand_inputs(args.inputs)
    out = Path(args.output).expanduser()
    # one input file: -o is a file, a folder only when written as one (ending in '/')
    folder_mode = not up.to_stdout and (several or args.output.endswith(("/", "\\")))
    if up.to_stdout and (several or len(files) != 1):
        raise CisrError("-o - (stdout) takes exactly one input image")
    if not folder_mode and not up.to_stdout:
        format_for(out)                              # unknown suffix: fail before any work
    if folder_mode and out.exists() and not out.is_dir():
        raise CisrError(f"with several inputs -o must be a folder; '{args.output}' is a file")
    for p in problems:
        print(f"cisr upscale: error: {p}", file=sys.stderr)
    if files:
        up.model()                                   # no usable model or device: one line, nothing done
    info = sys.stderr if up.to_stdout else sys.stdout
    o = run_to_end(up.steps(files, out if folder_mode else None, events=Lines(args.quiet, info)))
    o.failed += len(problems)
    n = len(files)
    if (n > 1 or (n and problems)) and not args.quiet:
        print(f"cisr upscale: {o.written} written, {o.skipped} skipped, {o.failed} failed "
              f"({n} input{'s' if n != 1 else ''})", file=info if not o.failed else sys.stderr)
    return 1 if o.failed else 0
