"""A tiled (256 x 256), pyramidal BigTIFF with OME-XML: the half, quarter ... resolutions as
SubIFDs of the full one (the OME-TIFF pyramid layout, from which viewers such as napari and QuPath
read only the level and tiles they show), written by ``tifffile`` while streaming, in a writer
thread fed one strip of a tile's height at a time. Each level is reduced, strip by strip, into an
anonymous temporary file that the next level is read from, so memory stays a few strips."""

from __future__ import annotations

import io
import queue
import tempfile
import threading
from typing import BinaryIO, Iterator, Optional

import numpy as np

from ..errors import CisrError
from ..imageio import ImageMetadata
from .formats import OutputStyle
from .strips import Strips
from .tiff import _tiff_text_tags

#: tile side of pyramidal TIFFs, and the size below which no further level is made
PYRAMID_TILE = 256


class WriteAborted(Exception):
    """Raised in the writer thread when :meth:`PyramidTiffWriter.abort` stopped it."""



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
        self._gather = Strips(tile)
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
        for strip in self._gather.add(rows):
            self._put(strip)
        self.rows_written += rows.shape[0]

    def close(self) -> None:
        rest = self._gather.rest()
        if rest is not None:
            self._put(rest)
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
                raise WriteAborted()
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
