"""Upscale many images: the one batch job of ``cisr upscale`` and of the app's File > Upscale Folder...

No Qt. :class:`Batch` holds the options (:class:`BatchOptions`: scale or size, output names,
format, the policy for existing outputs, the model and how it renders, what the outputs keep)
and the model, loaded once. :meth:`Batch.steps` runs a list of inputs into a folder (or one
input into one file, or to stdout) as a generator that yields after every bounded step of the
export (one encoder box or one chunk, :func:`~.render.export.export_steps`), so the CLI runs it
to the end (:func:`run_to_end`) and the app runs it on the render thread between the views'
tiles. Per file, :meth:`Batch.file_steps` loads the image, names the output
(:meth:`Batch.target`), applies the policy (:meth:`Batch.refuse_existing`), checks the folder is
writable before any work (:func:`~.atomic.probe_writable`) and exports it through
:func:`~.render.export.export_steps` (the input's ICC profile, EXIF, resolution, 16 bits and
greyness kept where the format allows; written under a temporary name and published only when
complete, never over an existing file unless the policy is :data:`OVERWRITE`). A file that fails
(unreadable, exists, too large ...) becomes a :class:`FileResult` with its one-line reason and
the batch goes on; ``should_stop()`` true stops it within one step, leaving no partial file
(:attr:`Outcome.cancelled`). What happens is told to a :class:`BatchEvents` (the CLI prints
lines and a bar, the app moves its progress bars).
"""

from __future__ import annotations

import glob
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

from .defaults import DEFAULT_MODEL

STDIO = "-"
#: the input formats an output keeps as they are when no format is given (Pillow's names)
SAME_FORMAT = {"PNG": "png", "JPEG": "jpeg", "TIFF": "tiff", "WEBP": "webp"}
#: what to do with an output file that exists: refuse it (a failure), skip it, or replace it
REFUSE, SKIP, OVERWRITE = "refuse", "skip", "overwrite"
POLICIES = (REFUSE, SKIP, OVERWRITE)
#: :attr:`FileResult.status` values
WRITTEN, SKIPPED, FAILED = "written", "skipped", "failed"


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def _entry_files(entry: str) -> Tuple[List[str], bool, Optional[str]]:
    """The files one input entry names, whether it names several (a folder or a glob), and a
    message when it names nothing."""
    from .imageio import READABLE_SUFFIXES
    path = Path(entry).expanduser()
    if entry == STDIO:
        return [STDIO], False, None
    if path.is_dir():
        found = sorted(str(p) for p in path.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in READABLE_SUFFIXES)
        return found, True, None if found else f"the folder '{entry}' has no images ({', '.join(READABLE_SUFFIXES)})"
    if not path.exists() and _has_magic(entry):
        found = sorted(p for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        return found, True, None if found else f"no files match '{entry}'"
    return [entry], False, None          # a file, or a missing one: loading reports it


def expand_inputs(inputs: List[str]) -> Tuple[List[str], bool, List[str]]:
    """The input list as files (``"-"`` for stdin), whether it names several images (a folder,
    a glob or more than one entry), and one message per entry that named nothing. A folder
    gives the images directly inside it, sorted by name; a glob its matches (``**`` recursive);
    a file named twice counts once."""
    files: List[str] = []
    problems: List[str] = []
    several = len(inputs) > 1
    seen = set()
    for entry in inputs:
        found, many, problem = _entry_files(entry)
        several = several or many
        if problem:
            problems.append(problem)
        for f in found:
            key = f if f == STDIO else str(Path(f).expanduser().resolve())
            if key not in seen:
                seen.add(key)
                files.append(f)
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
    from .errors import CisrError
    try:
        tag = suffix.format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise CisrError(f"invalid --suffix {suffix!r}: {e}; fields are "
                        f"{', '.join('{' + k + '}' for k in fields)}") from None
    if "/" in tag or "\\" in tag:
        raise CisrError(f"invalid --suffix {suffix!r}: it makes a path, not a name")
    return f"{stem}{tag}{extension}"


@dataclass
class BatchOptions:
    """What a batch makes. ``scale`` ``(sy, sx)`` or ``size`` ``(H, W)`` (one of them);
    ``suffix``: output names in a folder, ``STEM + SUFFIX + extension`` (default ``_x{scale}``,
    or ``_{size}`` with a size); ``fmt``: the output format (None: the input's if PNG, JPEG,
    TIFF or WebP, else PNG; for one output file, from its name); ``policy``: :data:`REFUSE`,
    :data:`SKIP` or :data:`OVERWRITE` an existing output; ``model``: a bundled model's name or a
    checkpoint path (None: :data:`~.defaults.DEFAULT_MODEL`); ``exact_decoder``: never through
    an LM twin (:mod:`.twins`); ``device``, ``precision``, ``tile`` (render chunk side); what the
    files keep: ``quality`` (JPEG/lossy WebP), ``lossless`` (WebP), ``pyramid`` (tiled TIFF),
    ``colour`` (RGB for grey inputs), ``bits``, ``keep_metadata``; ``force``: above the output
    ceiling (:func:`~.render.export.check_output_ceiling`). ``exists_hint``: how the refusal of
    an existing output says what to do instead."""

    scale: Optional[Tuple[float, float]] = None
    size: Optional[Tuple[int, int]] = None
    suffix: Optional[str] = None
    fmt: Optional[str] = None
    policy: str = REFUSE
    model: Optional[str] = None
    exact_decoder: bool = False
    device: str = "auto"
    precision: str = "auto"
    tile: Optional[int] = None
    quality: int = 95
    lossless: bool = False
    pyramid: bool = False
    colour: bool = False
    bits: Optional[int] = None
    keep_metadata: bool = True
    force: bool = False
    exists_hint: str = "pass --overwrite to replace it, or --skip-existing to keep it"

    def __post_init__(self) -> None:
        if (self.scale is None) == (self.size is None):
            raise ValueError("give a scale or a size, not both")
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}")


