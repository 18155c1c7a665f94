"""RDN encoder (Zhang et al. 2018) without upsampler, as used by LIIF (config B: D=16, C=8, G=64).

Input ``(B, 3, h, w)`` (normalised by the caller), output ``(B, G0, h, w)``.
Parameter names match the official LIIF code.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register


class RDBConv(nn.Module):
    def __init__(self, cin: int, growth: int, k: int = 3):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, growth, k, padding=(k - 1) // 2), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv(x)), 1)


class RDB(nn.Module):
    """Residual dense block: ``C`` densely connected convs, 1x1 local fusion, skip."""

    def __init__(self, g0: int, growth: int, n_layers: int, k: int = 3):
        super().__init__()
        self.convs = nn.Sequential(*[RDBConv(g0 + c * growth, growth, k) for c in range(n_layers)])
        self.LFF = nn.Conv2d(g0 + n_layers * growth, g0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LFF(self.convs(x)) + x


@register("rdn")
class RDN(nn.Module):
    CONFIGS = {"A": (20, 6, 32), "B": (16, 8, 64)}

    def __init__(self, G0: int = 64, RDNkSize: int = 3, RDNconfig: str = "B", no_upsampling: bool = True,
                 n_colors: int = 3, scale: int = 2):
        super().__init__()
        if not no_upsampling:
            raise ValueError("rdn is only supported as a LIIF encoder (no_upsampling=True)")
        k = RDNkSize
        self.D, C, G = self.CONFIGS[RDNconfig]
        self.SFENet1 = nn.Conv2d(n_colors, G0, k, padding=(k - 1) // 2)
        self.SFENet2 = nn.Conv2d(G0, G0, k, padding=(k - 1) // 2)
        self.RDBs = nn.ModuleList([RDB(G0, G, C, k) for _ in range(self.D)])
        self.GFF = nn.Sequential(nn.Conv2d(self.D * G0, G0, 1), nn.Conv2d(G0, G0, k, padding=(k - 1) // 2))
        self.out_dim = G0
        self.receptive_radius = (k // 2) * (2 + self.D * C + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.SFENet1(x)
        x = self.SFENet2(f1)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        return self.GFF(torch.cat(outs, 1)) + f1
