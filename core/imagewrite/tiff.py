"""A streaming TIFF writer: deflate-compressed strips with horizontal predictor, the directory
at the end. Classic TIFF when the file is sure to stay under 4 GiB, else BigTIFF (``bigtiff=True``
forces it)."""

from __future__ import annotations

import os
import struct
import zlib
from typing import BinaryIO, Optional, Tuple

import numpy as np

from ..errors import CisrError
from ..imageio import ImageMetadata
from .strips import Strips


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
        self._gather = Strips(self.rows_per_strip)
        if self.bigtiff:
            f.write(b"II+\x00" + struct.pack("<HHQ", 8, 0, 0))
        else:
            f.write(b"II*\x00" + struct.pack("<I", 0))

    def write_rows(self, rows: np.ndarray) -> None:
        """``rows``: ``(n, width, channels)`` uint8 (uint16 for 16-bit files)."""
        for strip in self._gather.add(rows):
            self._write_strip(strip)
        self.rows_written += rows.shape[0]

    def _write_strip(self, strip: np.ndarray) -> None:
        d = strip.copy()
        d[:, 1:] -= strip[:, :-1]             # predictor 2: difference to the pixel on the left
        data = zlib.compress(d.astype("<u2").tobytes() if self.bits == 16 else d.tobytes(), self.level)
        self.offsets.append(self.f.tell())
        self.counts.append(len(data))
        self.f.write(data)

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
        rest = self._gather.rest()
        if rest is not None:
            self._write_strip(rest)
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
