"""A render session: one (image, model, device, precision), rendering any region at any size.

Coordinates follow :mod:`cisr_zoom.core.coords`: a region ``(y0, x0, y1, x1)`` is a rectangle
of the continuous image ``[-1, 1]^2`` (edges); output pixel ``(i, j)`` of an ``H x W`` render is
the model's value at the centre of that pixel of the region, with cell
``((y1 - y0) / H, (x1 - x0) / W)``. Rendering a region in pixel-aligned pieces gives the same
pixels as rendering it at once (within float rounding).

The model is any :class:`~cisr_zoom.core.models.decoder.ImplicitDecoder`: its precomputed
per-LR-pixel values are computed lazily per LR tile (with the halo its descriptor states) and
cached in bytes (as float16 unless float32 was asked for, see :func:`feature_storage_dtype`),
see :mod:`.features`; its grid decoder renders blocks of at most
``chunk_size`` output pixels from them. ``should_stop()`` is checked between chunks and between the
encoder's layers; when it returns True the call raises :class:`RenderCancelled`. An
out-of-memory error on a GPU halves the chunk size (or the encoder box) and retries.
"""

from __future__ import annotations

import copy
import math
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..coords import Region, lr_pixels_under, make_cell, make_coord, output_size, pixel_centers
from ..devices import pick_device
from ..errors import is_out_of_memory
from ..models.liif import encode_image
from ..precision import resolve_precision
from .encoder import EncoderPlan, apply_threads, choose_encoder, planned_encoder
from .features import FeatureTiles
from .stopping import RenderCancelled, StopFn, Stoppable

__all__ = ["RenderCancelled", "RenderSession", "StopFn", "STEP_ENCODE_BOX", "DEFAULT_FEATURE_CACHE_BYTES",
           "feature_storage_dtype"]

#: output pixels per INN chunk, by device type (a CUDA OOM halves it for the session)
DEFAULT_CHUNK = {"cpu": 8192, "cuda": 262144, "mps": 65536}
MIN_CHUNK = 256
#: side (LR pixels) of the encoder boxes of :meth:`RenderSession.encode_step` with a float32
#: encoder: one bounded step of the render thread (3x3 feature tiles; 144 + 2 halos of 34 = 212
#: input pixels a side, about a second of EDSR-baseline on one CPU core), against 192 for
#: one-go prefetches; a faster encoder takes larger steps (:attr:`.encoder.EncoderPlan.step_box`)
STEP_ENCODE_BOX = 144


#: default bound of a session's feature cache (bytes): the viewer's ``feature_cache_mb`` default
DEFAULT_FEATURE_CACHE_BYTES = 1024 * 2**20


def feature_storage_dtype(precision: str) -> torch.dtype:
    """How a session asked for ``precision`` keeps its cached features: float16 (half the
    memory of float32, so twice the image area within the budget; its rounding, about 5e-4
    relative, changes the output by far less than an 8-bit level, bounded in
    ``tests/core/render/test_features.py``), except float32 for a session asked for
    ``float32`` (exact: bit-for-bit what the model computes)."""
    return torch.float32 if str(precision).lower() == "float32" else torch.float16


def _stored(values: torch.Tensor, dtype: torch.dtype, fallback: torch.dtype) -> torch.Tensor:
    """``values`` as ``dtype`` (contiguous), or as ``fallback`` when ``dtype`` is float16 and a
    value lies beyond its range (it rounds to infinity there; the tile is then kept in the
    decoder's dtype instead)."""
    stored = values.to(dtype).contiguous()
    if dtype == torch.float16 and bool(torch.isinf(stored).any()) and not bool(torch.isinf(values).any()):
        return values.to(fallback).contiguous()
    return stored


def _free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def _as_rgb_alpha(image) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    rgb = getattr(image, "rgb", image)
    alpha = getattr(image, "alpha", None)
    rgb = np.asarray(rgb)
    if rgb.ndim == 3 and rgb.shape[2] == 4 and alpha is None:
        rgb, alpha = rgb[..., :3], rgb[..., 3]
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"image must be (h, w, 3), got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float32) / 255.0
    if alpha is not None:
        alpha = np.asarray(alpha)
        alpha = (alpha.astype(np.float32) / 255.0) if alpha.dtype == np.uint8 else alpha.astype(np.float32)
        if alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha shape {alpha.shape} does not match image {rgb.shape[:2]}")
    return rgb.astype(np.float32, copy=False), alpha




