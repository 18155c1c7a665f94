"""The one place that picks a writer for a format: every writer takes rows as they come
(``write_rows(rows)``, ``(n, W, channels)`` of ``style.dtype``) and finishes with ``close()``;
``abort()``, where a writer has it, stops its work after a failure or a cancel."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Optional, Tuple

from .formats import OutputStyle
from .memory import MemoryImageWriter
from .png import PngStreamWriter
from .pyramid import PyramidTiffWriter
from .tiff import TiffStreamWriter


def open_writer(fh: BinaryIO, path: Path, fmt: str, size: Tuple[int, int], style: OutputStyle, *,
                jpeg_quality: int = 95, lossless: bool = False, pyramid: bool = False, compress_level: int = 6,
                bigtiff: Optional[bool] = None):
    """The writer of ``fmt`` for ``style``, an ``size = (H, W)`` image into ``fh`` (the open
    temporary file of ``path``, beside which a pyramid spools its reduced levels)."""
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
