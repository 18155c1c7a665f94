"""The implicit neural network (INN) of LIIF: linear layers with ReLU between them.

The paper's INN has 5 linear layers, hidden width 256: ``hidden_list=[256, 256, 256, 256]``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .registry import register


@register("mlp")
class MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden_list: Sequence[int]):
        super().__init__()
        layers: list[nn.Module] = []
        last = in_dim
        for hidden in hidden_list:
            layers += [nn.Linear(last, hidden), nn.ReLU()]
            last = hidden
        layers.append(nn.Linear(last, out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[:-1]
        return self.layers(x.reshape(-1, x.shape[-1])).reshape(*shape, -1)
