"""The "bicubic" comparison source: classical bicubic interpolation of any region.

It has the same ``render`` interface as :class:`cisr_zoom.core.render.session.RenderSession`
so the render worker, the views and export treat it like a model. Coordinates follow
``core.coords``: ``region = (y0, x0, y1, x1)`` in ``[-1, 1]`` (edges), output pixel centres
at ``y0 + (y1 - y0)(2i + 1)/(2H)``, which is exactly ``grid_sample``'s ``align_corners=False``
convention. Runs on the render worker thread only.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from cisr_zoom.core.coords import make_coord

#: Output pixels per chunk (bounds memory; cancellation is checked between chunks).
CHUNK_PIXELS = 512 * 512


class BicubicSession:
    name = "bicubic"

    def __init__(self, image, device="cpu"):
        rgb = getattr(image, "rgb", image)
        self.alpha = getattr(image, "alpha", None)
        self.lr_size: Tuple[int, int] = (int(rgb.shape[0]), int(rgb.shape[1]))
        self.device = torch.device(device)
        self._image = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].to(self.device)
        self._alpha = None if self.alpha is None else \
            torch.from_numpy(np.ascontiguousarray(self.alpha, dtype=np.float32))[None, None].to(self.device)

    @torch.no_grad()
    def render(self, region, out_size, should_stop: Optional[Callable[[], bool]] = None) -> np.ndarray:
        """``(H, W, 3)`` float32 in ``[0, 1]`` for ``region`` at ``out_size = (H, W)``."""
        from cisr_zoom.core.render.session import RenderCancelled

        H, W = int(out_size[0]), int(out_size[1])
        out = np.empty((H, W, 3), dtype=np.float32)
        rows = max(1, CHUNK_PIXELS // max(W, 1))
        y0, x0, y1, x1 = region
        for r0 in range(0, H, rows):
            if should_stop is not None and should_stop():
                raise RenderCancelled()
            r1 = min(H, r0 + rows)
            sub = (y0 + (y1 - y0) * r0 / H, x0, y0 + (y1 - y0) * r1 / H, x1)
            grid = make_coord((r1 - r0, W), sub, flatten=False, device=self.device).flip(-1)[None]  # (x, y)
            res = F.grid_sample(self._image, grid, mode="bicubic", padding_mode="border", align_corners=False)
            out[r0:r1] = res[0].permute(1, 2, 0).clamp_(0, 1).cpu().numpy()
        return out

    @torch.no_grad()
    def render_alpha(self, region, out_size) -> Optional[np.ndarray]:
        """Alpha ``(H, W)`` sampled bilinearly at the same pixel centres, or None without alpha."""
        if self._alpha is None:
            return None
        grid = make_coord((int(out_size[0]), int(out_size[1])), region, flatten=False, device=self.device).flip(-1)[None]
        a = F.grid_sample(self._alpha, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return a[0, 0].clamp_(0, 1).cpu().numpy()
