"""Export a render of any size to PNG, TIFF/BigTIFF, JPEG or WebP in bounded memory, atomically.

The output is rendered in horizontal bands (whole rows), each in chunks of bounded size, and
each band is written before the next one is rendered (:func:`export_steps` yields after every
chunk and encoder box, so the render thread can serve the views in between):

* **PNG** is written by a small streaming encoder (zlib, "Up" row filter, IDAT chunks of about
  1 MiB), so memory does not depend on the image height.
* **TIFF** is written by a streaming writer: deflate-compressed strips with horizontal
  predictor, the directory at the end. Classic TIFF when the file is sure to stay under 4 GiB,
  else BigTIFF (``bigtiff=True`` forces it). With ``pyramid=True``: a tiled (256 x 256),
  pyramidal BigTIFF with OME-XML, the half, quarter ... resolutions as SubIFDs of the full one
  (the OME-TIFF pyramid layout, from which viewers such as napari and QuPath read only the
  level and tiles they show), written by ``tifffile`` while streaming (in a writer thread fed one strip of a tile's
  height at a time): each level is reduced, strip by strip, into an anonymous temporary file
  that the next level is read from, so memory stays a few strips.
* **JPEG** and **WebP** have no streaming encoder in Pillow: the image is assembled in memory
  and encoded at the end, so they are limited to :data:`JPEG_MAX_PIXELS` pixels (and 65500,
  resp. 16383, pixels a side, the formats' own limits); larger requests are refused with a clear
  error before any work. WebP is lossy (``quality``) or lossless (``lossless=True``).

What the output keeps of its input (:func:`output_style`, given the source's
:class:`~cisr_zoom.core.imageio.LoadedImage` as ``image``): its ICC profile, its EXIF
(orientation 1, since loading applied it; pixel dimensions updated) and its resolution,
multiplied by the upscaling factor so the print size stays the same; 16 bits per sample for
16-bit inputs in PNG and TIFF (rendered in float and quantised once, to 16 bits); grey for grey
inputs unless ``colour=True`` (WebP has no grey: RGB). PNG writes iCCP, eXIf and pHYs chunks,
TIFF the ICC and resolution tags (and of the EXIF its first-IFD text tags: description, make,
model, software, date, artist, copyright), JPEG and WebP all three through Pillow.

Alpha: when the session's image has alpha and the format keeps it (PNG, TIFF, WebP), alpha is
written too (upscaled bilinearly). The file is written under a temporary name in the target
folder and renamed over ``path`` only when complete: a cancelled (:class:`RenderCancelled`) or
failed export leaves nothing behind, and an existing file at ``path`` is untouched until the
rename.
"""

from __future__ import annotations

import io
import os
import queue
import struct
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional, Tuple

import numpy as np

from ..coords import output_size, sub_region
from ..errors import CisrError
from ..atomic import atomic_writer
from ..imageio import ImageMetadata, LoadedImage, quantise, to_grey
from .session import STEP_ENCODE_BOX, RenderCancelled
from .sources import RenderSource

#: JPEG exports are encoded in memory: at most this many output pixels (300 MB of RGB).
JPEG_MAX_PIXELS = 100_000_000
JPEG_MAX_SIDE = 65500
WEBP_MAX_SIDE = 16383
#: tile side of pyramidal TIFFs, and the size below which no further level is made
PYRAMID_TILE = 256
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
                  ExportFormat("tiff", "TIFF", (".tif", ".tiff")), ExportFormat("webp", "WebP", (".webp",)))
#: formats that hold 16 bits per sample, grey, alpha
SIXTEEN_BIT_FORMATS = ("png", "tiff")
GREY_FORMATS = ("png", "tiff", "jpeg")
ALPHA_FORMATS = ("png", "tiff", "webp")
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
    """``png``, ``jpeg``, ``tiff`` or ``webp``, from ``fmt`` or the file suffix (see :func:`export_format_of`)."""
    return export_format_of(path, fmt).name


# -- what the output keeps ----------------------------------------------------------------------

