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
line and the batch goes on; the exit status is 1 if any failed. Each output is rendered and
written in strips through :func:`cisr_zoom.core.render.export.export_image` (bounded memory
for PNG and TIFF), keeps the input's ICC profile, EXIF, resolution (scaled), 16 bits and
greyness where the format allows, and appears only when complete. Progress (rate, ETA) is a
``tqdm`` bar on stderr, also when stderr is not a terminal; ``-q`` turns it off.
"""

from __future__ import annotations

import glob
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from ..defaults import DEFAULT_MODEL

#: largest scale factor accepted (per axis); far beyond what any INN was trained for
MAX_SCALE = 1000.0
#: largest output side in pixels (PNG's own limit is 2**31 - 1)
MAX_SIDE = 2**31 - 1
STDIO = "-"
#: the input formats an output keeps as they are when no --format is given (Pillow's names)
_SAME_FORMAT = {"PNG": "png", "JPEG": "jpeg", "TIFF": "tiff", "WEBP": "webp"}


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


# -- inputs and outputs ---------------------------------------------------------------------

def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_inputs(inputs: List[str]) -> Tuple[List[str], bool, List[str]]:
    """The input list as files (``"-"`` for stdin), whether it names several images (a folder,
    a glob or more than one entry), and one message per entry that named nothing."""
    from ..imageio import READABLE_SUFFIXES
    files: List[str] = []
    problems: List[str] = []
    several = len(inputs) > 1
    seen = set()

    def add(f: str) -> None:
        key = f if f == STDIO else str(Path(f).expanduser().resolve())
        if key not in seen:
            seen.add(key)
            files.append(f)
    for entry in inputs:
        path = Path(entry).expanduser()
        if entry == STDIO:
            add(STDIO)
        elif path.is_dir():
            several = True
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in READABLE_SUFFIXES)
            if not found:
                problems.append(f"the folder '{entry}' has no images ({', '.join(READABLE_SUFFIXES)})")
            for p in found:
                add(str(p))
        elif not path.exists() and _has_magic(entry):
            several = True
            found = sorted(p for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not found:
                problems.append(f"no files match '{entry}'")
            for p in found:
                add(p)
        else:
            add(entry)          # a file, or a missing one: loading reports it
    if files.count(STDIO) and len(files) > 1:
        problems.append("'-' (stdin) can only be the one input")
        files = [f for f in files if f != STDIO]
    return files, several, problems


def scale_tag(scale: Optional[Tuple[float, float]]) -> str:
    """``(2, 2)`` -> ``"2"``; ``(2, 3.5)`` -> ``"2x3.5"`` (vertical x horizontal)."""
    if scale is None:
        return ""
    sy, sx = scale
    return f"{sy:g}" if sy == sx else f"{sy:g}x{sx:g}"


def output_name(stem: str, suffix: str, fields: dict, extension: str) -> str:
    """``STEM + SUFFIX.format(**fields) + extension``; a bad field gives one line."""
    from ..errors import CisrError
    try:
        tag = suffix.format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise CisrError(f"invalid --suffix {suffix!r}: {e}; fields are "
                        f"{', '.join('{' + k + '}' for k in fields)}") from None
    if "/" in tag or "\\" in tag:
        raise CisrError(f"invalid --suffix {suffix!r}: it makes a path, not a name")
    return f"{stem}{tag}{extension}"


@dataclass
class Outcome:
    written: int = 0
    skipped: int = 0
    failed: int = 0


class Upscaler:
    """One ``cisr upscale`` run: the model (loaded once, before the first image), the
    options, and the outcome counts."""

    def __init__(self, args):
        from ..imagewrite.formats import EXPORT_FORMATS
        self.args = args
        self.scale = parse_scale(args.scale) if args.scale else None
        self.size = parse_size(args.size) if args.size else None
        self.suffix = args.suffix if args.suffix is not None else ("_x{scale}" if self.scale else "_{size}")
        self.extensions = {f.name: f.suffixes[0] for f in EXPORT_FORMATS}
        self.lm = None
        self.twin_note = ""     # " (through its LM twin NAME)" when the model renders through one
        self.descriptor = None  # the model's SourceDescriptor, once loaded
        self.device = None
        self.outcome = Outcome()
        self.targets = {}            # output path -> input it was written from, this run
        self.to_stdout = args.output == STDIO
        self.info = sys.stderr if self.to_stdout else sys.stdout

    # -- the model
    def model(self):
        from ..checkpoint import bundled_models, resolve_model_path
        from ..devices import pick_device
        from ..errors import CisrError
        from ..fixed_scale import load_model
        from ..render.sources import describe_source
        from ..twins import render_path
        if self.lm is None:
            name = self.args.model
            if name is None:
                if DEFAULT_MODEL not in bundled_models():
                    raise CisrError(f"no model available: the bundled '{DEFAULT_MODEL}' is not installed; "
                                    f"pass --model PATH to a checkpoint (.pth)")
                name = DEFAULT_MODEL
            self.device = pick_device(self.args.device)
            chosen = resolve_model_path(name)
            renders = render_path(chosen, getattr(self.args, "exact_decoder", False))
            lm = load_model(renders, "cpu")
            if renders != chosen:
                self.twin_note = f" (through its LM twin {renders.stem})"
                lm.name = chosen.stem
            self.descriptor = describe_source(lm, must_render=True)
            self.lm = lm
        return self.lm

    # -- one image
    def out_size(self, image) -> Tuple[int, int]:
        from ..coords import scale_to_size
        return self.size if self.size is not None else scale_to_size(image.size, self.scale)

    def fields(self, out_size) -> dict:
        H, W = out_size
        model = Path(self.args.model).stem if self.args.model else DEFAULT_MODEL
        return {"scale": scale_tag(self.scale) or f"{W}x{H}", "size": f"{W}x{H}", "width": W, "height": H,
                "model": model}

    def target(self, source: str, image, out_size, folder: Optional[Path]) -> Tuple[Optional[Path], str]:
        """``(output path or None for stdout, format)`` of ``source``."""
        from ..errors import CisrError
        from ..imagewrite.formats import format_for
        args = self.args
        if folder is None and not self.to_stdout:
            out = Path(args.output).expanduser()
            by_name = format_for(out)
            if args.format and args.format != by_name:
                raise CisrError(f"'{out.name}' is {by_name.upper()} by its name but --format is {args.format}; "
                                f"make them agree")
            return out, by_name
        fmt = args.format or _SAME_FORMAT.get(image.file_format or "", "png")
        if self.to_stdout:
            return None, fmt
        stem = "stdin" if source == STDIO else Path(source).stem
        return folder / output_name(stem, self.suffix, self.fields(out_size), self.extensions[fmt]), fmt

    def refuse_existing(self, source: str, out: Path) -> bool:
        """True to skip ``out`` (``--skip-existing``); raises for refusals."""
        from ..errors import CisrError
        if source != STDIO and Path(source).expanduser().resolve() == out.resolve():
            raise CisrError(f"refusing to overwrite the input '{source}' with the output")
        earlier = self.targets.get(out.resolve())
        if earlier is not None:
            raise CisrError(f"'{source}' and '{earlier}' would both be written to '{out}'; "
                            f"choose another --suffix or --format")
        if out.exists() or out.is_symlink():
            if out.is_dir():
                raise CisrError(f"cannot write '{out}': it is a folder")
            if self.args.skip_existing:
                return True
            if not self.args.overwrite:
                raise CisrError(f"'{out}' exists: pass --overwrite to replace it, or --skip-existing to keep it")
        return False

    def upscale(self, source: str, folder: Optional[Path], label: str) -> None:
        from ..errors import CisrError
        from ..imageio import load_image, load_image_bytes
        from ..atomic import probe_writable
        from ..render.export import check_export, check_output_ceiling
        image = load_image_bytes(read_stdin(), "<stdin>") if source == STDIO else load_image(source)
        out_size = self.out_size(image)
        out, fmt = self.target(source, image, out_size, folder)
        if self.args.pyramid and fmt != "tiff":
            raise CisrError(f"--pyramid makes a TIFF; the output '{out or STDIO}' is {fmt.upper()}")
        fmt, out_size = check_export(out, out_size, fmt)
        check_output_ceiling(out_size, fmt, force=self.args.force)
        if out is not None and self.refuse_existing(source, out):
            self.outcome.skipped += 1
            if not self.args.quiet:
                print(f"skipped {out} (exists)", file=self.info)
            return
        if out is not None:
            probe_writable(out)      # a read-only folder or full disk: one line before any work
        for note in image.notes:
            print(f"note: {source}: {note}", file=sys.stderr)
        self.render(source, image, out, fmt, out_size, label)
        if out is not None:
            self.targets[out.resolve()] = source
        self.outcome.written += 1

    def render(self, source: str, image, out: Optional[Path], fmt: str, out_size, label: str) -> None:
        from ..render.export import export_image
        from ..coords import FULL_REGION
        from ..render.resample import reduction_source
        from ..render.sources import open_source
        args = self.args
        lm = self.model()
        chunk = args.tile * args.tile if args.tile else None
        reduced = reduction_source(image, FULL_REGION, out_size, image.size)
        if reduced is not None:      # at or below 1x: resampled, no model (nor its copy of the image)
            session = reduced
        else:                        # a fixed-scale model runs at its native scale, resampled to the output size
            session = open_source(lm, image, self.device, args.precision, chunk_size=chunk)
        H, W = out_size
        t0 = time.perf_counter()
        bar = progress_bar(label, H * W, args.quiet)

        def progress(done: int, total: int) -> None:
            bar.update(done * W - bar.n)
        options = dict(fmt=fmt, jpeg_quality=args.quality, progress=progress, image=image, colour=args.colour,
                       keep_metadata=args.keep_metadata, bits=args.bits, lossless=args.lossless,
                       pyramid=args.pyramid, overwrite=args.overwrite)
        try:
            if out is None:
                style = export_to_stdout(session, out_size, options)
            else:
                style = export_image(session, out, out_size, **options)
        finally:
            bar.close()
        if args.quiet:
            return
        h, w = image.size
        kind = f"{W}x{H}, {style.bits}-bit {'grey' if style.grey else 'RGB'}{' with alpha' if style.alpha else ''}"
        kept = [n for n, v in (("ICC", style.metadata.icc_profile), ("EXIF", style.metadata.exif),
                               ("dpi", style.metadata.dpi)) if v]
        native = self.descriptor.native_scale
        fixed = f" ({self.descriptor.display_name}, resampled from x{native})" if native else ""
        how = (f"with model {self.lm.name}{fixed}{self.twin_note} on {self.device.type} ({session.precision})"
               if reduced is None
               else "resampled (antialiased bicubic), no model: the output is not larger than the input")
        print(f"wrote {out or 'stdout'} ({kind}{'; ' + ', '.join(kept) if kept else ''}; from {w}x{h}, "
              f"scale {H / h:.4g}x{W / w:.4g}) {how} in {time.perf_counter() - t0:.1f} s", file=self.info)
        if image.alpha is not None and not style.alpha:
            print(f"note: {fmt.upper()} has no alpha channel; the transparency of '{source}' was dropped",
                  file=sys.stderr)
        if image.bit_depth >= 16 and style.bits == 8 and args.bits is None:
            print(f"note: {fmt.upper()} holds 8 bits per sample; the 16-bit '{source}' was written at 8 bits "
                  f"(PNG and TIFF keep 16)", file=sys.stderr)


def progress_bar(label: str, total_pixels: int, quiet: bool):
    """A tqdm bar on stderr counting output pixels (rate and ETA), also when stderr is not a
    terminal; disabled by ``quiet``."""
    from tqdm import tqdm
    return tqdm(total=total_pixels, desc=label, unit="px", unit_scale=True, file=sys.stderr, disable=quiet,
                mininterval=0.5, leave=True, dynamic_ncols=True)


def read_stdin() -> bytes:
    """All of stdin (an image file), refused when stdin is a terminal or over the limit."""
    from ..errors import CisrError
    from ..imageio import MAX_INPUT_BYTES
    stream = sys.stdin
    if stream is None or stream.isatty():
        raise CisrError("no image on stdin (it is a terminal); pipe one in, e.g. cisr upscale - -o out.png < in.jpg")
    data = stream.buffer.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise CisrError(f"the image on stdin is larger than {MAX_INPUT_BYTES // 2**30} GiB")
    return data


def export_to_stdout(session, out_size, options):
    """Export into a temporary file, then copy it to stdout: nothing reaches stdout unless
    the whole image was rendered and encoded."""
    from ..render.export import export_image
    with tempfile.TemporaryDirectory(prefix="cisr-upscale-") as tmp:
        path = Path(tmp) / ("out." + ("jpg" if options["fmt"] == "jpeg" else options["fmt"]))
        style = export_image(session, path, out_size, **options)
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
    return style


def run(args) -> int:
    from ..atomic import make_dirs, remove_empty_dirs
    from ..errors import CisrError, error_message, is_out_of_memory
    from ..imagewrite.formats import format_for
    up = Upscaler(args)                              # bad --scale/--size: one line before any work
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
    up.outcome.failed += len(problems)
    if files:
        up.model()                                   # no usable model or device: one line, nothing done
    created = make_dirs(out) if folder_mode and files else []
    n = len(files)
    try:
        for i, source in enumerate(files, 1):
            label = (f"[{i}/{n}] " if n > 1 else "") + (Path(source).name if source != STDIO else "stdin")
            try:
                up.upscale(source, out if folder_mode else None, label)
            except (CisrError, OSError, MemoryError) as e:
                if isinstance(e, MemoryError) and not is_out_of_memory(e):
                    raise
                up.outcome.failed += 1
                print(f"cisr upscale: error: {error_message(e)}", file=sys.stderr)
    finally:
        if not up.outcome.written:
            remove_empty_dirs(created)               # a folder this run made and left empty
    o = up.outcome
    if (n > 1 or (n and problems)) and not args.quiet:
        print(f"cisr upscale: {o.written} written, {o.skipped} skipped, {o.failed} failed "
              f"({n} input{'s' if n != 1 else ''})", file=up.info if not o.failed else sys.stderr)
    return 1 if o.failed else 0