@dataclass
class FileResult:
    """How one input ended: :data:`WRITTEN` (``output``, what it holds: ``style``; ``how`` it
    was rendered, in words), :data:`SKIPPED` (``output`` exists) or :data:`FAILED` (``message``:
    the one-line reason). ``notes``: what loading noticed; ``lost``: what the output could not
    keep of the input (alpha, 16 bits)."""

    source: str
    status: str
    output: Optional[Path] = None
    message: str = ""
    in_size: Optional[Tuple[int, int]] = None
    out_size: Optional[Tuple[int, int]] = None
    style: object = None
    how: str = ""
    seconds: float = 0.0
    notes: List[str] = field(default_factory=list)
    lost: List[str] = field(default_factory=list)


@dataclass
class Outcome:
    """The counts of a batch, its per-file results, and whether it was stopped."""

    written: int = 0
    skipped: int = 0
    failed: int = 0
    cancelled: bool = False
    results: List[FileResult] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        self.results.append(result)
        setattr(self, result.status, getattr(self, result.status) + 1)


class BatchEvents:
    """What a batch tells as it goes (all no-ops here; called on the thread that runs the steps).
    ``index`` counts from 1 to ``total``."""

    def file_started(self, index: int, total: int, source: str) -> None:
        """The input is about to be loaded."""

    def file_rendering(self, index: int, total: int, result: FileResult) -> None:
        """Checks passed: ``result`` (``output``, ``in_size``, ``out_size``, ``notes``) is
        rendered now."""

    def file_progress(self, index: int, total: int, rows_done: int, rows: int) -> None:
        """A band of the output's rows was written."""

    def file_finished(self, index: int, total: int, result: FileResult) -> None:
        """The input was written, skipped or failed."""