@dataclass(frozen=True)
class OutputStyle:
    """How an export stores its pixels: ``bits`` per sample (8 or 16), ``grey`` (one colour
    channel), ``alpha`` (a fourth/second channel), and the :class:`ImageMetadata` to write
    (already scaled to the output)."""

    bits: int = 8
    grey: bool = False
    alpha: bool = False
    metadata: ImageMetadata = field(default_factory=ImageMetadata)

    @property
    def channels(self) -> int:
        return (1 if self.grey else 3) + (1 if self.alpha else 0)

    @property
    def dtype(self):
        return np.uint16 if self.bits == 16 else np.uint8


def region_scale(region, out_size, lr_size) -> Tuple[float, float]:
    """Output pixels per input pixel, ``(fy, fx)``, of ``region`` (continuous coordinates,
    ``(y0, x0, y1, x1)``) of an ``lr_size = (h, w)`` image rendered at ``out_size = (H, W)``."""
    y0, x0, y1, x1 = region
    h, w = lr_size
    return out_size[0] / max(1e-12, (y1 - y0) / 2 * h), out_size[1] / max(1e-12, (x1 - x0) / 2 * w)


def output_style(fmt: str, out_size, region=(-1.0, -1.0, 1.0, 1.0), image: Optional[LoadedImage] = None,
                 has_alpha: bool = False, *, colour: bool = False, keep_metadata: bool = True,
                 bits: Optional[int] = None) -> OutputStyle:
    """The :class:`OutputStyle` of an export in ``fmt`` of ``image`` (see the module docstring).
    ``bits``: force 8 or 16 (16 only where the format holds it); default: 16 for inputs of 16
    bits or more, else 8."""
    depth = image.bit_depth if image is not None else 8
    want = bits if bits is not None else (16 if depth >= 16 else 8)
    out_bits = 16 if want == 16 and fmt in SIXTEEN_BIT_FORMATS else 8
    grey = bool(image is not None and image.grey and not colour and fmt in GREY_FORMATS)
    alpha = bool(has_alpha and fmt in ALPHA_FORMATS)
    meta = ImageMetadata()
    if keep_metadata and image is not None:
        scaled = image.metadata.scaled(region_scale(region, out_size, image.size), out_size)
        meta = ImageMetadata(icc_profile=scaled.icc_profile_for(grey), exif=scaled.exif, dpi=scaled.dpi)
    return OutputStyle(bits=out_bits, grey=grey, alpha=alpha, metadata=meta)


# -- PNG --------------------------------------------------------------------------------------

_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}     # channels -> grey, grey+alpha, RGB, RGBA


class PngStreamWriter:
    """8- or 16-bit grey/RGB PNG, with or without alpha, written row strip by row strip; the
    ICC profile (iCCP), EXIF (eXIf) and resolution (pHYs) of ``metadata`` come first."""

    CHUNK = 1 << 20

    def __init__(self, f: BinaryIO, width: int, height: int, channels: int, level: int = 6, bits: int = 8,
                 metadata: Optional[ImageMetadata] = None):
        if not (1 <= width < 2**31 and 1 <= height < 2**31):
            raise CisrError(f"PNG cannot hold {width}x{height} pixels")
        self.f, self.width, self.height, self.channels, self.bits = f, width, height, channels, bits
        self.rows_written = 0
        self._z = zlib.compressobj(level)
        self._pending = bytearray()
        self._prev = np.zeros((width * channels * bits // 8,), dtype=np.uint8)
        f.write(b"\x89PNG\r\n\x1a\n")
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, _PNG_COLOUR_TYPES[channels], 0, 0, 0))
        meta = metadata or ImageMetadata()
        if meta.icc_profile:
            self._chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(meta.icc_profile))
        if meta.dpi:
            ppm = [max(1, int(round(d / 0.0254))) for d in meta.dpi]     # pixels per metre
            self._chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
        if meta.exif_tiff:
            self._chunk(b"eXIf", meta.exif_tiff)

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
        """``rows``: ``(n, width, channels)`` uint8 (or uint16 for 16-bit files)."""
        n = rows.shape[0]
        flat = rows.astype(">u2").view(np.uint8).reshape(n, -1) if self.bits == 16 else rows.reshape(n, -1)
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

