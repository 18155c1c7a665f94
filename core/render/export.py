"""Export a render of any size to PNG, TIFF/BigTIFF or JPEG in bounded memory, atomically.

The output is rendered in horizontal bands (whole rows), each in chunks of bounded size, and
each band is written before the next one is rendered (:func:`export_steps` yields after every
chunk and encoder box, so the render thread can serve the views in between):

* **PNG** is written by a small streaming encoder (zlib, "Up" row filter, IDAT chunks of about
  1 MiB), so memory does not depend on the image height.
* **TIFF** is written by a streaming writer: deflate-compressed strips with horizontal
  predictor, the directory at the end. Classic TIFF when the file is sure to stay under 4 GiB,
  else BigTIFF (``bigtiff=True`` forces it).
* **JPEG** has no streaming encoder in Pillow: the uint8 image is assembled in memory and
  encoded at the end, so it is limited to :data:`JPEG_MAX_PIXELS` pixels (and 65500 pixels a
  side, the format's own limit); larger requests are refused with a clear error before any work.

RGBA: when the session's image has alpha and the format keeps it (PNG, TIFF), alpha is written
too (upscaled bilinearly). The file is written under a temporary name in the target folder and
renamed over ``path`` only when complete: a cancelled (:class:`RenderCancelled`) or failed export
leaves nothing behind, and an existing file at ``path`` is untouched until the rename.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, Tuple

import numpy as np

from ..coords import output_size, sub_region
from ..errors import CisrError
from ..atomic import atomic_writer
from ..imageio import to_uint8
from .session import STEP_ENCODE_BOX, RenderCancelled
from .sources import RenderSource

#: JPEG exports are encoded in memory: at most this many output pixels (300 MB of RGB).
JPEG_MAX_PIXELS = 100_000_000
JPEG_MAX_SIDE = 65500
#: largest output rendered without ``force``: 500 megapixels (1.5 GB of pixels, hours of CPU
#: work) and 100 000 pixels a side; a stated ceiling, not a memory limit (strips are streamed)
MAX_OUTPUT_PIXELS = 500_000_000
MAX_OUTPUT_SIDE = 100_000
#: output pixels per export chunk: one step of the render thread (about a second for an
#: EDSR-baseline LIIF on one CPU core), so progress comes often and an export never holds the
#: render thread for long; a band of rows is written (and reported) once all its chunks are done
EXPORT_CHUNK_PIXELS = 32768

@dataclass(frozen=True)
class ExportFormat:
    """``name``: what :func:`export_image` takes; ``label``: what users see; ``suffixes``: the
    file suffixes, the first one the default."""

    name: str
    label: str
    suffixes: Tuple[str, ...]

    @property
    def file_filter(self) -> str:
        """A file dialog filter, e.g. ``"JPEG image (*.jpg *.jpeg)"``."""
        return f"{self.label} image ({' '.join('*' + s for s in self.suffixes)})"


#: the export formats, in the order users are offered them (the one table of them)
EXPORT_FORMATS = (ExportFormat("png", "PNG", (".png",)), ExportFormat("jpeg", "JPEG", (".jpg", ".jpeg")),
                  ExportFormat("tiff", "TIFF", (".tif", ".tiff")))
_BY_SUFFIX = {s: f for f in EXPORT_FORMATS for s in f.suffixes}


def export_format_of(path=None, fmt: Optional[str] = None) -> ExportFormat:
    """The :class:`ExportFormat` named by ``fmt`` (a name, label or suffix, any case), else the
    one of ``path``'s suffix. Raises :class:`CisrError` for unknown ones."""
    if fmt:
        key = fmt.lower()
        found = next((f for f in EXPORT_FORMATS if key in (f.name, f.label.lower())), None) \
            or _BY_SUFFIX.get(key if key.startswith(".") else "." + key)
        if found is None:
            raise CisrError(f"unsupported export format {fmt!r}: choose "
                            f"{', '.join(f.name for f in EXPORT_FORMATS[:-1])} or {EXPORT_FORMATS[-1].name}")
        return found
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_SUFFIX:
        raise CisrError(f"cannot export to '{path}': unknown image format '{suffix or '(no suffix)'}' "
                        f"(use {', '.join('/'.join(f.suffixes) for f in EXPORT_FORMATS)})")
    return _BY_SUFFIX[suffix]


def format_for(path, fmt: Optional[str] = None) -> str:
    """``png``, ``jpeg`` or ``tiff``, from ``fmt`` or the file suffix (see :func:`export_format_of`)."""
    return export_format_of(path, fmt).name


