"""Intermediate outputs of an ``nn.Sequential``: what LPIPS and perceptual losses compare."""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn


def sequential_taps(layers: nn.Sequential, x: torch.Tensor, indices: Sequence[int]) -> List[torch.Tensor]:
    """The outputs of ``layers[i]`` for each ``i`` in ``indices``, in ascending order; the layers
    after the last index are not run."""
    out, want, last = [], set(indices), max(indices)
    for i, layer in enumerate(layers):
        x = layer(x)
        if i in want:
            out.append(x)
        if i == last:
            break
    return out
