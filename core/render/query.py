"""The reference query: the straightforward method the fast renderer is measured against.

Rendering proper goes through the model's grid decoder (see
:class:`cisr_zoom.core.models.decoder.GridDecoder` and :mod:`.session`); precisions are in
:mod:`cisr_zoom.core.precision`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..coords import make_cell, make_coord


def reference_query(model: nn.Module, image: torch.Tensor, region, out_size, chunk_size: int = 30000,
                    features=None) -> torch.Tensor:
    """Encode the whole image, then ``model.query`` on every output pixel centre in chunks of
    ``chunk_size`` coordinates. ``image``: ``(1, 3, h, w)`` in ``[0, 1]`` (or ``features``
    from ``model.encode``). Returns ``(H, W, 3)`` float32, unclamped."""
    H, W = out_size
    with torch.no_grad():
        feats = features if features is not None else model.encode(image)
        dev = feats.feat.device
        coords = make_coord((H, W), region, device=dev).unsqueeze(0)
        cells = make_cell((H, W), region, n=H * W, device=dev).unsqueeze(0)
        return model.query(feats, coords, cells, chunk_size=chunk_size)[0].view(H, W, 3)
