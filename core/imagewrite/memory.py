"""JPEG and WebP: Pillow has no streaming encoder for them, so the image is assembled in memory
and encoded at the end (hence :data:`~.formats.JPEG_MAX_PIXELS`). WebP is lossy (``quality``) or
lossless (``lossless=True``)."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np

from .formats import OutputStyle


class MemoryImageWriter:
    """JPEG or WebP: assembles the 8-bit image in memory (see :data:`~.formats.JPEG_MAX_PIXELS`) and
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
