"""The export formats (the one table of them), what each can hold, and what an output keeps of its input.

:func:`output_style` decides once what a file holds: 8 or 16 bits per sample (16 for 16-bit
inputs in PNG and TIFF), grey for grey inputs unless ``colour=True`` (WebP has no grey), alpha
where the format keeps it (PNG, TIFF, WebP), and the input's metadata scaled to the output: its
ICC profile (only where its colour space fits), its EXIF (orientation 1, since loading applied
it; pixel dimensions updated) and its resolution, multiplied by the upscaling factor so the print
size stays the same. :func:`check_size` refuses, before any work, what JPEG and WebP (encoded in
memory) cannot hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..errors import CisrError
from ..imageio import ImageMetadata, LoadedImage

#: JPEG and WebP are encoded in memory: at most this many output pixels (300 MB of RGB)
JPEG_MAX_PIXELS = 100_000_000
JPEG_MAX_SIDE = 65500
WEBP_MAX_SIDE = 16383



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


def check_size(fmt: str, size: Tuple[int, int]) -> None:
    """Refuse an ``(H, W)`` output that ``fmt`` cannot hold here (JPEG and WebP are assembled in
    memory, :data:`JPEG_MAX_PIXELS`, and have their own limits a side)."""
    H, W = size
    if fmt == "jpeg" and (H * W > JPEG_MAX_PIXELS or max(H, W) > JPEG_MAX_SIDE):
        raise CisrError(f"JPEG export is limited to {JPEG_MAX_PIXELS // 1_000_000} megapixels and "
                        f"{JPEG_MAX_SIDE} pixels a side (asked for {W}x{H}); use PNG or TIFF for larger outputs")
    if fmt == "webp" and (H * W > JPEG_MAX_PIXELS or max(H, W) > WEBP_MAX_SIDE):
        raise CisrError(f"WebP is limited to {WEBP_MAX_SIDE} pixels a side and {JPEG_MAX_PIXELS // 1_000_000} "
                        f"megapixels here (asked for {W}x{H}); use PNG or TIFF for larger outputs")
