"""The one image loader used everywhere (CLI, renderer, GUI, training, evaluation).

:func:`load_image` returns a :class:`LoadedImage`: RGB as float32 in ``[0, 1]``, shape
``(H, W, 3)``, plus a separate alpha plane ``(H, W)`` when the file has transparency
(alpha is never multiplied into the colours; outputs reattach it, upscaled bilinearly).
8- and 16-bit, grey, palette, RGBA/LA, CMYK and YCbCr files are converted; the EXIF
orientation is applied; of an animated file the first frame is used.

Any problem raises :class:`ImageLoadError` with a one-line message naming the file.
"""

from __future__ import annotations

import logging

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_writer
from .errors import ImageLoadError

#: Largest input accepted, in pixels (a 16k x 12.5k photograph). Larger files are refused
#: before decoding, which also stops decompression bombs.
MAX_INPUT_PIXELS = 200_000_000
# Pillow's own bomb check (a warning above 89.5 MP by default, an error at twice its limit)
# is aligned with ours, so legal images up to MAX_INPUT_PIXELS decode.
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS
log = logging.getLogger(__name__)

READABLE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".ppm", ".pgm", ".pnm", ".tga")


@dataclass
class LoadedImage:
    rgb: np.ndarray                 # (H, W, 3) float32 in [0, 1]
    alpha: Optional[np.ndarray]     # (H, W) float32 in [0, 1], or None
    path: Optional[Path] = None
    source_mode: str = "RGB"        # PIL mode of the file
    bit_depth: int = 8

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


def load_image(path: str | os.PathLike, max_pixels: int = MAX_INPUT_PIXELS) -> LoadedImage:
    """Read ``path`` as described in the module docstring."""
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w <= 0 or h <= 0:
                    raise _fail(path, f"the image has no pixels ({w}x{h}); {FORMATS_HINT} with at least one pixel")
                if w * h > max_pixels:
                    raise _fail(path, f"the image is too large ({w}x{h} = {w * h / 1e6:.0f} MP; the limit is "
                                      f"{max_pixels / 1e6:.0f} MP); open a smaller copy of it")
                mode = img.mode
                if getattr(img, "is_animated", False):
                    img.seek(0)
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb, alpha, depth = _to_float(img)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _fail(path, f"the image is too large (more than the limit of {MAX_INPUT_PIXELS / 1e6:.0f} MP); "
                          f"open a smaller copy of it") from None
    except UnidentifiedImageError:
        raise _fail(path, f"it is not an image, or not in a format CiSR Zoom can open; {FORMATS_HINT}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.debug("decoding %s failed: %s", path, msg)     # the decoder's own words, for diagnosis only
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise _fail(path, f"the file is truncated (it ends before the image does), {INCOMPLETE_HINT}") from None
        raise _fail(path, "the file is damaged, or uses a variant of its format that CiSR Zoom cannot "
                          "decode; re-save it as PNG or JPEG in another program and open that") from None
    except MemoryError:
        raise _fail(path, "there is not enough memory to decode it; close other programs or open a "
                          "smaller image") from None
    if rgb.size == 0:
        raise _fail(path, f"the image has no pixels; {FORMATS_HINT} with at least one pixel")
    return LoadedImage(rgb=np.ascontiguousarray(rgb, dtype=np.float32), alpha=alpha, path=path,
                       source_mode=mode, bit_depth=depth)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float ``[0, 1]`` -> uint8: ``round(255 x)`` (halves up) after clipping, computed in float64
    so that it is exact for float32 input. The one 8-bit quantisation of the project (display
    tiles, export, image files, evaluation)."""
    return np.floor(np.clip(np.asarray(rgb, np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


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
