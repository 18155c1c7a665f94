"""Render sources: what export, the CLI and the app render from, and the pool that makes them.

A :class:`RenderSource` turns a region of one image into pixels at any output size. Three kinds
exist: :class:`~.session.RenderSession` (an INN model on a device, in a precision),
:class:`~.fixed.FixedScaleSession` (a fixed-scale model of another project through spandrel,
run at its native scale and resampled) and :class:`BicubicSession` (classical bicubic
interpolation, the comparison baseline); exports at or below the input's size use a fourth,
:class:`~.resample.ResampledSource` (antialiased resampling, no model). All satisfy the protocol fully, so callers never probe
for optional methods.

Coordinates follow :mod:`cisr_zoom.core.coords`: ``region = (y0, x0, y1, x1)`` in ``[-1, 1]``
(edges of the image), ``out_size = (H, W)`` output pixels whose centres lie at
``y0 + (y1 - y0)(2i + 1)/(2H)`` (``grid_sample``'s ``align_corners=False`` convention).

:class:`SessionPool` owns the sources of the current image (one per source id, device and
precision) and the loaded models; it belongs to the render thread and is touched only there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Protocol, Tuple, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from ..coords import make_coord, sub_region
from ..errors import CisrError
from ..fixed_scale import is_fixed_scale, load_model
from ..twins import render_path
from .fixed import FixedScaleSession
from .resample import NothingToEncode
from .session import RenderSession
from .stopping import RenderCancelled, StopFn, stop_if_asked

#: Source id of classical bicubic interpolation (every other id names a model).
BICUBIC = "bicubic"

#: Output pixels per bicubic chunk (bounds memory; cancellation is checked between chunks).
BICUBIC_CHUNK_PIXELS = 512 * 512



@runtime_checkable
class RenderSource(Protocol):
    """Pixels of any region of one image at any size.

    ``lr_size`` is the image's ``(h, w)`` in input pixels; ``alpha`` its ``(h, w)`` alpha in
    ``[0, 1]`` or None; ``precision`` the compute precision actually used (``float32``...);
    ``encode_seconds`` the time spent preparing features so far (instrumentation);
    ``compute_label`` how it computes, in words (precision and encoder plan; the status bar).
    """

    lr_size: Tuple[int, int]
    alpha: Optional[np.ndarray]
    precision: str
    encode_seconds: float
    compute_label: str

    def render(self, region, out_size, should_stop: StopFn = None) -> np.ndarray:
        """``(H, W, 3)`` float32 RGB in ``[0, 1]``; raises :class:`RenderCancelled` once
        ``should_stop()`` is true (checked between chunks)."""

    def render_alpha(self, region, out_size) -> Optional[np.ndarray]:
        """``(H, W)`` alpha at the same pixel centres (bilinear), or None without alpha."""

    def prefetch(self, region, should_stop: StopFn = None, max_fraction: float = 0.5) -> bool:
        """Prepare ``region`` ahead of renders (e.g. encode its features); True if done."""

    def encode_step(self, region, within=None, should_stop: StopFn = None) -> bool:
        """Do one bounded piece of what a render of ``region`` needs first (one encoder box,
        grown within ``within``); False when nothing is left to do (no work was done)."""

    def uncached_pixels(self, region) -> int:
        """Input pixels a render of ``region`` would still have to encode (for estimates)."""

    def encode_ahead(self, focus=None, should_stop: StopFn = None) -> bool:
        """Do one bounded piece of preparation ahead of need, nearest ``focus`` (``(y, x)``
        input pixels); False when nothing is left worth doing (no work was done)."""


class BicubicSession(NothingToEncode):
    """Bicubic interpolation of one image (a :class:`RenderSource`)."""

    precision = "float32"

    def __init__(self, image, device="cpu"):
        rgb = getattr(image, "rgb", image)   # a LoadedImage, or an (h, w, 3) float array
        self.alpha: Optional[np.ndarray] = getattr(image, "alpha", None)
        self.lr_size: Tuple[int, int] = (int(rgb.shape[0]), int(rgb.shape[1]))
        self.device = torch.device(device)
        self._image = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].to(self.device)
        self._alpha = None if self.alpha is None else \
            torch.from_numpy(np.ascontiguousarray(self.alpha, dtype=np.float32))[None, None].to(self.device)

    @torch.no_grad()
    def render(self, region, out_size, should_stop: StopFn = None) -> np.ndarray:
        H, W = int(out_size[0]), int(out_size[1])
        out = np.empty((H, W, 3), dtype=np.float32)
        rows = max(1, BICUBIC_CHUNK_PIXELS // max(W, 1))
        y0, x0, y1, x1 = region
        for r0 in range(0, H, rows):
            stop_if_asked(should_stop)
            r1 = min(H, r0 + rows)
            sub = sub_region(region, (H, W), r0, 0, r1 - r0, W)
            grid = make_coord((r1 - r0, W), sub, flatten=False, device=self.device).flip(-1)[None]  # (x, y)
            res = F.grid_sample(self._image, grid, mode="bicubic", padding_mode="border", align_corners=False)
            out[r0:r1] = res[0].permute(1, 2, 0).clamp_(0, 1).cpu().numpy()
        return out

    @torch.no_grad()
    def render_alpha(self, region, out_size) -> Optional[np.ndarray]:
        if self._alpha is None:
            return None
        grid = make_coord((int(out_size[0]), int(out_size[1])), region, flatten=False, device=self.device).flip(-1)[None]
        a = F.grid_sample(self._alpha, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return a[0, 0].clamp_(0, 1).cpu().numpy()


    def encode_ahead(self, focus=None, should_stop: StopFn = None) -> bool:
        """Nothing to encode."""
        return False

    @property
    def compute_label(self) -> str:
        return "bicubic"


class SessionPool:
    """The render sources of the current image, made on demand and kept until the image,
    device or set of models changes. Render thread only.

    ``epoch`` numbers the images opened; a source asked for with another epoch than the
    current image's raises :class:`RenderCancelled` (the image changed meanwhile).

    A model renders through its bundled LM twin when one within the bound exists
    (:func:`cisr_zoom.core.twins.render_path`), unless :attr:`exact_decoder` is set (change it
    through :meth:`set_device`, which rebuilds the sources): the one place that chooses.
    """

    def __init__(self, feature_cache_bytes: int = 512 * 2 ** 20):
        self.feature_cache_bytes = int(feature_cache_bytes)
        self.model_paths: Dict[str, Path] = {}     # model id -> checkpoint path
        self.image = None                          # a LoadedImage
        self.epoch = -1
        self.device: Optional[torch.device] = None
        self.exact_decoder = False                 # True: render the chosen model itself, never its twin
        self._models: Dict[Tuple[str, str], object] = {}
        self._sources: Dict[Tuple[int, str, str, str], RenderSource] = {}

    def set_image(self, image, epoch: int) -> None:
        self.image, self.epoch = image, int(epoch)
        self._sources.clear()

    def set_device(self, device, exact_decoder: Optional[bool] = None) -> None:
        """Switch device (and, if given, :attr:`exact_decoder`): models and sources are rebuilt
        on the next :meth:`source`."""
        self.device = torch.device(device)
        if exact_decoder is not None:
            self.exact_decoder = bool(exact_decoder)
        self._models.clear()
        self._sources.clear()

    def source(self, source_id: str, epoch: int, precision: str = "float32") -> RenderSource:
        """The source ``source_id`` (a model id of :attr:`model_paths`, or :data:`BICUBIC`)
        for image ``epoch`` on the current device, made if needed (a model loads here)."""
        if self.image is None or epoch != self.epoch:
            raise RenderCancelled()
        device = self.device if self.device is not None else torch.device("cpu")
        key = (epoch, source_id, str(device), precision)
        s = self._sources.get(key)
        if s is not None:
            return s
        if source_id == BICUBIC:
            s = BicubicSession(self.image, device=device)
        else:
            path = self.model_paths.get(source_id)
            if path is None:
                raise CisrError(f"unknown model {source_id!r}")
            path = render_path(path, self.exact_decoder)
            mkey = (str(path), str(device))
            loaded = self._models.get(mkey)
            if loaded is None:
                loaded = load_model(path, device)
                self._models[mkey] = loaded
            if is_fixed_scale(loaded):
                s = FixedScaleSession(loaded, self.image, device=device, cache_bytes=self.feature_cache_bytes)
            else:
                s = RenderSession(loaded.model, self.image, device=device, precision=precision,
                                  feature_cache_bytes=self.feature_cache_bytes)
        self._sources[key] = s
        return s
