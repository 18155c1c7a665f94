"""The one image loader used everywhere (CLI, renderer, GUI, training, evaluation), and what an
output keeps of its input (:class:`ImageMetadata`).

:func:`load_image` (a file) and :func:`load_image_bytes` (e.g. stdin) return a
:class:`LoadedImage`: RGB as float32 in ``[0, 1]``, shape ``(H, W, 3)``, plus a separate alpha
plane ``(H, W)`` when the file has transparency (alpha is never multiplied into the colours;
outputs reattach it, upscaled bilinearly). 8- and 16-bit, grey, palette, RGBA/LA, CMYK and YCbCr
files are converted; the EXIF orientation is applied (and reset to 1 in the kept EXIF); of an
animated file the first frame is used. 16-bit files keep their 16 bits in the float image:
grey ones through Pillow, RGB(A) TIFFs through ``tifffile``, RGB(A) PNGs through ``pyspng``
(the ``png16`` extra; without it they are read at 8 bits, with a note in
:attr:`LoadedImage.notes`). ``grey`` records a grey input, so outputs can stay grey.

Any problem raises :class:`ImageLoadError` with a one-line message naming the file.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_writer
from .errors import ImageLoadError

#: Largest input accepted, in pixels (a 16k x 12.5k photograph). Larger files are refused
#: before decoding, which also stops decompression bombs.
MAX_INPUT_PIXELS = 200_000_000
#: largest image read from a stream (stdin), in bytes
MAX_INPUT_BYTES = 2 * 2**30
# Pillow's own bomb check (a warning above 89.5 MP by default, an error at twice its limit)
# is aligned with ours, so legal images up to MAX_INPUT_PIXELS decode.
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS
log = logging.getLogger(__name__)

READABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".ppm", ".pgm", ".pnm", ".tga")
#: PIL modes of grey images
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")

#: EXIF tags of the first IFD that describe the picture (kept); the others describe a file's
#: layout (strip offsets, sizes, compression ...) and are rewritten by each writer
_EXIF_KEPT_TAGS = (270, 271, 272, 274, 282, 283, 296, 305, 306, 315, 33432)
_EXIF_SUB_IFDS = (0x8769, 0x8825)      # Exif and GPS sub-IFDs
_ORIENTATION, _XRES, _YRES, _RES_UNIT = 274, 282, 283, 296
_PIXEL_X_DIM, _PIXEL_Y_DIM = 0xA002, 0xA003
_EXIF_HEADER = b"Exif\x00\x00"


@dataclass(frozen=True)
class ImageMetadata:
    """What an output keeps of its input: the ICC profile (bytes), the EXIF block (Pillow's
    ``Exif.tobytes()`` form, ``b"Exif\\0\\0"`` + a TIFF structure; orientation 1, since loading
    applied it) and the resolution ``dpi = (x, y)`` in pixels per inch."""

    icc_profile: Optional[bytes] = None
    exif: Optional[bytes] = None
    dpi: Optional[Tuple[float, float]] = None

    def icc_profile_for(self, grey: bool) -> Optional[bytes]:
        """The ICC profile if its colour space fits an output that is ``grey`` (or RGB), else
        None (a CMYK profile after conversion to RGB, a grey profile on an RGB output)."""
        p = self.icc_profile
        if not p or len(p) < 20:
            return None
        space = p[16:20]
        return p if space == (b"GRAY" if grey else b"RGB ") else None

    def scaled(self, factor: Tuple[float, float], out_size: Tuple[int, int]) -> "ImageMetadata":
        """The metadata of an output ``out_size = (H, W)`` that is ``factor = (fy, fx)`` times
        as many pixels per input pixel: the resolution multiplied by the factor (the print
        size stays the same), EXIF's resolution and pixel dimensions updated."""
        fy, fx = float(factor[0]), float(factor[1])
        dpi = None if self.dpi is None else (self.dpi[0] * fx, self.dpi[1] * fy)
        exif = self.exif
        if exif:
            e = Image.Exif()
            e.load(exif)
            if dpi is not None and _XRES in e:
                e[_XRES], e[_YRES], e[_RES_UNIT] = dpi[0], dpi[1], 2
            sub = e.get_ifd(0x8769)
            if _PIXEL_X_DIM in sub or _PIXEL_Y_DIM in sub:
                sub[_PIXEL_X_DIM], sub[_PIXEL_Y_DIM] = int(out_size[1]), int(out_size[0])
            exif = e.tobytes()
        return replace(self, dpi=dpi, exif=exif)

    def exif_with_resolution(self) -> Optional[bytes]:
        """The EXIF block with the resolution in it (for formats whose only resolution field
        is EXIF's, such as WebP); None when there is neither."""
        if self.dpi is None:
            return self.exif
        e = Image.Exif()
        if self.exif:
            e.load(self.exif)
        e[_XRES], e[_YRES], e[_RES_UNIT] = float(self.dpi[0]), float(self.dpi[1]), 2
        return e.tobytes()

    @property
    def exif_tiff(self) -> Optional[bytes]:
        """The EXIF block without its ``Exif\\0\\0`` header (PNG's eXIf chunk)."""
        if not self.exif:
            return None
        return self.exif[len(_EXIF_HEADER):] if self.exif.startswith(_EXIF_HEADER) else self.exif