_ASCII, _SHORT, _LONG, _RATIONAL, _UNDEFINED, _LONG8 = 2, 3, 4, 5, 7, 16
#: EXIF first-IFD text tags written into TIFF files (they are TIFF tags too)
_TIFF_TEXT_TAGS = (270, 271, 272, 305, 306, 315, 33432)


def _tiff_text_tags(metadata: ImageMetadata) -> list:
    """``(tag, text)`` for the text tags of ``metadata``'s EXIF (see :data:`_TIFF_TEXT_TAGS`)."""
    if not metadata.exif:
        return []
    from PIL import Image
    e = Image.Exif()
    try:
        e.load(metadata.exif)
    except Exception:
        return []
    out = []
    for tag in _TIFF_TEXT_TAGS:
        v = e.get(tag)
        if isinstance(v, str) and v.strip("\x00"):
            out.append((tag, v.strip("\x00")))
    return out


def _rational(v: float) -> Tuple[int, int]:
    """A positive float as a TIFF RATIONAL (numerator, denominator)."""
    den = 10000
    return max(1, min(2**32 - 1, int(round(v * den)))), den


class TiffStreamWriter:
    """8- or 16-bit grey/RGB(A) TIFF (deflate + horizontal predictor), strips written as they
    come; ICC profile, resolution and EXIF text tags of ``metadata``."""

    def __init__(self, f: BinaryIO, width: int, height: int, channels: int, rows_per_strip: int = 64,
                 level: int = 6, bigtiff: Optional[bool] = None, bits: int = 8,
                 metadata: Optional[ImageMetadata] = None):
        self.f, self.width, self.height, self.channels, self.bits = f, width, height, channels, bits
        self.metadata = metadata or ImageMetadata()
        self.rows_per_strip = max(1, min(rows_per_strip, height))
        self.level = level
        n_strips = -(-height // self.rows_per_strip)
        raw = width * height * channels * bits // 8
        worst = raw + raw // 1000 + 64 * n_strips + (1 << 20) + len(self.metadata.icc_profile or b"")
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
        """``rows``: ``(n, width, channels)`` uint8 (uint16 for 16-bit files)."""
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
        data = zlib.compress(d.astype("<u2").tobytes() if self.bits == 16 else d.tobytes(), self.level)
        self.offsets.append(self.f.tell())
        self.counts.append(len(data))
        self.f.write(data)
        self._buf, self._buffered = [], 0

    def _entries(self, off_type: int) -> list:
        spp = self.channels
        grey = spp in (1, 2)
        entries = [
            (256, _LONG, [self.width]),
            (257, _LONG, [self.height]),
            (258, _SHORT, [self.bits] * spp),
            (259, _SHORT, [8]),            # Adobe deflate
            (262, _SHORT, [1 if grey else 2]),   # BlackIsZero grey, or RGB
            (273, off_type, self.offsets),
            (277, _SHORT, [spp]),
            (278, _LONG, [self.rows_per_strip]),
            (279, off_type, self.counts),
            (284, _SHORT, [1]),            # chunky
            (317, _SHORT, [2]),            # horizontal predictor
        ]
        if spp in (2, 4):
            entries.append((338, _SHORT, [2]))  # unassociated alpha
        meta = self.metadata
        if meta.dpi:
            entries += [(282, _RATIONAL, [_rational(meta.dpi[0])]), (283, _RATIONAL, [_rational(meta.dpi[1])]),
                        (296, _SHORT, [2])]      # inches
        for tag, text in _tiff_text_tags(meta):
            entries.append((tag, _ASCII, text.encode("ascii", "replace") + b"\x00"))
        if meta.icc_profile:
            entries.append((34675, _UNDEFINED, meta.icc_profile))
        return sorted(entries, key=lambda e: e[0])

    def close(self) -> None:
        self._flush_strip()
        if self.rows_written != self.height:
            raise RuntimeError(f"TIFF has {self.rows_written} of {self.height} rows")
        f = self.f
        if f.tell() % 2:
            f.write(b"\x00")
        big = self.bigtiff
        if not big and f.tell() + 12 * 24 + 8 * len(self.offsets) + len(self.metadata.icc_profile or b"") \
                + 4096 >= 2**32:
            raise CisrError("the TIFF outgrew 4 GiB; export again as BigTIFF")
        entries = self._entries(_LONG8 if big else _LONG)
        fmt_of = {_SHORT: "H", _LONG: "I", _LONG8: "Q", _RATIONAL: "II"}
        inline = 8 if big else 4
        entry_size = 20 if big else 12
        ifd_pos = f.tell()
        head = 8 if big else 2
        tail = 8 if big else 4
        extra_pos = ifd_pos + head + entry_size * len(entries) + tail
        extra = bytearray()
        ifd = bytearray(struct.pack("<Q" if big else "<H", len(entries)))
        for tag, typ, values in entries:
            if typ in (_ASCII, _UNDEFINED):
                payload, count = bytes(values), len(values)
            elif typ == _RATIONAL:
                payload, count = b"".join(struct.pack("<II", *v) for v in values), len(values)
            else:
                payload, count = struct.pack("<" + fmt_of[typ] * len(values), *values), len(values)
            if len(payload) <= inline:
                field_ = payload.ljust(inline, b"\x00")
            else:
                field_ = struct.pack("<Q" if big else "<I", extra_pos + len(extra))
                extra += payload
                if len(extra) % 2:
                    extra += b"\x00"
            ifd += struct.pack("<HHQ" if big else "<HHI", tag, typ, count) + field_
        ifd += b"\x00" * tail
        f.write(ifd)
        f.write(extra)
        f.seek(8 if big else 4)
        f.write(struct.pack("<Q" if big else "<I", ifd_pos))
        f.seek(0, os.SEEK_END)


# -- pyramidal TIFF ----------------------------------------------------------------------------------

def pyramid_sizes(height: int, width: int, tile: int = PYRAMID_TILE) -> list:
    """``(H, W)`` of each pyramid level: the full size, then halved (rounded up) until both
    sides fit in one tile."""
    sizes = [(int(height), int(width))]
    while max(sizes[-1]) > tile:
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _halve(strip: np.ndarray) -> np.ndarray:
    """2 x 2 box mean of ``(n, W, C)`` integer samples (an odd last row/column is repeated),
    rounded, in the input's dtype."""
    a = strip
    if a.shape[0] % 2:
        a = np.concatenate([a, a[-1:]], axis=0)
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], axis=1)
    s = a[0::2, 0::2].astype(np.uint16 if a.dtype == np.uint8 else np.uint32)   # 4 x 255 fits 16 bits
    s += a[1::2, 0::2]
    s += a[0::2, 1::2]
    s += a[1::2, 1::2]
    s += 2
    s //= 4
    return s.astype(strip.dtype)


