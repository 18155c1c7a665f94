"""EDSR-baseline encoder (Lim et al. 2017) without upsampler, as used by LIIF.

Input ``(B, 3, h, w)`` (normalised by the caller), output ``(B, n_feats, h, w)``.
Parameter names match the official LIIF/EDSR code so their state dicts load directly
(the official ``sub_mean``/``add_mean`` entries are unused there and dropped on import).
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=True)


class ResBlock(nn.Module):
    """conv-ReLU-conv with identity skip; ``body.0`` and ``body.2`` as in EDSR."""

    def __init__(self, n_feats: int, res_scale: float = 1.0):
        super().__init__()
        self.body = nn.Sequential(_conv(n_feats, n_feats), nn.ReLU(inplace=True), _conv(n_feats, n_feats))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mul(self.res_scale) + x


@register("edsr-baseline")
class EDSR(nn.Module):
    """Head conv, ``n_resblocks`` residual blocks, body conv, global skip. Receptive field
    radius: ``2 * n_resblocks + 2`` pixels (one per 3x3 conv)."""

    def __init__(self, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0,
                 no_upsampling: bool = True, n_colors: int = 3, scale: int = 2, rgb_range: float = 1):
        super().__init__()
        if not no_upsampling:
            raise ValueError("edsr-baseline is only supported as a LIIF encoder (no_upsampling=True)")
        self.head = nn.Sequential(_conv(n_colors, n_feats))
        body = [ResBlock(n_feats, res_scale) for _ in range(n_resblocks)]
        body.append(_conv(n_feats, n_feats))
        self.body = nn.Sequential(*body)
        self.out_dim = n_feats
        self.receptive_radius = 2 * n_resblocks + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        return self.body(x) + x
