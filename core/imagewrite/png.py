"""A streaming PNG encoder (zlib, "Up" row filter, IDAT chunks of about 1 MiB): memory does not
depend on the image height."""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO, Optional

import numpy as np

from ..errors import CisrError
from ..imageio import ImageMetadata


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
