"""Export a render of any size to PNG, TIFF/BigTIFF, JPEG or WebP in bounded memory, atomically.

The output is rendered in horizontal bands (whole rows), each in chunks of bounded size, and
each band is quantised (:func:`_quantised`) and handed to the format's writer before the next one
is rendered (:func:`export_steps` yields after every chunk and encoder box, so the render thread
can serve the views in between). The writers and what each format holds live apart, in
:mod:`cisr_zoom.core.imagewrite` (streaming PNG and TIFF/BigTIFF, a tiled pyramidal BigTIFF,
JPEG/WebP in memory, limited to :data:`~cisr_zoom.core.imagewrite.formats.JPEG_MAX_PIXELS`);
what the output keeps of its input (bits, grey, alpha, ICC, EXIF, resolution) is
:func:`~cisr_zoom.core.imagewrite.formats.output_style`.

An output with at most one pixel per input pixel (on both axes) is an antialiased resample of
the ``image`` (:mod:`.resample`): no model runs for it.

Alpha: when the session's image has alpha and the format keeps it (PNG, TIFF, WebP), alpha is
written too (upscaled bilinearly). The file is written under a temporary name in the target
folder and renamed over ``path`` only when complete: a cancelled (:class:`RenderCancelled`) or
failed export leaves nothing behind, and an existing file at ``path`` is untouched until the
rename.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple

import numpy as np

from ..coords import output_size, sub_region
from ..errors import CisrError
from ..atomic import atomic_writer, check_output_folder
from ..imageio import LoadedImage, quantise, to_grey
from ..imagewrite.formats import OutputStyle, check_size, format_for, output_style
from ..imagewrite.writers import open_writer
from .estimate import RenderCost
from .resample import reduction_source
from .session import STEP_ENCODE_BOX
from .stopping import RenderCancelled
from .sources import RenderSource

#: largest output rendered without ``force``: 500 megapixels (1.5 GB of pixels, hours of CPU
#: work) and 100 000 pixels a side; a stated ceiling, not a memory limit (strips are streamed)
MAX_OUTPUT_PIXELS = 500_000_000
MAX_OUTPUT_SIDE = 100_000
#: output pixels per export chunk: one step of the render thread (about a second for an
#: EDSR-baseline LIIF on one CPU core), so progress comes often and an export never holds the
#: render thread for long; a band of rows is written (and reported) once all its chunks are done
EXPORT_CHUNK_PIXELS = 32768


def band_rows(width: int, chunk_pixels: Optional[int] = None) -> int:
    """Output rows of an export's band ``width`` pixels wide (one chunk of ``chunk_pixels``)."""
    return max(1, min(512, max(1, int(chunk_pixels or EXPORT_CHUNK_PIXELS)) // width))


def middle_chunk(region, out_size: Tuple[int, int]) -> Tuple[tuple, Tuple[int, int]]:
    """``(its region, (rows, cols))`` of the chunk in the middle of an export of ``region`` at
    ``out_size``: what one of its steps renders, the same shape (a band of whole rows where they
    fit), for a speed probe that costs per pixel what the export will (a square tile of the
    view costs about a quarter less per output pixel than a wide band of the same area)."""
    H, W = output_size(out_size)
    rows = min(band_rows(W), H)
    cols = max(1, min(W, EXPORT_CHUNK_PIXELS // rows))
    return sub_region(region, (H, W), (H - rows) // 2, (W - cols) // 2, rows, cols), (rows, cols)


def check_export(path, out_size, fmt: Optional[str] = None) -> Tuple[str, Tuple[int, int]]:
    """Validate an export before any work: returns ``(format, (H, W))`` or raises CisrError."""
    f = format_for(path, fmt)
    H, W = output_size(out_size)
    check_size(f, (H, W))
    if path is not None:
        check_output_folder(path)
    return f, (H, W)


def check_output_ceiling(out_size: Tuple[int, int], fmt: str, force: bool = False) -> None:
    """Refuse outputs above :data:`MAX_OUTPUT_PIXELS` or :data:`MAX_OUTPUT_SIDE` unless ``force``
    (PNG/TIFF only: they are streamed, so exceeding it costs time and disk, not memory)."""
    H, W = int(out_size[0]), int(out_size[1])
    broken = []                      # the rules it breaks, each with its own true numbers
    if max(H, W) > MAX_OUTPUT_SIDE:
        broken.append(f"its {'width' if W >= H else 'height'} of {max(H, W):,} pixels is above the limit of "
                      f"{MAX_OUTPUT_SIDE:,} pixels a side")
    if H * W > MAX_OUTPUT_PIXELS:
        broken.append(f"its {H * W / 1e6:,.0f} megapixels (about {3 * H * W / 1e9:,.1f} GB of pixels) are above "
                      f"the limit of {MAX_OUTPUT_PIXELS // 10**6:,} megapixels")
    if not broken or (force and fmt in ("png", "tiff")):
        return
    raise CisrError(f"the output would be {W:,}x{H:,} pixels: {' and '.join(broken)}; choose a smaller "
                    f"--scale/--size, or pass --force to render it as PNG or TIFF")


def _quantised(session: RenderSource, sub, size, style: OutputStyle, should_stop) -> np.ndarray:
    """One chunk rendered and quantised to ``style``: ``(n, w, channels)``."""
    n, w = size
    px = np.empty((n, w, style.channels), dtype=style.dtype)
    rgb = session.render(sub, (n, w), should_stop=should_stop)
    if style.grey:
        px[..., 0] = quantise(to_grey(rgb), style.bits)
    else:
        px[..., :3] = quantise(rgb, style.bits)
    if style.alpha:
        px[..., -1] = quantise(session.render_alpha(sub, (n, w)), style.bits)
    return px


def export_steps(session: RenderSource, path, out_size, region=(-1.0, -1.0, 1.0, 1.0), fmt: Optional[str] = None,
                 jpeg_quality: int = 95, progress: Optional[Callable[[int, int], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None, *, strip_rows: Optional[int] = None,
                 chunk_pixels: Optional[int] = None, keep_alpha: bool = True, compress_level: int = 6,
                 bigtiff: Optional[bool] = None, image: Optional[LoadedImage] = None, colour: bool = False,
                 keep_metadata: bool = True, bits: Optional[int] = None, lossless: bool = False,
                 pyramid: bool = False, encoded: Optional[Callable[[int], None]] = None,
                 overwrite: bool = True) -> Iterator[None]:
    """:func:`export_image` as a generator that yields after each bounded step (one encoder box
    of at most :data:`~.session.STEP_ENCODE_BOX` LR pixels, or one chunk of at most ``chunk_pixels``
    output pixels), so the render thread can run other work in between. Closing the generator
    early removes the temporary file. ``overwrite=False``: an existing ``path`` (also one that
    appears meanwhile) is not replaced (:class:`~..errors.OutputExistsError`). Its return value (``StopIteration.value``) is the
    :class:`OutputStyle` written."""
    path = Path(path).expanduser()
    f, (H, W) = check_export(path, out_size, fmt)
    if pyramid and f != "tiff":
        raise CisrError(f"a tiled pyramid is a TIFF layout; '{path.name}' is {f.upper()}")
    # at or below 1x: an antialiased resample of the image, no network (see .resample)
    session = reduction_source(image, region, (H, W), session.lr_size) or session
    style = output_style(f, (H, W), region, image, has_alpha=keep_alpha and session.alpha is not None,
                         colour=colour, keep_metadata=keep_metadata, bits=bits)
    chunk = max(1, int(chunk_pixels or EXPORT_CHUNK_PIXELS))
    rows = int(strip_rows) if strip_rows else band_rows(W, chunk)
    with atomic_writer(path, suffix=".part", overwrite=overwrite) as fh:
        writer = open_writer(fh, path, f, (H, W), style, jpeg_quality=jpeg_quality, lossless=lossless,
                              pyramid=pyramid, compress_level=compress_level, bigtiff=bigtiff)
        try:
            # output rows per encoder box: features are encoded one box ahead per band, so a band
            # rarely waits for more than one box (only the first row of boxes is encoded on demand)
            box_rows = max(1, int(STEP_ENCODE_BOX * H * 2.0 / max(1e-9, (region[2] - region[0]) * session.lr_size[0])))
            boxes = 0                         # encoder boxes this export ran, so far

            def box_done() -> None:
                nonlocal boxes
                boxes += 1
                if encoded is not None:
                    encoded(boxes)

            for top in range(0, H, rows):
                if should_stop is not None and should_stop():
                    raise RenderCancelled()
                n = min(rows, H - top)
                rest = sub_region(region, (H, W), top, 0, H - top, W)   # boxes grow down, not up
                px = np.empty((n, W, style.channels), dtype=style.dtype)
                cols = max(1, min(W, chunk // n))
                for left in range(0, W, cols):
                    wp = min(cols, W - left)
                    sub = sub_region(region, (H, W), top, left, n, wp)
                    # what this chunk still lacks is encoded on demand in boxes no larger than it
                    # needs (the first row of boxes, mostly), so its rows come out soon
                    while session.encode_step(sub, sub, should_stop=should_stop):
                        box_done()
                        yield
                    px[:, left:left + wp] = _quantised(session, sub, (n, wp), style, should_stop)
                    if left + wp < W:
                        yield
                writer.write_rows(px)
                del px
                if progress is not None:
                    progress(top + n, H)
                yield
                if top + n < H:               # one box of the rows ahead (at most one box-row down)
                    below = sub_region(region, (H, W), top + n, 0, min(box_rows, H - top - n), W)
                    if session.encode_step(below, rest, should_stop=should_stop):
                        box_done()
                        yield
            writer.close()
        finally:
            abort = getattr(writer, "abort", None)
            if abort is not None:
                abort()                      # joins the pyramid's writer thread (done if closed)
    return style


def measured_export_steps(session: RenderSource, path, out_size, region=(-1.0, -1.0, 1.0, 1.0),
                          **options) -> Iterator[None]:
    """:func:`export_steps`, returning (``StopIteration.value``) what the export itself cost, a
    :class:`~.estimate.RenderCost` for the speed book: only the time spent inside its own steps
    and only the encoder time of those steps. Whatever runs between its steps (the views' tiles,
    which may take most of the wall time while the user zooms, and encode features of the same
    source) is not counted: a figure learnt from an export's wall time and the source's shared
    encoder counter made the next estimate several times too long."""
    uncached = session.uncached_pixels(region)
    steps = export_steps(session, path, out_size, region, **options)
    busy = encode = 0.0
    while True:
        t0, e0 = time.perf_counter(), session.encode_seconds
        try:
            next(steps)
            done = False
        except StopIteration:
            done = True
        busy += time.perf_counter() - t0
        encode += session.encode_seconds - e0
        if done:
            return RenderCost(busy, encode, int(out_size[0]) * int(out_size[1]), uncached)
        yield


def export_image(session: RenderSource, path, out_size, region=(-1.0, -1.0, 1.0, 1.0), fmt: Optional[str] = None,
                 jpeg_quality: int = 95, progress: Optional[Callable[[int, int], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None, **options) -> OutputStyle:
    """Render ``region`` at ``out_size = (H, W)`` through ``session`` into ``path``; returns the
    :class:`OutputStyle` written.

    ``fmt``: ``png``/``tiff``/``jpeg``/``webp`` (default: from the suffix). The output is
    rendered in bands of whole rows (``strip_rows``, default: as many as fit ``chunk_pixels``,
    at most 512), each in chunks of at most ``chunk_pixels`` output pixels (default
    :data:`EXPORT_CHUNK_PIXELS`); ``progress(done_rows, total_rows)`` is called after each band
    is written, so progress comes at least once per band; ``encoded(boxes)`` after each encoder
    box the export runs (count so far): the first row of boxes of a cold export comes before
    any row can be written, and this reports that work. ``should_stop()`` is checked between
    chunks and inside renders (raises :class:`RenderCancelled`). Memory: one band plus the
    session's feature cache (pyramids: a few strips of the tile's height), except for JPEG and
    WebP (whole image in memory, limited). Options: ``image`` (the session's input, whose
    metadata, bit depth and greyness the output keeps, :func:`output_style`; ``colour``,
    ``keep_metadata``, ``bits`` adjust it), ``jpeg_quality`` (also lossy WebP's), ``lossless``
    (WebP), ``pyramid`` (tiled pyramidal TIFF), ``keep_alpha``, ``compress_level``,
    ``bigtiff``. The file appears atomically (see module docstring).
    """
    steps = export_steps(session, path, out_size, region, fmt, jpeg_quality, progress, should_stop, **options)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
