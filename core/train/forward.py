"""The generator's training forward pass as one module (so one DDP wrapper runs it all)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn


class TrainForward(nn.Module):
    """``forward(lr, coords, cells) -> (B, Q, 3)``: ``model.encode`` then ``model.query`` for an
    :class:`~cisr_zoom.core.models.decoder.ImplicitDecoder`. ``fast`` passes the model's
    precomputed per-LR-pixel values to the query (same values, less work) when its descriptor
    has the fast path. ``lr``: ``(B, 3, h, w)`` in ``[0, 1]``; ``coords``/``cells``: ``(B, Q, 2)``."""

    def __init__(self, model: nn.Module, fast: bool = True, channels_last: bool = False):
        super().__init__()
        self.model = model
        self.fast = fast and model.describe().fast_path
        self.channels_last = channels_last

    def forward(self, lr: torch.Tensor, coords: torch.Tensor, cells: Optional[torch.Tensor]) -> torch.Tensor:
        if self.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        features = self.model.encode(lr)
        pre = self.model.precompute(features.feat) if self.fast else None
        return self.model.query(features, coords, cells, precomputed=pre)
