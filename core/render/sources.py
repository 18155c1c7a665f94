"""Render sources: what export, the CLI and the app render from, and the pool that makes them.

A :class:`RenderSource` turns a region of one image into pixels at any output size. Three kinds
exist: :class:`~.session.RenderSession` (an INN model on a device, in a precision),
:class:`~.fixed.FixedScaleSession` (a fixed-scale model of another project through spandrel,
run at its native scale and resampled) and :class:`BicubicSession` (classical bicubic
interpolation, the comparison baseline); exports at or below the input's size use a fourth,
:class:`~.resample.ResampledSource` (antialiased resampling, no model). All satisfy the protocol fully, so callers never probe
for optional methods.

Every kind of loaded model (:func:`~cisr_zoom.core.fixed_scale.load_model`: a LIIF-family
:class:`~cisr_zoom.core.checkpoint.LoadedModel` or a
:class:`~cisr_zoom.core.fixed_scale.FixedScaleModel`) is described by one
:class:`SourceDescriptor` (:func:`describe_source`) and opened on an image by one
:func:`open_source`, as spandrel's ``ModelDescriptor`` describes every architecture once; the
kinds stand in one table (``_KINDS``), so a new kind is one row there and callers never ask
which kind they hold.

Coordinates follow :mod:`cisr_zoom.core.coords`: ``region = (y0, x0, y1, x1)`` in ``[-1, 1]``
(edges of the image), ``out_size = (H, W)`` output pixels whose centres lie at
``y0 + (y1 - y0)(2i + 1)/(2H)`` (``grid_sample``'s ``align_corners=False`` convention).

:class:`SessionPool` owns the sources of the current image (one per source id, device and
precision) and the loaded models; it belongs to the render thread and is touched only there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Protocol, Tuple, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoint import LoadedModel
from ..coords import make_coord, sub_region
from ..errors import CheckpointError, CisrError
from ..fixed_scale import FixedScaleInfo, FixedScaleModel, describe_any, load_model
from ..models.decoder import ModelDescriptor
from ..twins import render_path
from .fixed import FixedScaleSession
from .resample import NothingToEncode
from .session import DEFAULT_FEATURE_CACHE_BYTES, RenderSession
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


#: the kinds of loaded model (:attr:`SourceDescriptor.kind`)
IMPLICIT, FIXED_SCALE = "implicit", "fixed-scale"
#: the family of a file that makes no images (a discriminator, an encoder alone)
NO_IMAGES_FAMILY = "other"


@dataclass(frozen=True)
class SourceDescriptor:
    """What a model renders, the same for every kind: ``kind`` (:data:`IMPLICIT`: a
    LIIF-family decoder, any scale; :data:`FIXED_SCALE`: another project's model at its one
    ``native_scale``, resampled to the output), ``name`` (the file's stem), ``path``,
    ``display_name`` (e.g. ``LIIF (EDSR-baseline)``, ``RealESRGAN x4``), ``architecture``,
    ``family`` (an implicit model's training family from its card, ``liif``, ``cisrgan``...; a
    fixed-scale model's is its kind), ``renders`` (False: a checkpoint that is no image decoder,
    e.g. a discriminator) and ``facts``: what the kind records about the model in reports (an
    implicit model's spec and whether it is the official LIIF; a fixed-scale model's
    architecture, scale, purpose, tags, parameter count and ``runner``: ``spandrel`` or
    ``native``). Of a file described without loading it (:func:`describe_file`) the facts that
    need the weights are absent."""

    kind: str
    name: str
    path: Optional[Path]
    display_name: str
    architecture: str
    family: str
    native_scale: Optional[int] = None      # None: renders any scale itself
    renders: bool = True
    facts: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Kind:
    loaded: type                                            # what load_model returns for it
    info: type                                              # what describe_any tells of its file
    describe: Callable[[Any], SourceDescriptor]             # a loaded model
    describe_file: Callable[[Path, Any], SourceDescriptor]  # a file, from its info (no weights)
    open: Callable[..., RenderSource]


def _implicit(name: str, path: Optional[Path], d: Optional[ModelDescriptor], spec: Dict[str, Any],
              facts: Dict[str, Any]) -> SourceDescriptor:
    if d is None:
        return SourceDescriptor(IMPLICIT, name, path, "not an image decoder", str(spec.get("name", "?")),
                                NO_IMAGES_FAMILY, renders=False, facts=facts)
    return SourceDescriptor(IMPLICIT, name, path, d.display_name, d.architecture, d.family, facts=facts)


def _describe_implicit(lm: LoadedModel) -> SourceDescriptor:
    return _implicit(lm.name, lm.path, lm.descriptor, lm.spec, {"spec": lm.spec, "official_liif": lm.official})


def _describe_implicit_file(path: Path, d: Optional[ModelDescriptor]) -> SourceDescriptor:
    return _implicit(path.stem, path, d, {}, {})


def _open_implicit(lm: LoadedModel, image, device, precision: str, cache_bytes: int, chunk_size: Optional[int],
                   whole: bool) -> RenderSource:
    if whole:
        return RenderSession.whole_image(lm.model, image, device, precision, chunk_size=chunk_size)
    return RenderSession(lm.model, image, device=device, precision=precision, feature_cache_bytes=cache_bytes,
                         chunk_size=chunk_size)


def _fixed(name: str, path: Optional[Path], info: FixedScaleInfo, facts: Dict[str, Any]) -> SourceDescriptor:
    return SourceDescriptor(FIXED_SCALE, name, path, info.display_name, info.architecture, FIXED_SCALE, info.scale,
                            facts={"architecture": info.architecture, "scale": info.scale, "purpose": info.purpose,
                                   "tags": list(info.tags), **facts})


def _describe_fixed(fm: FixedScaleModel) -> SourceDescriptor:
    return _fixed(fm.name, fm.path, fm.info, {"runner": fm.runner,
                                               "parameters": sum(p.numel() for p in fm.descriptor.model.parameters())})


def _describe_fixed_file(path: Path, info: FixedScaleInfo) -> SourceDescriptor:
    return _fixed(path.stem, path, info, {})


def _open_fixed(fm: FixedScaleModel, image, device, precision: str, cache_bytes: int, chunk_size: Optional[int],
                whole: bool) -> RenderSource:
    fm.descriptor.to(torch.device(device))      # runs at its native scale in float32, in overlapping tiles
    return FixedScaleSession(fm, image, device=device, cache_bytes=cache_bytes)


#: every kind of model, once: a new kind is one row here
_KINDS: Tuple[_Kind, ...] = (
    _Kind(LoadedModel, ModelDescriptor, _describe_implicit, _describe_implicit_file, _open_implicit),
    _Kind(FixedScaleModel, FixedScaleInfo, _describe_fixed, _describe_fixed_file, _open_fixed),
)


def _kind_of(obj) -> _Kind:
    """The row of a loaded model (or of what :func:`describe_any` says of a file)."""
    for kind in _KINDS:
        if isinstance(obj, (kind.loaded, kind.info)):
            return kind
    raise TypeError(f"not a loaded model: {type(obj).__name__}")


def describe_source(loaded, *, must_render: bool = False) -> SourceDescriptor:
    """The :class:`SourceDescriptor` of a loaded model of any kind; ``must_render``: refuse
    (:class:`~cisr_zoom.core.errors.CheckpointError`, one line) one that makes no images, e.g.
    an encoder or a discriminator alone (the words ``cisr upscale`` and ``cisr info`` give)."""
    return _checked(_kind_of(loaded).describe(loaded), must_render)


def describe_file(path) -> SourceDescriptor:
    """The :class:`SourceDescriptor` of a model file of any kind without loading its weights
    (:func:`~cisr_zoom.core.fixed_scale.describe_any`); raises
    :class:`~cisr_zoom.core.errors.CheckpointError` (one line) when it is no model."""
    p = Path(path)
    d, fixed = describe_any(p)
    info = fixed if fixed is not None else d
    kind = _kind_of(info) if info is not None else _KINDS[0]     # None: a checkpoint that makes no images
    return kind.describe_file(p, info)


def _checked(desc: SourceDescriptor, must_render: bool) -> SourceDescriptor:
    if must_render and not desc.renders:
        raise CheckpointError(f"model '{desc.name}' is not an image decoder (LIIF-style); cannot upscale with it")
    return desc


def open_source(loaded, image, device="cpu", precision: str = "float32", *,
                cache_bytes: int = DEFAULT_FEATURE_CACHE_BYTES,
                chunk_size: Optional[int] = None, whole: bool = False) -> RenderSource:
    """``loaded`` (any kind) rendering ``image`` (a :class:`~cisr_zoom.core.imageio.LoadedImage`
    or ``(h, w, 3)`` float RGB) on ``device``. ``precision``: an implicit model's (a fixed-scale
    one runs in float32); ``cache_bytes`` bounds its cached features (or tiles); ``chunk_size``:
    output pixels per decoder chunk; ``whole``: encode the image in one piece
    (:meth:`~.session.RenderSession.whole_image`, evaluation: features then equal whole-image
    encoding exactly; a fixed-scale model's tiles overlap by a halo either way). Refuses a model
    that makes no images, as :func:`describe_source` with ``must_render``."""
    describe_source(loaded, must_render=True)
    return _kind_of(loaded).open(loaded, image, device, precision, int(cache_bytes), chunk_size, whole)


def max_feature_cache_bytes(total: Optional[int] = None) -> int:
    """The largest feature budget a source gets: half the machine's physical memory (``total``
    bytes; read from the OS when None, unbounded where it does not say), so a large
    ``feature_cache_mb`` setting cannot make the encode-ahead push the machine into swap."""
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            return 2 ** 62
    return max(16 * 2 ** 20, int(total) // 2)


class SessionPool:
    """The render sources of the current image, made on demand and kept until the image,
    device or set of models changes. Render thread only.

    ``epoch`` numbers the images opened; a source asked for with another epoch than the
    current image's raises :class:`RenderCancelled` (the image changed meanwhile).

    A model renders through its bundled LM twin when one within the bound exists
    (:func:`cisr_zoom.core.twins.render_path`), unless :attr:`exact_decoder` is set (change it
    through :meth:`set_device`, which rebuilds the sources): the one place that chooses.
    """

    def __init__(self, feature_cache_bytes: int = DEFAULT_FEATURE_CACHE_BYTES):
        #: each source's feature budget (bytes), at most :func:`max_feature_cache_bytes`
        self.feature_cache_bytes = min(int(feature_cache_bytes), max_feature_cache_bytes())
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
            s = open_source(loaded, self.image, device, precision, cache_bytes=self.feature_cache_bytes)
        self._sources[key] = s
        return s
