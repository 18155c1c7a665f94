"""A fixed-scale SR model (:class:`~cisr_zoom.core.fixed_scale.FixedScaleModel`, through spandrel)
as a :class:`~.sources.RenderSource`: any region at any output size, like the INN sessions.

The model runs at its native scale ``s`` on LR tiles (``tile x tile`` pixels, cached by bytes,
LRU; :class:`~.features.FeatureTiles` stores the ``s x s`` output pixels of each LR pixel as
``3 s^2`` values). Each box of tiles is computed from a crop grown by :data:`HALO` LR pixels on
every side (clipped at the true image border), and only its inner part is kept, so seams stay
below what a model with a receptive radius under the halo can show (exact for such models up to
float rounding; deep GAN models reach further in principle, in practice the halo's share is
invisible). A render takes the SR pixels under the region plus one LR pixel around and resamples
them to the output grid: bicubic where the output is at least as dense as the native scale,
after an antialiased reduction where it is sparser (a zoomed-out view).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..coords import lr_pixels_under, make_coord, sub_region
from .features import FeatureTiles
from .stopping import StopFn, Stoppable, stop_if_asked

#: LR pixels of context on every side of a computed box
HALO = 16
#: LR tile side of the cache, and the largest box computed at once (LR pixels a side)
TILE = 64
MAX_BOX = 192
#: output pixels per resampling chunk
CHUNK_PIXELS = 512 * 512


class FixedScaleSession(Stoppable):
    """One image and one fixed-scale model on a device (a :class:`~.sources.RenderSource`)."""

    precision = "float32"

    def __init__(self, fixed, image, device="cpu", cache_bytes: int = 512 * 2**20,
                 tile: int = TILE, halo: int = HALO, max_box: int = MAX_BOX):
        super().__init__()
        rgb = getattr(image, "rgb", image)
        self.alpha: Optional[np.ndarray] = getattr(image, "alpha", None)
        self.lr_size: Tuple[int, int] = (int(rgb.shape[0]), int(rgb.shape[1]))
        self.device = torch.device(device)
        self.fixed = fixed
        self.scale = int(fixed.scale)
        self.halo = int(halo)
        self._image = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
        self._alpha = None if self.alpha is None else \
            torch.from_numpy(np.ascontiguousarray(self.alpha, dtype=np.float32))[None, None]
        s = self.scale
        self.tiles = FeatureTiles(self._compute, self.lr_size, tile=tile, budget_bytes=cache_bytes,
                                  max_box=max_box, bytes_per_pixel=3 * s * s * 4)

    # -- the model ---------------------------------------------------------------------------
    def _compute(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """SR pixels of LR pixels ``[y0,y1) x [x0,x1)``: ``(y1-y0, x1-x0, 3 s^2)`` on the CPU."""
        self._check_stop()
        h, w = self.lr_size
        s = self.scale
        cy0, cx0 = max(0, y0 - self.halo), max(0, x0 - self.halo)
        cy1, cx1 = min(h, y1 + self.halo), min(w, x1 + self.halo)
        crop = self._image[:, :, cy0:cy1, cx0:cx1].to(self.device)
        sr = self.fixed.descriptor(crop)        # (1, 3, (cy1-cy0) s, (cx1-cx0) s), clamped to [0, 1]
        R, C = y1 - y0, x1 - x0
        oy, ox = (y0 - cy0) * s, (x0 - cx0) * s
        t = sr[0, :, oy:oy + R * s, ox:ox + C * s].float().cpu()
        return t.reshape(3, R, s, C, s).permute(1, 3, 0, 2, 4).reshape(R, C, 3 * s * s).contiguous()

    def lr_range(self, region) -> Tuple[int, int, int, int]:
        """LR pixels ``(r0, r1, c0, c1)`` under ``region`` plus one on every side (resampling)."""
        return lr_pixels_under(region, self.lr_size)

    def _sr_window(self, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
        feat, a0, b0 = self.tiles.window(r0, r1, c0, c1)
        feat = feat[r0 - a0:r1 - a0, c0 - b0:c1 - b0]
        R, C = r1 - r0, c1 - c0
        s = self.scale
        return feat.reshape(R, C, 3, s, s).permute(2, 0, 3, 1, 4).reshape(1, 3, R * s, C * s)

    # -- the RenderSource protocol -----------------------------------------------------------
    @property
    def encode_seconds(self) -> float:
        """Seconds spent running the model so far."""
        return self.tiles.encode_seconds

    @torch.no_grad()
    def render(self, region, out_size, should_stop: StopFn = None) -> np.ndarray:
        H, W = int(out_size[0]), int(out_size[1])
        y0, x0, y1, x1 = (float(v) for v in region)
        h, w = self.lr_size
        with self._stopping(should_stop):
            r0, r1, c0, c1 = self.lr_range(region)
            self.tiles.prefetch(r0, r1, c0, c1)
            sr = self._sr_window(r0, r1, c0, c1)
        # the window spans [-1 + 2 r0/h, -1 + 2 r1/h] x [...] of the image; output density in
        # window pixels: reduce first (antialiased) where the output is sparser than native
        win = (-1 + 2 * r0 / h, -1 + 2 * c0 / w, -1 + 2 * r1 / h, -1 + 2 * c1 / w)
        dens_y = H / max(1e-9, (y1 - y0) / 2 * h * self.scale)
        dens_x = W / max(1e-9, (x1 - x0) / 2 * w * self.scale)
        if dens_y < 1 or dens_x < 1:
            size = (max(1, round(sr.shape[2] * min(1.0, dens_y))), max(1, round(sr.shape[3] * min(1.0, dens_x))))
            sr = F.interpolate(sr, size=size, mode="bilinear", antialias=True, align_corners=False)
        out = np.empty((H, W, 3), dtype=np.float32)
        rows = max(1, CHUNK_PIXELS // max(W, 1))
        for a in range(0, H, rows):
            stop_if_asked(should_stop)
            b = min(H, a + rows)
            sub = sub_region((y0, x0, y1, x1), (H, W), a, 0, b - a, W)
            grid = make_coord((b - a, W), sub, flatten=False)          # (y, x) image coordinates
            gy = (grid[..., 0] - win[0]) / (win[2] - win[0]) * 2 - 1
            gx = (grid[..., 1] - win[1]) / (win[3] - win[1]) * 2 - 1
            g = torch.stack([gx, gy], dim=-1)[None].to(sr.dtype)
            res = F.grid_sample(sr, g, mode="bicubic", padding_mode="border", align_corners=False)
            out[a:b] = res[0].permute(1, 2, 0).clamp_(0, 1).numpy()
        return out

    @torch.no_grad()
    def render_alpha(self, region, out_size) -> Optional[np.ndarray]:
        if self._alpha is None:
            return None
        grid = make_coord((int(out_size[0]), int(out_size[1])), region, flatten=False).flip(-1)[None]
        a = F.grid_sample(self._alpha, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return a[0, 0].clamp_(0, 1).numpy()

    def prefetch(self, region, should_stop: StopFn = None, max_fraction: float = 0.5) -> bool:
        """Run the model on the tiles under ``region`` unless they would fill more than
        ``max_fraction`` of the cache. True if done."""
        with self._stopping(should_stop):
            return self.tiles.prefetch(*self.lr_range(region), max_fraction)

    def encode_step(self, region, within=None, should_stop: StopFn = None) -> bool:
        """Run the model on one box of the tiles a render of ``region`` lacks (grown within
        ``within``); False when nothing was missing."""
        from .session import STEP_ENCODE_BOX
        r0, r1, c0, c1 = self.lr_range(region)
        wr = self.lr_range(within) if within is not None else (r0, r1, c0, c1)
        with self._stopping(should_stop), torch.no_grad():
            return self.tiles.encode_box(r0, r1, c0, c1, wr, max_box=STEP_ENCODE_BOX)

    def uncached_pixels(self, region) -> int:
        """LR pixels the model would still have to run on for a render of ``region``."""
        return self.tiles.missing_pixels(*self.lr_range(region))

    def encode_ahead(self, focus=None, should_stop: StopFn = None) -> bool:
        """Run the model on one box of the tiles nearest ``focus`` (``(y, x)`` input pixels)
        not cached yet, within the cache budget; False when nothing is left worth running."""
        from .session import STEP_ENCODE_BOX
        with self._stopping(should_stop), torch.no_grad():
            if focus is not None:
                self.tiles.focus = (float(focus[0]), float(focus[1]))
            return self.tiles.ahead_step(max_box=STEP_ENCODE_BOX)

    @property
    def compute_label(self) -> str:
        return self.precision