# -- PNG --------------------------------------------------------------------------------------

class PngStreamWriter:
    """8-bit RGB/RGBA PNG written row strip by row strip."""

    CHUNK = 1 << 20

    def __init__(self, f: BinaryIO, width: int, height: int, channels: int, level: int = 6):
        if not (1 <= width < 2**31 and 1 <= height < 2**31):
            raise CisrError(f"PNG cannot hold {width}x{height} pixels")
        self.f, self.width, self.height, self.channels = f, width, height, channels
        self.rows_written = 0
        self._z = zlib.compressobj(level)
        self._pending = bytearray()
        self._prev = np.zeros((width * channels,), dtype=np.uint8)
        f.write(b"\x89PNG\r\n\x1a\n")
        color_type = 6 if channels == 4 else 2
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self.f.write(struct.pack(">I", len(data)) + kind)
        self.f.write(data)
        self.f.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF))

    def _feed(self, data: bytes) -> None:
        self._pending += self._z.compress(data)
        while len(self._pending) >= self.CHUNK:
            self._chunk(b"IDAT", bytes(self._pending[:self.CHUNK]))
            del self._pending[:self.CHUNK]

    def write_rows(self, rows: np.ndarray) -> None:
        """``rows``: ``(n, width, channels)`` uint8."""
        n = rows.shape[0]
        flat = rows.reshape(n, -1)
        out = np.empty((n, flat.shape[1] + 1), dtype=np.uint8)
        out[:, 0] = 2                                   # filter "Up": byte minus the byte above
        out[0, 1:] = flat[0] - self._prev
        out[1:, 1:] = flat[1:] - flat[:-1]
        self._prev = flat[-1].copy()
        self._feed(out.tobytes())
        self.rows_written += n

    def close(self) -> None:
        if self.rows_written != self.height:
            raise RuntimeError(f"PNG has {self.rows_written} of {self.height} rows")
        self._pending += self._z.flush()
        for i in range(0, len(self._pending), self.CHUNK):
            self._chunk(b"IDAT", bytes(self._pending[i:i + self.CHUNK]))
        self._pending = bytearray()
        self._chunk(b"IEND", b"")


# -- TIFF / BigTIFF -------------------------------------------------------------------------------

_SHORT, _LONG, _LONG8 = 3, 4, 16