class _LevelSpool:
    """One pyramid level's samples, appended strip by strip to an anonymous temporary file in
    ``folder`` (gone when closed or when the process dies), then read back strip by strip."""

    def __init__(self, folder, width: int, channels: int, dtype):
        self.f = tempfile.TemporaryFile(dir=folder)
        self.width, self.channels, self.dtype = width, channels, np.dtype(dtype)
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        self.f.write(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())
        self.rows += rows.shape[0]

    def strips(self, rows: int) -> Iterator[np.ndarray]:
        self.f.seek(0)
        row_bytes = self.width * self.channels * self.dtype.itemsize
        for top in range(0, self.rows, rows):
            n = min(rows, self.rows - top)
            data = self.f.read(n * row_bytes)
            yield np.frombuffer(data, dtype=self.dtype).reshape(n, self.width, self.channels)

    def close(self) -> None:
        self.f.close()


class _NamedStream(io.RawIOBase):
    """A binary file object with a ``name`` that is text (``tifffile`` needs one; the
    atomic writer's file is opened from a descriptor, whose ``name`` is a number)."""

    name = "export.tif"

    def __init__(self, f: BinaryIO):
        super().__init__()
        self._f = f

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, b) -> int:
        return self._f.write(b)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def readinto(self, b) -> int:
        return self._f.readinto(b)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:      # the atomic writer closes the real file
        pass