@dataclass
class LoadedImage:
    rgb: np.ndarray                 # (H, W, 3) float32 in [0, 1]
    alpha: Optional[np.ndarray]     # (H, W) float32 in [0, 1], or None
    path: Optional[Path] = None
    source_mode: str = "RGB"        # PIL mode of the file
    bit_depth: int = 8              # bits per sample of the file (8, 16; 32 for float grey)
    grey: bool = False              # the file is grey (its three channels here are equal)
    metadata: ImageMetadata = field(default_factory=ImageMetadata)
    file_format: Optional[str] = None   # Pillow's format name: "PNG", "JPEG", "TIFF", "WEBP", ...
    notes: Tuple[str, ...] = ()     # what was not kept on reading (one line each)

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` in pixels."""
        return self.rgb.shape[0], self.rgb.shape[1]


#: what to do about an incomplete file, in the user's words
INCOMPLETE_HINT = ("probably a download or copy that did not finish; open a complete copy of the image")
#: what to do about a file that is not a readable image
FORMATS_HINT = "open a PNG, JPEG, TIFF, WebP, BMP, GIF, PPM/PGM or TGA image"


def _fail(path, reason: str) -> ImageLoadError:
    return ImageLoadError(f"cannot read image '{path}': {reason}")


def _to_float(img: Image.Image) -> tuple[np.ndarray, Optional[np.ndarray], int]:
    """Convert a PIL image of any mode to (rgb float32, alpha or None, bit depth)."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img).astype(np.float32)
        top = 65535.0 if (mode.startswith("I;16") or a.max(initial=0) > 255) else 255.0
        g = np.clip(a / top, 0, 1)
        return np.repeat(g[..., None], 3, axis=2), None, 16 if top > 255 else 8
    if mode == "F":
        g = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
        return np.repeat(g[..., None], 3, axis=2), None, 32
    if mode == "1":
        img = img.convert("L")
        mode = "L"
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        return np.ascontiguousarray(rgba[..., :3]), (alpha if alpha.min() < 1.0 else None), 8
    if mode == "L":
        g = np.asarray(img, dtype=np.float32) / 255.0
        return np.repeat(g[..., None], 3, axis=2), None, 8
    if mode != "RGB":
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return np.asarray(img, dtype=np.float32) / 255.0, None, 8


def _array_to_float(a: np.ndarray) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """A uint16 ``(H, W)``/``(H, W, C)`` array (C = 1..4: grey, grey+alpha, RGB, RGBA) ->
    (rgb float32, alpha or None)."""
    f = a.astype(np.float32) / 65535.0
    if f.ndim == 2:
        f = f[..., None]
    c = f.shape[2]
    colour = f[..., :3] if c >= 3 else np.repeat(f[..., :1], 3, axis=2)
    alpha = f[..., c - 1] if c in (2, 4) else None
    if alpha is not None and alpha.min() >= 1.0:
        alpha = None
    return np.ascontiguousarray(colour), alpha


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``(H, W, ...)`` array, as Pillow's exif_transpose."""
    ops = {2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1],
           5: lambda x: x.swapaxes(0, 1), 6: lambda x: np.rot90(x, -1),
           7: lambda x: x.swapaxes(0, 1)[::-1, ::-1], 8: lambda x: np.rot90(x, 1)}
    op = ops.get(int(orientation or 1))
    return np.ascontiguousarray(op(a)) if op else a


def _png_bit_depth(img: Image.Image) -> int:
    """A PNG's bits per sample, from the raw mode Pillow would decode it with (``...;16B``: 16)."""
    raw = img.tile[0].args if img.tile else ""
    raw = raw if isinstance(raw, str) else (raw[0] if raw else "")
    return 16 if str(raw).endswith(";16B") else 8


def _sixteen_bit_colour(img: Image.Image) -> Optional[str]:
    """``"png"``/``"tiff"`` for a 16-bit colour (or grey+alpha) file that Pillow would read at 8
    bits, else None."""
    if img.format == "PNG" and img.mode in ("RGB", "RGBA", "LA"):
        return "png" if _png_bit_depth(img) == 16 else None
    if img.format == "TIFF" and img.mode in ("RGB", "RGBA", "LA"):
        bits = img.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        return "tiff" if max(bits) == 16 else None
    return None


def _read_sixteen_bit(kind: str, data: bytes, frame: int = 0) -> Optional[np.ndarray]:
    """The uint16 samples of a 16-bit PNG (``pyspng``) or TIFF (``tifffile``), or None when
    the decoder is not installed."""
    if kind == "png":
        try:
            import pyspng
        except ImportError:
            return None
        a = np.asarray(pyspng.load(data))
        # libspng decodes 16-bit samples with an alpha channel added: keep the file's channels
        channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(data[25] if len(data) > 25 else 2, 3)
        return a if a.ndim == 2 else (a[..., 0] if channels == 1 else a[..., :channels])
    import tifffile
    with tifffile.TiffFile(io.BytesIO(data)) as t:
        return np.asarray(t.pages[frame].asarray())


def _kept_exif(img: Image.Image) -> Optional[bytes]:
    """The picture-describing EXIF of ``img`` (see :data:`_EXIF_KEPT_TAGS`), orientation 1."""
    try:
        src = img.getexif()
    except Exception:   # a damaged EXIF block is dropped, never a reason to refuse the image
        return None
    out = Image.Exif()
    for tag in _EXIF_KEPT_TAGS:
        if tag in src:
            out[tag] = src[tag]
    if _ORIENTATION in out:
        out[_ORIENTATION] = 1
    for tag in _EXIF_SUB_IFDS:
        try:
            sub = src.get_ifd(tag)
        except Exception:
            sub = {}
        if sub:
            out[tag] = dict(sub)
    if not len(out):
        return None
    try:
        return out.tobytes()
    except Exception:
        return None


def _read_metadata(img: Image.Image) -> ImageMetadata:
    dpi = img.info.get("dpi")
    try:
        dpi = (float(dpi[0]), float(dpi[1])) if dpi and float(dpi[0]) > 0 and float(dpi[1]) > 0 else None
    except (TypeError, ValueError, IndexError):
        dpi = None
    icc = img.info.get("icc_profile") or None
    return ImageMetadata(icc_profile=bytes(icc) if icc else None, exif=_kept_exif(img), dpi=dpi)


def _decode(label, opener, data_of, max_pixels: int) -> LoadedImage:
    """Decode what ``opener()`` opens (a path or a byte stream); ``data_of()`` gives the file's
    bytes for the 16-bit decoders."""
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(opener()) as img:
            w, h = img.size
            if w <= 0 or h <= 0:
                raise _fail(label, f"the image has no pixels ({w}x{h}); {FORMATS_HINT} with at least one pixel")
            if w * h > max_pixels:
                raise _fail(label, f"the image is too large ({w}x{h} = {w * h / 1e6:.0f} MP; the limit is "
                                   f"{max_pixels / 1e6:.0f} MP); open a smaller copy of it")
            mode, fmt = img.mode, img.format
            if getattr(img, "is_animated", False):
                img.seek(0)
            kind = _sixteen_bit_colour(img)         # before anything that loads the pixels
            metadata = _read_metadata(img)
            orientation = img.getexif().get(_ORIENTATION, 1) if metadata.exif else 1
            grey = mode in GREY_MODES
            samples = _read_sixteen_bit(kind, data_of()) if kind else None
            if samples is not None:
                rgb, alpha = _array_to_float(_orient(samples, orientation))
                depth = 16
            else:
                if kind == "png":
                    notes.append("16-bit PNG read at 8 bits: install pyspng (pip install 'cisr-zoom[png16]') "
                                 "to keep 16 bits")
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb, alpha, depth = _to_float(img)
    return LoadedImage(rgb=np.ascontiguousarray(rgb, dtype=np.float32), alpha=alpha, source_mode=mode,
                       bit_depth=depth, grey=grey, metadata=metadata, file_format=fmt, notes=tuple(notes))


def _load(label, opener, data_of, max_pixels: int) -> LoadedImage:
    try:
        image = _decode(label, opener, data_of, max_pixels)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _fail(label, f"the image is too large (more than the limit of {MAX_INPUT_PIXELS / 1e6:.0f} MP); "
                           f"open a smaller copy of it") from None
    except UnidentifiedImageError:
        raise _fail(label, f"it is not an image, or not in a format CiSR Zoom can open; {FORMATS_HINT}") from None
    except (OSError, SyntaxError, ValueError, EOFError, KeyError, IndexError, RuntimeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.debug("decoding %s failed: %s", label, msg)     # the decoder's own words, for diagnosis only
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise _fail(label, f"the file is truncated (it ends before the image does), {INCOMPLETE_HINT}") from None
        raise _fail(label, "the file is damaged, or uses a variant of its format that CiSR Zoom cannot "
                           "decode; re-save it as PNG or JPEG in another program and open that") from None
    except MemoryError:
        raise _fail(label, "there is not enough memory to decode it; close other programs or open a "
                           "smaller image") from None
    if image.rgb.size == 0:
        raise _fail(label, f"the image has no pixels; {FORMATS_HINT} with at least one pixel")
    return image


def load_image(path: str | os.PathLike, max_pixels: int = MAX_INPUT_PIXELS) -> LoadedImage:
    """Read the file ``path`` as described in the module docstring (at most ``max_pixels``)."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "there is no such file; check its name and folder")
    if path.is_dir():
        raise _fail(path, "it is a folder, not a file; choose an image file inside it")
    try:
        if path.stat().st_size == 0:
            raise _fail(path, f"the file is empty (0 bytes), {INCOMPLETE_HINT}")
    except OSError as e:
        raise _fail(path, e.strerror or str(e)) from None
    image = _load(path, lambda: path, path.read_bytes, max_pixels)
    image.path = path
    return image


def load_image_bytes(data: bytes, name: str = "<stdin>", max_pixels: int = MAX_INPUT_PIXELS) -> LoadedImage:
    """Read an image from the bytes of a whole file (e.g. stdin); ``name`` is used in messages."""
    if not data:
        raise _fail(name, f"there is no data (0 bytes), {INCOMPLETE_HINT}")
    return _load(name, lambda: io.BytesIO(data), lambda: data, max_pixels)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float ``[0, 1]`` -> uint8: ``round(255 x)`` (halves up) after clipping, computed in float64
    so that it is exact for float32 input. The one 8-bit quantisation of the project (display
    tiles, export, image files, evaluation)."""
    return _round_scaled(rgb, 255.0).astype(np.uint8)


def to_uint16(rgb: np.ndarray) -> np.ndarray:
    """Float ``[0, 1]`` -> uint16: ``round(65535 x)`` after clipping (16-bit outputs)."""
    return _round_scaled(rgb, 65535.0).astype(np.uint16)


def _round_scaled(rgb: np.ndarray, top: float) -> np.ndarray:
    """``floor(clip(x, 0, 1) * top + 0.5)`` in float64, in one buffer (a strip of a large
    export makes no further temporaries)."""
    a = np.array(rgb, dtype=np.float64)
    np.clip(a, 0.0, 1.0, out=a)
    a *= top
    a += 0.5
    return np.floor(a, out=a)


def quantise(rgb: np.ndarray, bits: int) -> np.ndarray:
    """:func:`to_uint8` or :func:`to_uint16` for ``bits`` 8 or 16."""
    return to_uint16(rgb) if bits == 16 else to_uint8(rgb)


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` float RGB -> ``(...)`` float luma (ITU-R BT.601 weights, as Pillow's "L")."""
    rgb = np.asarray(rgb, np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def save_image(path: str | os.PathLike, rgb: np.ndarray, alpha: Optional[np.ndarray] = None, **params) -> None:
    """Write a float ``[0, 1]`` (or uint8) image atomically (:func:`~.atomic.atomic_writer`)."""
    path = Path(path)
    arr = rgb if rgb.dtype == np.uint8 else to_uint8(rgb)
    if alpha is not None:
        a = alpha if alpha.dtype == np.uint8 else to_uint8(alpha)
        arr = np.concatenate([arr, a[..., None]], axis=2)
    img = Image.fromarray(arr)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ImageLoadError(f"cannot write '{path}': unknown image format '{path.suffix}'")
    if fmt == "JPEG" and img.mode == "RGBA":
        img = img.convert("RGB")
    with atomic_writer(path) as f:
        img.save(f, format=fmt, **params)