def _check_region(region) -> Region:
    y0, x0, y1, x1 = (float(v) for v in region)
    if not (y1 > y0 and x1 > x0) or not all(math.isfinite(v) for v in (y0, x0, y1, x1)):
        raise ValueError(f"region must be (y0, x0, y1, x1) with y1 > y0 and x1 > x0, got {region!r}")
    return y0, x0, y1, x1


def split_blocks(H: int, W: int, chunk: int) -> List[Tuple[int, int, int, int]]:
    """Cover ``H x W`` output pixels with blocks ``(r0, r1, c0, c1)`` of at most ``chunk``
    pixels, of balanced sizes and as square as possible (compact LR windows), row-major."""
    chunk = max(1, int(chunk))
    side = max(1, int(math.sqrt(chunk)))
    if H * W <= chunk:
        bh, bw = H, W
    elif H <= side:
        bh, bw = H, max(1, chunk // H)
    elif W <= side:
        bw, bh = W, max(1, chunk // W)
    else:
        bh = bw = side
    ny, nx = math.ceil(H / bh), math.ceil(W / bw)
    bh, bw = math.ceil(H / ny), math.ceil(W / nx)  # balance: no thin leftover blocks
    return [(r, min(H, r + bh), c, min(W, c + bw)) for r in range(0, H, bh) for c in range(0, W, bw)]


class RenderSession(Stoppable):
    """See the module docstring. ``model``: an :class:`~cisr_zoom.core.models.decoder.ImplicitDecoder`
    (a copy is moved to ``device``, in eval mode); ``image``: ``(h, w, 3)`` float32 in ``[0, 1]``
    or a :class:`~cisr_zoom.core.imageio.LoadedImage` (its alpha, if any, is kept for
    :meth:`render_alpha`). ``device``: a torch device or ``"auto"``. ``precision``: one of the
    model's precisions (``float32``, ``bfloat16``, ``float16`` (GPU only), ``int8`` (CPU only))
    or ``auto`` (see :func:`cisr_zoom.core.precision.resolve_precision`). ``feature_cache_bytes``
    bounds the tile cache; ``lr_tile`` is its tile side in LR pixels; ``chunk_size`` is output
    pixels per decoder chunk (default by device). ``feature_dtype``: how cached features are
    stored (default :func:`feature_storage_dtype`: float16, float32 when ``float32`` is asked
    for); they are converted to the decoder's dtype where a block uses them."""

    def __init__(self, model, image, device="cpu", precision: str = "float32",
                 feature_cache_bytes: int = DEFAULT_FEATURE_CACHE_BYTES, lr_tile: int = 48,
                 chunk_size: Optional[int] = None, max_encode_box: int = 192,
                 feature_dtype: Optional[torch.dtype] = None):
        super().__init__()
        self.device = pick_device(device) if isinstance(device, str) and device.lower() == "auto" \
            else torch.device(device)
        self.descriptor = model.describe()
        self.precision = resolve_precision(precision, self.device, self.descriptor.precisions,
                                           cpu_reduced=self.descriptor.auto_cpu_reduced)
        rgb, alpha = _as_rgb_alpha(image)
        self.lr_size: Tuple[int, int] = (int(rgb.shape[0]), int(rgb.shape[1]))
        self.alpha: Optional[np.ndarray] = alpha
        # channels-first copy on the CPU: encoder crops and image-skip samples come from it
        self._image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
        self._alpha_t = torch.from_numpy(np.ascontiguousarray(alpha))[None, None] if alpha is not None else None

        self.model = copy.deepcopy(model).float().eval().to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        #: how the encoder runs here (chosen per CPU kind, see :mod:`.encoder`)
        threads = apply_threads() if self.device.type == "cpu" else 0
        self.encoder_plan: EncoderPlan = choose_encoder(self.device, self.precision, threads=threads)
        self._encoder = planned_encoder(self.model, self.encoder_plan)
        if self._encoder is None:
            self.encoder_plan = EncoderPlan()
        self.fast_path = self.descriptor.fast_path
        self.chunk_size = int(chunk_size or DEFAULT_CHUNK.get(self.device.type, 4096))
        self._install_stop_hooks()

        #: input pixels added around every encoded box; None: the image is encoded whole
        self.halo: Optional[int] = self.descriptor.receptive_radius
        h, w = self.lr_size
        self.decoder = self.model.grid_decoder(self._image.unsqueeze(0), self.device, self.precision)
        #: dtype of the cached features (converted to ``decoder.dtype`` when used)
        self.feature_dtype: torch.dtype = feature_dtype or feature_storage_dtype(precision)
        per_pixel = self.decoder.channels * torch.empty((), dtype=self.feature_dtype).element_size()
        tile = lr_tile if self.halo is not None else max(h, w)
        box = max_encode_box if self.halo is not None else max(h, w)
        self.tiles = FeatureTiles(self._compute_precomputed, self.lr_size, tile=tile,
                                  budget_bytes=feature_cache_bytes, max_box=box, bytes_per_pixel=per_pixel)

    # -- cancellation ------------------------------------------------------------------------
    def _install_stop_hooks(self) -> None:
        def hook(module, inputs):
            self._check_stop()
        modules = list(self.model.modules()) + (list(self._encoder.modules()) if self._encoder is not None else [])
        for m in modules:
            if next(m.children(), None) is None:  # leaf layers: conv, relu, ...
                m.register_forward_pre_hook(hook)

    # -- features ----------------------------------------------------------------------------
    def _encode_crop(self, y0: int, y1: int, x0: int, x1: int) -> Tuple[torch.Tensor, int, int]:
        """Encoder features for LR pixels ``[y0,y1) x [x0,x1)`` plus halo: ``(feat, oy, ox)``."""
        h, w = self.lr_size
        halo = self.halo if self.halo is not None else max(h, w)
        cy0, cx0 = max(0, y0 - halo), max(0, x0 - halo)
        cy1, cx1 = min(h, y1 + halo), min(w, x1 + halo)
        crop = self._image[:, cy0:cy1, cx0:cx1].unsqueeze(0).to(self.device)
        feat = (self.model.encode(crop) if self._encoder is None else encode_image(self._encoder, crop)).feat
        return feat, y0 - cy0, x0 - cx0

    def _compute_precomputed(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """Precomputed values ``(y1-y0, x1-x0, D)`` in :attr:`feature_dtype` (in float32
        where a value would overflow float16); OOM: split and retry."""
        try:
            with torch.no_grad():
                feat, oy, ox = self._encode_crop(y0, y1, x0, x1)
                pre = self.decoder.precompute(feat)
                del feat
                out = pre[0, :, oy:oy + (y1 - y0), ox:ox + (x1 - x0)].permute(1, 2, 0)
                return _stored(out, self.feature_dtype, self.decoder.dtype)
        except RenderCancelled:
            raise
        except Exception as e:
            if not is_out_of_memory(e) or max(y1 - y0, x1 - x0) <= 8:
                raise
        _free_device_memory(self.device)
        self.tiles.max_box = max(self.tiles.tile, self.tiles.max_box // 2)
        if y1 - y0 >= x1 - x0:
            m = (y0 + y1) // 2
            return torch.cat([self._compute_precomputed(y0, m, x0, x1), self._compute_precomputed(m, y1, x0, x1)], 0)
        m = (x0 + x1) // 2
        return torch.cat([self._compute_precomputed(y0, y1, x0, m), self._compute_precomputed(y0, y1, m, x1)], 1)

    def lr_range(self, region) -> Tuple[int, int, int, int]:
        """LR pixels ``(r0, r1, c0, c1)`` whose features a render of ``region`` may use
        (the pixels under it plus one on every side, for the local ensemble)."""
        return lr_pixels_under(_check_region(region), self.lr_size)

    def prefetch(self, region, should_stop: StopFn = None, max_fraction: float = 0.5) -> bool:
        """Encode the features under ``region`` in large boxes (fewer halos than tile by tile),
        unless they would fill more than ``max_fraction`` of the cache. True if done."""
        r0, r1, c0, c1 = self.lr_range(region)
        with self._stopping(should_stop):
            return self.tiles.prefetch(r0, r1, c0, c1, max_fraction)

    def uncached_pixels(self, region) -> int:
        """LR pixels whose features a render of ``region`` would still have to encode."""
        return self.tiles.missing_pixels(*self.lr_range(region))

    @property
    def encode_seconds(self) -> float:
        """Seconds spent in the encoder so far (all calls; for instrumentation)."""
        return self.tiles.encode_seconds

    @property
    def encoder_module(self) -> torch.nn.Module:
        """The encoder module the session actually runs (the planned copy, or the model's own)."""
        return self._encoder if self._encoder is not None else self.model.encoder

    @property
    def step_box(self) -> int:
        """Side (LR pixels) of the encoder box of one bounded step: :data:`STEP_ENCODE_BOX`, or
        the encoder plan's (larger for a faster encoder)."""
        return self.encoder_plan.step_box if self.encoder_plan.kind != "default" else STEP_ENCODE_BOX

    @property
    def compute_label(self) -> str:
        """The precision, the encoder's plan and how cached features are kept, in words (the
        status bar, the app bench)."""
        kept = "float16" if self.feature_dtype == torch.float16 else str(self.feature_dtype).replace("torch.", "")
        return f"{self.precision}, {self.encoder_plan.label}, features {kept}"

    def encode_step(self, region, within=None, should_stop: StopFn = None) -> bool:
        """Encode one box of the features a render of ``region`` needs and lacks, grown
        within the region ``within`` (default ``region``): at most :attr:`step_box` LR
        pixels a side,
        so one call is a bounded piece of work. False when nothing was missing."""
        r0, r1, c0, c1 = self.lr_range(region)
        w = self.lr_range(within) if within is not None else (r0, r1, c0, c1)
        with self._stopping(should_stop), torch.no_grad():
            self._check_stop()
            self.tiles.focus = ((w[0] + w[1]) / 2.0, (w[2] + w[3]) / 2.0)   # the view: evict far from it
            return self.tiles.encode_box(r0, r1, c0, c1, w, max_box=self.step_box)

    def encode_ahead(self, focus: Optional[Tuple[float, float]] = None, should_stop: StopFn = None) -> bool:
        """Encode ahead of need: one bounded box of the missing features nearest ``focus``
        (``(y, x)`` in input pixels; default: where the views last rendered, else the image
        centre), within the feature budget (farthest tiles evicted first). False, with no work
        done, when there is nothing left worth encoding (see :meth:`.features.FeatureTiles.ahead_step`)."""
        with self._stopping(should_stop), torch.no_grad():
            self._check_stop()
            if focus is not None:
                self.tiles.focus = (float(focus[0]), float(focus[1]))
            return self.tiles.ahead_step(max_box=self.step_box)

    # -- rendering ---------------------------------------------------------------------------
    @classmethod
    def whole_image(cls, model, image, device="cpu", precision: str = "float32",
                    chunk_size: Optional[int] = None) -> "RenderSession":
        """A session that encodes ``image`` in one piece (one encoder tile over all of it, the
        cache unbounded), so its features equal whole-image encoding exactly: evaluation and
        validation render through it; its features are kept in float32 whatever the precision."""
        side = max(int(v) for v in np.shape(getattr(image, "rgb", image))[:2])
        return cls(model, image, device=device, precision=precision, feature_cache_bytes=2**62, lr_tile=side,
                   max_encode_box=side, chunk_size=chunk_size, feature_dtype=torch.float32)

    def render(self, region, out_size, should_stop: StopFn = None) -> np.ndarray:
        """``(H, W, 3)`` float32 in ``[0, 1]`` for ``region`` at ``out_size = (H, W)``."""
        H, W = output_size(out_size)
        y0, x0, y1, x1 = _check_region(region)
        out = np.empty((H, W, 3), dtype=np.float32)
        with self._stopping(should_stop), torch.no_grad():
            h, w = self.lr_size
            rows = self.decoder.plan_axis(pixel_centers(H, y0, y1, dtype=torch.float32), h)
            cols = self.decoder.plan_axis(pixel_centers(W, x0, x1, dtype=torch.float32), w)
            cell = make_cell((H, W), (y0, x0, y1, x1), dtype=torch.float32)
            # encode everything this call needs in as few boxes (halos) as possible, when it
            # fits the cache; otherwise blocks fetch their own features as they go
            self.tiles.prefetch(rows.lr_start, rows.lr_stop, cols.lr_start, cols.lr_stop)
            self._render_area(out, 0, H, 0, W, rows, cols, cell)
        np.clip(out, 0.0, 1.0, out=out)
        return out

    def _render_area(self, out, a, b, c, d, rows, cols, cell) -> None:
        for r0, r1, c0, c1 in split_blocks(b - a, d - c, self.chunk_size):
            r0, r1, c0, c1 = r0 + a, r1 + a, c0 + c, c1 + c
            if (r1 - r0) * (c1 - c0) > self.chunk_size:   # the chunk shrank (OOM) since the split
                self._render_area(out, r0, r1, c0, c1, rows, cols, cell)
                continue
            self._check_stop()
            try:
                block = self._render_block(rows.part(r0, r1), cols.part(c0, c1), cell)
            except RenderCancelled:
                raise
            except Exception as e:
                if not is_out_of_memory(e) or self.chunk_size <= MIN_CHUNK:
                    raise
                _free_device_memory(self.device)
                self.chunk_size = max(MIN_CHUNK, self.chunk_size // 2)
                self._render_area(out, r0, r1, c0, c1, rows, cols, cell)
                continue
            out[r0:r1, c0:c1] = block

    def _render_block(self, rows, cols, cell) -> np.ndarray:
        window, wr0, wc0 = self.tiles.window(rows.lr_start, rows.lr_stop, cols.lr_start, cols.lr_stop)
        if window.dtype != self.decoder.dtype:       # stored in float16: the decoder's dtype here
            window = window.to(self.decoder.dtype)
        self._check_stop()
        rgb = self.decoder.decode(window, wr0, wc0, rows, cols, cell)
        return rgb.to("cpu", torch.float32).numpy()

    def render_reference(self, region, out_size, chunk_size: int = 30000) -> np.ndarray:
        """The straightforward method, for checks and benchmarks: encode the *whole* image at
        once and run the model's ``query`` on every output pixel centre in chunks. ``(H, W, 3)``
        float32 in ``[0, 1]``."""
        H, W = output_size(out_size)
        region = _check_region(region)
        with self._lock, torch.no_grad():
            feats = self.model.encode(self._image.unsqueeze(0).to(self.device))
            coords = make_coord((H, W), region, device=self.device).unsqueeze(0)
            cells = make_cell((H, W), region, n=H * W, device=self.device).unsqueeze(0)
            out = self.model.query(feats, coords, cells, chunk_size=chunk_size)[0].view(H, W, 3)
            return out.clamp(0, 1).cpu().numpy()

    def render_alpha(self, region, out_size) -> Optional[np.ndarray]:
        """Alpha ``(H, W)`` float32 in ``[0, 1]`` sampled bilinearly at the same pixel centres
        (edges replicated), or None when the image has no alpha."""
        if self._alpha_t is None:
            return None
        H, W = output_size(out_size)
        y0, x0, y1, x1 = _check_region(region)
        ys = pixel_centers(H, y0, y1, dtype=torch.float32)
        xs = pixel_centers(W, x0, x1, dtype=torch.float32)
        out = np.empty((H, W), dtype=np.float32)
        rows = max(1, (1 << 20) // W)
        for r in range(0, H, rows):
            grid = torch.stack(torch.meshgrid(xs, ys[r:r + rows], indexing="xy"), dim=-1).unsqueeze(0)
            out[r:r + rows] = F.grid_sample(self._alpha_t, grid, mode="bilinear", padding_mode="border",
                                            align_corners=False)[0, 0].numpy()
        np.clip(out, 0.0, 1.0, out=out)
        return out