class TiffStreamWriter:
    """8-bit RGB/RGBA TIFF (deflate + horizontal predictor), strips written as they come."""

    def __init__(self, f: BinaryIO, width: int, height: int, channels: int, rows_per_strip: int = 64,
                 level: int = 6, bigtiff: Optional[bool] = None):
        self.f, self.width, self.height, self.channels = f, width, height, channels
        self.rows_per_strip = max(1, min(rows_per_strip, height))
        self.level = level
        n_strips = -(-height // self.rows_per_strip)
        raw = width * height * channels
        worst = raw + raw // 1000 + 64 * n_strips + (1 << 20)   # zlib's worst-case growth, generously
        self.bigtiff = bool(bigtiff) if bigtiff is not None else worst + 16 * n_strips >= 2**32 - 1
        self.offsets: list[int] = []
        self.counts: list[int] = []
        self.rows_written = 0
        self._buf: list[np.ndarray] = []
        self._buffered = 0
        if self.bigtiff:
            f.write(b"II+\x00" + struct.pack("<HHQ", 8, 0, 0))
        else:
            f.write(b"II*\x00" + struct.pack("<I", 0))

    def write_rows(self, rows: np.ndarray) -> None:
        """``rows``: ``(n, width, channels)`` uint8."""
        i = 0
        while i < rows.shape[0]:
            take = min(rows.shape[0] - i, self.rows_per_strip - self._buffered)
            self._buf.append(rows[i:i + take])
            self._buffered += take
            i += take
            if self._buffered == self.rows_per_strip:
                self._flush_strip()
        self.rows_written += rows.shape[0]

    def _flush_strip(self) -> None:
        if not self._buffered:
            return
        strip = np.concatenate(self._buf, axis=0) if len(self._buf) > 1 else self._buf[0]
        d = strip.copy()
        d[:, 1:] -= strip[:, :-1]             # predictor 2: difference to the pixel on the left
        data = zlib.compress(d.tobytes(), self.level)
        self.offsets.append(self.f.tell())
        self.counts.append(len(data))
        self.f.write(data)
        self._buf, self._buffered = [], 0

    def close(self) -> None:
        self._flush_strip()
        if self.rows_written != self.height:
            raise RuntimeError(f"TIFF has {self.rows_written} of {self.height} rows")
        f = self.f
        if f.tell() % 2:
            f.write(b"\x00")
        big = self.bigtiff
        if not big and f.tell() + 12 * 16 + 8 * len(self.offsets) + 64 >= 2**32:
            raise CisrError("the TIFF outgrew 4 GiB; export again as BigTIFF")
        off_type = _LONG8 if big else _LONG
        spp = self.channels
        entries = [
            (256, _LONG, [self.width]),
            (257, _LONG, [self.height]),
            (258, _SHORT, [8] * spp),
            (259, _SHORT, [8]),            # Adobe deflate
            (262, _SHORT, [2]),            # RGB
            (273, off_type, self.offsets),
            (277, _SHORT, [spp]),
            (278, _LONG, [self.rows_per_strip]),
            (279, off_type, self.counts),
            (284, _SHORT, [1]),            # chunky
            (317, _SHORT, [2]),            # horizontal predictor
        ]
        if spp == 4:
            entries.append((338, _SHORT, [2]))  # unassociated alpha
        fmt_of = {_SHORT: "H", _LONG: "I", _LONG8: "Q"}
        inline = 8 if big else 4
        entry_size = 20 if big else 12
        ifd_pos = f.tell()
        head = 8 if big else 2
        tail = 8 if big else 4
        extra_pos = ifd_pos + head + entry_size * len(entries) + tail
        extra = bytearray()
        ifd = bytearray(struct.pack("<Q" if big else "<H", len(entries)))
        for tag, typ, values in entries:
            payload = struct.pack("<" + fmt_of[typ] * len(values), *values)
            if len(payload) <= inline:
                field = payload.ljust(inline, b"\x00")
            else:
                field = struct.pack("<Q" if big else "<I", extra_pos + len(extra))
                extra += payload
                if len(extra) % 2:
                    extra += b"\x00"
            ifd += struct.pack("<HHQ" if big else "<HHI", tag, typ, len(values)) + field
        ifd += b"\x00" * tail
        f.write(ifd)
        f.write(extra)
        f.seek(8 if big else 4)
        f.write(struct.pack("<Q" if big else "<I", ifd_pos))
        f.seek(0, os.SEEK_END)


# -- JPEG ------------------------------------------------------------------------------------------

class JpegWriter:
    """Assembles the image in memory (see :data:`JPEG_MAX_PIXELS`), encodes it at the end."""

    def __init__(self, f: BinaryIO, width: int, height: int, quality: int = 95):
        self.f, self.quality = f, int(quality)
        self.image = np.empty((height, width, 3), dtype=np.uint8)
        self.rows_written = 0

    def write_rows(self, rows: np.ndarray) -> None:
        n = rows.shape[0]
        self.image[self.rows_written:self.rows_written + n] = rows[..., :3]
        self.rows_written += n

    def close(self) -> None:
        from PIL import Image
        if self.rows_written != self.image.shape[0]:
            raise RuntimeError("JPEG image incomplete")
        Image.fromarray(self.image).save(self.f, format="JPEG", quality=self.quality)
        self.image = None


# -- export -----------------------------------------------------------------------------------------

def check_export(path, out_size, fmt: Optional[str] = None) -> Tuple[str, Tuple[int, int]]:
    """Validate an export before any work: returns ``(format, (H, W))`` or raises CisrError."""
    f = format_for(path, fmt)
    H, W = output_size(out_size)
    if f == "jpeg" and (H * W > JPEG_MAX_PIXELS or max(H, W) > JPEG_MAX_SIDE):
        raise CisrError(f"JPEG export is limited to {JPEG_MAX_PIXELS // 1_000_000} megapixels and "
                        f"{JPEG_MAX_SIDE} pixels a side (asked for {W}x{H}); use PNG or TIFF for larger outputs")
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise CisrError(f"cannot write '{path}': the folder '{parent}' does not exist")
    return f, (H, W)


def check_output_ceiling(out_size: Tuple[int, int], fmt: str, force: bool = False) -> None:
    """Refuse outputs above :data:`MAX_OUTPUT_PIXELS` or :data:`MAX_OUTPUT_SIDE` unless ``force``
    (PNG/TIFF only: they are streamed, so exceeding it costs time and disk, not memory)."""
    H, W = int(out_size[0]), int(out_size[1])
    if (H * W <= MAX_OUTPUT_PIXELS and max(H, W) <= MAX_OUTPUT_SIDE) or (force and fmt in ("png", "tiff")):
        return
    raise CisrError(f"the output would be {W}x{H} = {H * W / 1e6:,.0f} megapixels, above the limit of "
                    f"{MAX_OUTPUT_PIXELS // 10**6:,} MP and {MAX_OUTPUT_SIDE:,} pixels a side (about "
                    f"{3 * H * W / 1e9:,.1f} GB of pixels); choose a smaller --scale/--size, or pass --force "
                    f"to render it as PNG or TIFF")


def export_steps(session: RenderSource, path, out_size, region=(-1.0, -1.0, 1.0, 1.0), fmt: Optional[str] = None,
                 jpeg_quality: int = 95, progress: Optional[Callable[[int, int], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None, *, strip_rows: Optional[int] = None,
                 chunk_pixels: Optional[int] = None, keep_alpha: bool = True, compress_level: int = 6,
                 bigtiff: Optional[bool] = None) -> Iterator[None]:
    """:func:`export_image` as a generator that yields after each bounded step (one encoder box
    of at most :data:`~.session.STEP_ENCODE_BOX` LR pixels, or one chunk of at most ``chunk_pixels``
    output pixels), so the render thread can run other work in between. Closing the generator
    early removes the temporary file."""
    path = Path(path).expanduser()
    f, (H, W) = check_export(path, out_size, fmt)
    has_alpha = keep_alpha and f != "jpeg" and session.alpha is not None
    channels = 4 if has_alpha else 3
    chunk = max(1, int(chunk_pixels or EXPORT_CHUNK_PIXELS))
    rows = int(strip_rows) if strip_rows else max(1, min(512, chunk // W))
    with atomic_writer(path, suffix=".part") as fh:
        if f == "png":
            writer = PngStreamWriter(fh, W, H, channels, level=compress_level)
        elif f == "tiff":
            writer = TiffStreamWriter(fh, W, H, channels, level=compress_level, bigtiff=bigtiff)
        else:
            writer = JpegWriter(fh, W, H, jpeg_quality)
        # output rows per encoder box: features are encoded one full box ahead per band, so a
        # band rarely waits for the encoder (only the first rows are encoded on demand)
        box_rows = max(1, int(STEP_ENCODE_BOX * H * 2.0 / max(1e-9, (region[2] - region[0]) * session.lr_size[0])))
        for top in range(0, H, rows):
            if should_stop is not None and should_stop():
                raise RenderCancelled()
            n = min(rows, H - top)
            rest = sub_region(region, (H, W), top, 0, H - top, W)   # boxes grow down, not up
            px = np.empty((n, W, channels), dtype=np.uint8)
            cols = max(1, min(W, chunk // n))
            for left in range(0, W, cols):
                wp = min(cols, W - left)
                sub = sub_region(region, (H, W), top, left, n, wp)
                # what this chunk still lacks is encoded on demand in boxes no larger than it
                # needs (the first row of boxes, mostly), so its rows come out soon
                while session.encode_step(sub, sub, should_stop=should_stop):
                    yield
                px[:, left:left + wp, :3] = to_uint8(session.render(sub, (n, wp), should_stop=should_stop))
                if has_alpha:
                    px[:, left:left + wp, 3] = to_uint8(session.render_alpha(sub, (n, wp)))
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
                    yield
        writer.close()


def export_image(session: RenderSource, path, out_size, region=(-1.0, -1.0, 1.0, 1.0), fmt: Optional[str] = None,
                 jpeg_quality: int = 95, progress: Optional[Callable[[int, int], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None, **options) -> None:
    """Render ``region`` at ``out_size = (H, W)`` through ``session`` into ``path``.

    ``fmt``: ``png``/``tiff``/``jpeg`` (default: from the suffix). The output is rendered in
    bands of whole rows (``strip_rows``, default: as many as fit ``chunk_pixels``, at most
    512), each in chunks of at most ``chunk_pixels`` output pixels (default
    :data:`EXPORT_CHUNK_PIXELS`); ``progress(done_rows, total_rows)`` is called after each band
    is written, so progress comes at least once per band. ``should_stop()`` is checked between
    chunks and inside renders (raises :class:`RenderCancelled`). Memory: one band plus the
    session's feature cache, except for JPEG (whole image in memory, limited). Other options:
    ``keep_alpha``, ``compress_level``, ``bigtiff``. The file appears atomically (see module
    docstring).
    """
    for _ in export_steps(session, path, out_size, region, fmt, jpeg_quality, progress, should_stop, **options):
        pass