class PyramidTiffWriter:
    """Tiled, pyramidal BigTIFF (OME-XML; levels as SubIFDs of the full resolution), deflate
    with horizontal predictor, written by ``tifffile``.

    Push-based like the other writers (``write_rows``, ``close``; ``abort`` on failure):
    rows are gathered into strips of one tile's height and handed, through a queue of one, to
    a writer thread that runs ``tifffile`` (which pulls tiles from an iterator), so the render
    thread never waits inside the encoder and keeps its bounded steps. The writer thread only
    touches the file and the spools; it is always joined before ``close``/``abort`` return.
    Memory: a few strips; the reduced levels wait on disk (:class:`_LevelSpool`)."""

    _END, _ABORT = object(), object()

    def __init__(self, f: BinaryIO, width: int, height: int, style: OutputStyle, level: int = 6,
                 tile: int = PYRAMID_TILE, folder=None):
        try:
            import tifffile
        except ImportError:       # a core dependency; only a broken install lacks it
            raise CisrError("pyramidal TIFF needs the tifffile package: pip install tifffile") from None
        self._tifffile = tifffile
        self.f, self.width, self.height, self.style, self.tile = f, width, height, style, tile
        self.level = level
        self.sizes = pyramid_sizes(height, width, tile)
        self.folder = folder         # where the reduced levels wait (default: the system's temp folder)
        self.rows_written = 0
        self._buf: list = []
        self._buffered = 0
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="cisr-tiff-writer", daemon=True)
        self._thread.start()

    # -- the render thread's side
    def _put(self, item) -> None:
        while True:
            if self._error is not None:
                raise self._error
            if not self._thread.is_alive():
                raise RuntimeError("the TIFF writer stopped")
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def write_rows(self, rows: np.ndarray) -> None:
        """``rows``: ``(n, width, channels)`` uint8/uint16, any ``n``."""
        i = 0
        while i < rows.shape[0]:
            take = min(rows.shape[0] - i, self.tile - self._buffered)
            self._buf.append(rows[i:i + take])
            self._buffered += take
            i += take
            if self._buffered == self.tile:
                self._flush()
        self.rows_written += rows.shape[0]

    def _flush(self) -> None:
        if self._buffered:
            strip = np.concatenate(self._buf, axis=0) if len(self._buf) > 1 else self._buf[0].copy()
            self._buf, self._buffered = [], 0
            self._put(strip)

    def close(self) -> None:
        self._flush()
        if self.rows_written != self.height:
            self.abort()
            raise RuntimeError(f"TIFF has {self.rows_written} of {self.height} rows")
        self._put(self._END)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop the writer thread (after an error or a cancel) and wait for it."""
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()          # make room, then ask it to stop
            except queue.Empty:
                pass
            try:
                self._queue.put_nowait(self._ABORT)
            except queue.Full:
                pass
            self._thread.join(timeout=0.1)

    # -- the writer thread
    def _strips(self) -> Iterator[np.ndarray]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if item is self._ABORT:
                raise RenderCancelled()
            yield item

    def _run(self) -> None:
        try:
            self._write_levels(self._strips())
        except BaseException as e:   # handed to the render thread, which raises it
            self._error = e

    def _tiles(self, strips: Iterator[np.ndarray], spool: Optional[_LevelSpool]) -> Iterator[np.ndarray]:
        t = self.tile
        grey_plain = self.style.channels == 1
        for strip in strips:
            if spool is not None:
                spool.append(_halve(strip))
            for ty in range(0, strip.shape[0], t):
                for tx in range(0, strip.shape[1], t):
                    piece = strip[ty:ty + t, tx:tx + t]
                    yield piece[..., 0] if grey_plain else piece

    def _options(self) -> dict:
        st = self.style
        opts = dict(tile=(self.tile, self.tile), compression="zlib", compressionargs={"level": self.level},
                    predictor=True, photometric="minisblack" if st.grey else "rgb", dtype=st.dtype,
                    metadata=None)
        if st.alpha:
            opts["extrasamples"] = ("unassalpha",)
        if st.grey and st.alpha:
            opts["planarconfig"] = "contig"
        return opts

    def _shape(self, h: int, w: int) -> tuple:
        c = self.style.channels
        return (h, w) if c == 1 else (h, w, c)

    def _write_levels(self, strips: Iterator[np.ndarray]) -> None:
        tf = self._tifffile
        st = self.style
        n = len(self.sizes)
        spools = []
        try:
            with tf.TiffWriter(_NamedStream(self.f), bigtiff=True, ome=False) as tw:
                first = self._options()
                meta = st.metadata
                extratags = [(tag, "s", 0, text, True) for tag, text in _tiff_text_tags(meta) if tag != 305]
                if meta.icc_profile:
                    first["iccprofile"] = meta.icc_profile
                if meta.dpi:
                    first["resolution"] = (float(meta.dpi[0]), float(meta.dpi[1]))
                    first["resolutionunit"] = "INCH"
                spool = _LevelSpool(self.folder, self.sizes[1][1], st.channels, st.dtype) if n > 1 else None
                if spool is not None:
                    spools.append(spool)
                tw.write(self._tiles(strips, spool), shape=self._shape(self.height, self.width), subifds=n - 1,
                         description=_ome_xml(self.sizes[0], st, meta), software="cisr-zoom",
                         extratags=extratags, **first)
                for k in range(1, n):
                    src = spools[-1]
                    nxt = _LevelSpool(self.folder, self.sizes[k + 1][1], st.channels, st.dtype) if k + 1 < n else None
                    if nxt is not None:
                        spools.append(nxt)
                    h, w = self.sizes[k]
                    if src.rows != h:
                        raise RuntimeError(f"pyramid level {k} has {src.rows} of {h} rows")
                    tw.write(self._tiles(src.strips(self.tile), nxt), shape=self._shape(h, w), subfiletype=1,
                             **self._options())
                    src.close()
        finally:
            for s in spools:
                s.close()


def _ome_xml(size, style: OutputStyle, meta: ImageMetadata) -> str:
    """The OME-XML ImageDescription of a single-plane image of ``size = (H, W)``, interleaved
    samples (its physical pixel size from the resolution, when known; ASCII only)."""
    H, W = size
    c = style.channels
    dtype = "uint16" if style.bits == 16 else "uint8"
    phys = ""
    if meta.dpi:
        phys = (f' PhysicalSizeX="{25400.0 / meta.dpi[0]:.6g}" PhysicalSizeXUnit="um"'
                f' PhysicalSizeY="{25400.0 / meta.dpi[1]:.6g}" PhysicalSizeYUnit="um"')
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" Creator="cisr-zoom">'
            '<Image ID="Image:0" Name="cisr-zoom export">'
            f'<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="{dtype}" SizeX="{W}" SizeY="{H}" '
            f'SizeC="{c}" SizeZ="1" SizeT="1" Interleaved="true"{phys}>'
            f'<Channel ID="Channel:0:0" SamplesPerPixel="{c}"/>'
            '<TiffData IFD="0" PlaneCount="1"/></Pixels></Image></OME>')


# -- JPEG / WebP ---------------------------------------------------------------------------------------

class MemoryImageWriter:
    """JPEG or WebP: assembles the 8-bit image in memory (see :data:`JPEG_MAX_PIXELS`) and
    encodes it at the end with Pillow, with the ICC profile, EXIF and resolution."""

    def __init__(self, f: BinaryIO, width: int, height: int, fmt: str, style: OutputStyle, quality: int = 95,
                 lossless: bool = False):
        self.f, self.fmt, self.style, self.quality, self.lossless = f, fmt, style, int(quality), bool(lossless)
        self.image = np.empty((height, width, style.channels), dtype=np.uint8)
        self.rows_written = 0

    def write_rows(self, rows: np.ndarray) -> None:
        n = rows.shape[0]
        self.image[self.rows_written:self.rows_written + n] = rows
        self.rows_written += n

    def close(self) -> None:
        from PIL import Image
        if self.rows_written != self.image.shape[0]:
            raise RuntimeError(f"{self.fmt.upper()} image incomplete")
        img = Image.fromarray(self.image[..., 0] if self.image.shape[2] == 1 else self.image)
        meta = self.style.metadata
        params: dict = {}
        if meta.icc_profile:
            params["icc_profile"] = meta.icc_profile
        if meta.exif:
            params["exif"] = meta.exif
        if meta.dpi:
            params["dpi"] = (float(meta.dpi[0]), float(meta.dpi[1]))
        if self.fmt == "webp":
            params.pop("dpi", None)            # WebP has no resolution field: EXIF carries it
            exif = meta.exif_with_resolution()
            if exif:
                params["exif"] = exif
            img.save(self.f, format="WEBP", quality=self.quality, lossless=self.lossless, method=4,
                     exact=True, **params)
        else:
            img.save(self.f, format="JPEG", quality=self.quality, **params)
        self.image = None


# -- export -----------------------------------------------------------------------------------------

def check_export(path, out_size, fmt: Optional[str] = None) -> Tuple[str, Tuple[int, int]]:
    """Validate an export before any work: returns ``(format, (H, W))`` or raises CisrError."""
    f = format_for(path, fmt)
    H, W = output_size(out_size)
    if f == "jpeg" and (H * W > JPEG_MAX_PIXELS or max(H, W) > JPEG_MAX_SIDE):
        raise CisrError(f"JPEG export is limited to {JPEG_MAX_PIXELS // 1_000_000} megapixels and "
                        f"{JPEG_MAX_SIDE} pixels a side (asked for {W}x{H}); use PNG or TIFF for larger outputs")
    if f == "webp" and (H * W > JPEG_MAX_PIXELS or max(H, W) > WEBP_MAX_SIDE):
        raise CisrError(f"WebP is limited to {WEBP_MAX_SIDE} pixels a side and {JPEG_MAX_PIXELS // 1_000_000} "
                        f"megapixels here (asked for {W}x{H}); use PNG or TIFF for larger outputs")
    if path is not None:
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


def _open_writer(fh, path: Path, fmt: str, size, style: OutputStyle, *, jpeg_quality: int, lossless: bool,
                 pyramid: bool, compress_level: int, bigtiff: Optional[bool]):
    """The writer of ``fmt`` for ``style``: ``write_rows(rows)``, ``close()`` (and ``abort()``
    for the pyramid's writer thread)."""
    H, W = size
    if pyramid:
        return PyramidTiffWriter(fh, W, H, style, level=compress_level, folder=path.parent)
    if fmt == "png":
        return PngStreamWriter(fh, W, H, style.channels, level=compress_level, bits=style.bits,
                               metadata=style.metadata)
    if fmt == "tiff":
        return TiffStreamWriter(fh, W, H, style.channels, level=compress_level, bigtiff=bigtiff,
                                bits=style.bits, metadata=style.metadata)
    return MemoryImageWriter(fh, W, H, fmt, style, jpeg_quality, lossless=lossless)


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
                 pyramid: bool = False, encoded: Optional[Callable[[int], None]] = None) -> Iterator[None]:
    """:func:`export_image` as a generator that yields after each bounded step (one encoder box
    of at most :data:`~.session.STEP_ENCODE_BOX` LR pixels, or one chunk of at most ``chunk_pixels``
    output pixels), so the render thread can run other work in between. Closing the generator
    early removes the temporary file. Its return value (``StopIteration.value``) is the
    :class:`OutputStyle` written."""
    path = Path(path).expanduser()
    f, (H, W) = check_export(path, out_size, fmt)
    if pyramid and f != "tiff":
        raise CisrError(f"a tiled pyramid is a TIFF layout; '{path.name}' is {f.upper()}")
    style = output_style(f, (H, W), region, image, has_alpha=keep_alpha and session.alpha is not None,
                         colour=colour, keep_metadata=keep_metadata, bits=bits)
    chunk = max(1, int(chunk_pixels or EXPORT_CHUNK_PIXELS))
    rows = int(strip_rows) if strip_rows else max(1, min(512, chunk // W))
    with atomic_writer(path, suffix=".part") as fh:
        writer = _open_writer(fh, path, f, (H, W), style, jpeg_quality=jpeg_quality, lossless=lossless,
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