class Batch:
    """One batch run: the options, the model (loaded once, before the first image) and, while
    it runs, the outputs written so far (two inputs never write one output)."""

    def __init__(self, options: BatchOptions, output: Optional[str] = None):
        """``output``: the one output file when the batch is run without a folder (``"-"``: stdout)."""
        from .imagewrite.formats import EXPORT_FORMATS
        self.options = options
        self.output = output
        self.to_stdout = output == STDIO
        self.suffix = options.suffix if options.suffix is not None else ("_x{scale}" if options.scale else "_{size}")
        self.extensions = {f.name: f.suffixes[0] for f in EXPORT_FORMATS}
        self.lm = None
        self.twin_note = ""     # " (through its LM twin NAME)" when the model renders through one
        self.descriptor = None  # the model's SourceDescriptor, once loaded
        self.device = None
        self.targets = {}       # output path -> input it was written from, this run

    # -- the model
    def model(self):
        """The model, loaded once (raises CisrError in one line when none is usable)."""
        from .checkpoint import bundled_models, resolve_model_path
        from .devices import pick_device
        from .errors import CisrError
        from .fixed_scale import load_model
        from .render.sources import describe_source
        from .twins import render_path
        if self.lm is None:
            name = self.options.model
            if name is None:
                if DEFAULT_MODEL not in bundled_models():
                    raise CisrError(f"no model available: the bundled '{DEFAULT_MODEL}' is not installed; "
                                    f"pass --model PATH to a checkpoint (.pth)")
                name = DEFAULT_MODEL
            self.device = pick_device(self.options.device)
            chosen = resolve_model_path(name)
            renders = render_path(chosen, self.options.exact_decoder)
            lm = load_model(renders, "cpu")
            if renders != chosen:
                self.twin_note = f" (through its LM twin {renders.stem})"
                lm.name = chosen.stem
            self.descriptor = describe_source(lm, must_render=True)
            self.lm = lm
        return self.lm

    # -- one image
    def out_size(self, image) -> Tuple[int, int]:
        from .coords import scale_to_size
        o = self.options
        return o.size if o.size is not None else scale_to_size(image.size, o.scale)

    def fields(self, out_size) -> dict:
        H, W = out_size
        model = Path(self.options.model).stem if self.options.model else DEFAULT_MODEL
        return {"scale": scale_tag(self.options.scale) or f"{W}x{H}", "size": f"{W}x{H}", "width": W, "height": H,
                "model": model}

    def target(self, source: str, image, out_size, folder: Optional[Path]) -> Tuple[Optional[Path], str]:
        """``(output path or None for stdout, format)`` of ``source``."""
        from .errors import CisrError
        from .imagewrite.formats import format_for
        fmt = self.options.fmt
        if folder is None and not self.to_stdout:
            out = Path(self.output).expanduser()
            by_name = format_for(out)
            if fmt and fmt != by_name:
                raise CisrError(f"'{out.name}' is {by_name.upper()} by its name but --format is {fmt}; "
                                f"make them agree")
            return out, by_name
        fmt = fmt or SAME_FORMAT.get(image.file_format or "", "png")
        if self.to_stdout:
            return None, fmt
        stem = "stdin" if source == STDIO else Path(source).stem
        return folder / output_name(stem, self.suffix, self.fields(out_size), self.extensions[fmt]), fmt

    def refuse_existing(self, source: str, out: Path) -> bool:
        """True to skip ``out`` (policy :data:`SKIP`); raises for refusals."""
        from .errors import CisrError
        if source != STDIO and Path(source).expanduser().resolve() == out.resolve():
            raise CisrError(f"refusing to overwrite the input '{source}' with the output")
        earlier = self.targets.get(out.resolve())
        if earlier is not None:
            raise CisrError(f"'{source}' and '{earlier}' would both be written to '{out}'; "
                            f"choose another --suffix or --format")
        if out.exists() or out.is_symlink():
            if out.is_dir():
                raise CisrError(f"cannot write '{out}': it is a folder")
            if self.options.policy == SKIP:
                return True
            if self.options.policy != OVERWRITE:
                raise CisrError(f"'{out}' exists: {self.options.exists_hint}")
        return False

    def file_steps(self, source: str, folder: Optional[Path], should_stop=None, events: Optional[BatchEvents] = None,
                   index: int = 1, total: int = 1) -> Iterator[None]:
        """One input, step by step (see the module docstring); returns its :class:`FileResult`
        (written or skipped). Raises for a failure of this file, :class:`RenderCancelled` when
        stopped."""
        from .atomic import probe_writable
        from .errors import CisrError
        from .imageio import load_image, load_image_bytes
        from .render.export import check_export, check_output_ceiling
        o = self.options
        image = load_image_bytes(read_stdin(), "<stdin>") if source == STDIO else load_image(source)
        out_size = self.out_size(image)
        out, fmt = self.target(source, image, out_size, folder)
        if o.pyramid and fmt != "tiff":
            raise CisrError(f"--pyramid makes a TIFF; the output '{out or STDIO}' is {fmt.upper()}")
        fmt, out_size = check_export(out, out_size, fmt)
        check_output_ceiling(out_size, fmt, force=o.force)
        result = FileResult(source, SKIPPED, out, in_size=image.size, out_size=out_size)
        if out is not None and self.refuse_existing(source, out):
            return result
        if out is not None:
            probe_writable(out)      # a read-only folder or full disk: one line before any work
        result.notes = [f"{source}: {note}" for note in image.notes]
        if events is not None:
            events.file_rendering(index, total, result)
        yield                        # loading was this file's first step; rendering starts with the next

        def progress(done: int, rows: int) -> None:
            if events is not None:
                events.file_progress(index, total, done, rows)
        t0 = time.perf_counter()
        style, result.how = yield from self.render_steps(source, image, out, fmt, out_size, progress, should_stop)
        result.status, result.style, result.seconds = WRITTEN, style, time.perf_counter() - t0
        if out is not None:
            self.targets[out.resolve()] = source
        if image.alpha is not None and not style.alpha:
            result.lost.append(f"{fmt.upper()} has no alpha channel; the transparency of '{source}' was dropped")
        if image.bit_depth >= 16 and style.bits == 8 and o.bits is None:
            result.lost.append(f"{fmt.upper()} holds 8 bits per sample; the 16-bit '{source}' was written at 8 bits "
                                f"(PNG and TIFF keep 16)")
        return result

    def session(self, image, out_size):
        """The render source of ``image`` at ``out_size`` and how it renders, in words."""
        from .coords import FULL_REGION
        from .render.resample import reduction_source
        from .render.sources import open_source
        o = self.options
        lm = self.model()
        reduced = reduction_source(image, FULL_REGION, out_size, image.size)
        if reduced is not None:      # at or below 1x: resampled, no model (nor its copy of the image)
            return reduced, "resampled (antialiased bicubic), no model: the output is not larger than the input"
        # a fixed-scale model runs at its native scale, resampled to the output size
        session = open_source(lm, image, self.device, o.precision, chunk_size=o.tile * o.tile if o.tile else None)
        native = self.descriptor.native_scale
        fixed = f" ({self.descriptor.display_name}, resampled from x{native})" if native else ""
        return session, (f"with model {lm.name}{fixed}{self.twin_note} on {self.device.type} "
                         f"({session.precision})")

    def render_steps(self, source: str, image, out: Optional[Path], fmt: str, out_size, progress,
                     should_stop=None) -> Iterator[None]:
        """Render ``image`` into ``out`` (None: stdout), step by step; returns ``(OutputStyle, how)``."""
        from .render.export import export_steps
        o = self.options
        session, how = self.session(image, out_size)
        options = dict(fmt=fmt, jpeg_quality=o.quality, progress=progress, should_stop=should_stop, image=image,
                       colour=o.colour, keep_metadata=o.keep_metadata, bits=o.bits, lossless=o.lossless,
                       pyramid=o.pyramid, overwrite=o.policy == OVERWRITE)
        if out is None:
            style = yield from stdout_steps(session, out_size, options)
        else:
            style = yield from export_steps(session, out, out_size, **options)
        return style, how

    def steps(self, files: List[str], folder: Optional[Path], should_stop: Optional[Callable[[], bool]] = None,
              events: Optional[BatchEvents] = None) -> Iterator[None]:
        """All ``files`` into ``folder`` (made if missing, removed again if this run made it and
        wrote nothing; None: into :attr:`output`), step by step; returns the :class:`Outcome`.
        A file's failure is its result; ``should_stop()`` ends the batch within one step
        (:attr:`Outcome.cancelled`, the file in progress not written)."""
        from .atomic import make_dirs, remove_empty_dirs
        from .errors import CisrError, error_message, is_out_of_memory
        from .render.stopping import RenderCancelled
        outcome = Outcome()
        events = events if events is not None else BatchEvents()
        created = make_dirs(folder) if folder is not None and files else []
        n = len(files)
        try:
            for i, source in enumerate(files, 1):
                if should_stop is not None and should_stop():
                    outcome.cancelled = True
                    break
                events.file_started(i, n, source)
                try:
                    result = yield from self.file_steps(source, folder, should_stop, events, i, n)
                except RenderCancelled:
                    outcome.cancelled = True
                    break
                except (CisrError, OSError, MemoryError) as e:
                    if isinstance(e, MemoryError) and not is_out_of_memory(e):
                        raise
                    result = FileResult(source, FAILED, message=error_message(e))
                outcome.add(result)
                events.file_finished(i, n, result)
                yield
        finally:
            if not outcome.written:
                remove_empty_dirs(created)               # a folder this run made and left empty
        return outcome


def run_to_end(steps: Iterator[None]):
    """Run a step generator to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def read_stdin() -> bytes:
    """All of stdin (an image file), refused when stdin is a terminal or over the limit."""
    from .errors import CisrError
    from .imageio import MAX_INPUT_BYTES
    stream = sys.stdin
    if stream is None or stream.isatty():
        raise CisrError("no image on stdin (it is a terminal); pipe one in, e.g. cisr upscale - -o out.png < in.jpg")
    data = stream.buffer.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise CisrError(f"the image on stdin is larger than {MAX_INPUT_BYTES // 2**30} GiB")
    return data


def stdout_steps(session, out_size, options) -> Iterator[None]:
    """Export into a temporary file, then copy it to stdout: nothing reaches stdout unless
    the whole image was rendered and encoded. Returns the OutputStyle."""
    from .render.export import export_steps
    with tempfile.TemporaryDirectory(prefix="cisr-upscale-") as tmp:
        path = Path(tmp) / ("out." + ("jpg" if options["fmt"] == "jpeg" else options["fmt"]))
        style = yield from export_steps(session, path, out_size, **options)
        with open(path, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
    return style
