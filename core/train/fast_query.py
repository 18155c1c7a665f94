"""A differentiable LIIF query with the first-layer precompute, for training.

The INN's first linear layer is linear in ``[unfolded feature (9C), rel coord (2), cell (2)]``.
Its feature part, applied to the 3x3-unfolded feature map, *is* a 3x3 convolution of the
feature map (zero padding, as ``F.unfold`` pads): computed once per LR pixel, then gathered
for each query instead of gathering 9C-dim vectors and multiplying them per query. Each LR
pixel is used by many queries (4 ensemble shifts x several HR pixels), so this saves most of
the first layer's work and memory traffic, forward and backward.

Gives the same values as :meth:`LIIF.query` (up to float rounding; tested) for models whose
INN is :class:`~cisr_zoom.core.models.mlp.MLP`. Nearest-pixel lookup uses
``floor((c + 1) / 2 * n)``, which equals ``grid_sample(mode="nearest")`` away from exact pixel
borders (LIIF's ``eps`` shift keeps queries off them).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..models.liif import LIIF, NORM_DIV, NORM_SUB, Features


def supports_fast_query(model: nn.Module) -> bool:
    layers = getattr(getattr(model, "imnet", None), "layers", None)
    return isinstance(model, LIIF) and isinstance(layers, nn.Sequential) and isinstance(layers[0], nn.Linear)


def first_layer_maps(model: LIIF, feat: torch.Tensor) -> torch.Tensor:
    """``(B, hidden, h, w)``: the first INN layer's feature part (plus its bias) per LR pixel."""
    w, _, _, bias = model.first_layer_parts()
    return F.conv2d(feat, w.to(feat.dtype), None if bias is None else bias.to(feat.dtype), padding=w.shape[-1] // 2)


def fast_query(model: LIIF, features: Features, coords: torch.Tensor,
               cells: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Like ``model.query(features, coords, cells)``: ``coords``/``cells`` ``(B, Q, 2)`` -> ``(B, Q, 3)``."""
    if model.cell_decode and cells is None:
        raise ValueError("this model decodes cells: pass cells")
    feat = features.feat
    b, _, h, w = feat.shape
    q = coords.shape[1]
    pre = first_layer_maps(model, feat).flatten(2)  # (B, hidden, h*w)
    hidden = pre.shape[1]
    _, rel_w, cell_w, _ = model.first_layer_parts()
    w_rest = rel_w if cell_w is None else torch.cat([rel_w, cell_w], dim=1)  # (hidden, 2 [+2])

    if model.local_ensemble:
        shifts, eps = [(-1, -1), (-1, 1), (1, -1), (1, 1)], 1e-6
    else:
        shifts, eps = [(0, 0)], 0.0
    size = torch.tensor([h, w], dtype=coords.dtype, device=coords.device)
    extras, idxs, areas = [], [], []
    for vy, vx in shifts:
        shift = torch.tensor([vy / h + eps, vx / w + eps], dtype=coords.dtype, device=coords.device)
        c = (coords + shift).clamp(-1 + 1e-6, 1 - 1e-6)
        pix = torch.floor((c + 1) * 0.5 * size).long()
        pix[..., 0].clamp_(0, h - 1)
        pix[..., 1].clamp_(0, w - 1)
        centre = -1 + (2 * pix.to(coords.dtype) + 1) / size
        rel = (coords - centre) * size
        extra = [rel]
        if model.cell_decode:
            extra.append(cells * size)
        extras.append(torch.cat(extra, dim=-1))
        idxs.append(pix[..., 0] * w + pix[..., 1])
        areas.append(torch.abs(rel[..., 0] * rel[..., 1]) + 1e-9)
    n = len(shifts)
    idx = torch.cat(idxs, dim=1)  # (B, nQ)
    flat = pre.transpose(1, 2).reshape(b * h * w, hidden)
    offset = (torch.arange(b, device=idx.device) * (h * w)).unsqueeze(1)
    gathered = flat.index_select(0, (idx + offset).reshape(-1)).reshape(b, n * q, hidden)
    x = gathered + torch.cat(extras, dim=1).to(gathered.dtype) @ w_rest.t().to(gathered.dtype)
    x = model.imnet.layers[1:](x.reshape(-1, hidden)).reshape(b, n, q, -1)
    if model.local_ensemble:
        a = torch.stack([areas[3], areas[2], areas[1], areas[0]], dim=1)  # opposite rectangles
        wts = (a / a.sum(dim=1, keepdim=True)).unsqueeze(-1)
        out = (x * wts.to(x.dtype)).sum(dim=1)
    else:
        out = x[:, 0]
    if model.image_skip:
        out = out + F.grid_sample(features.image, coords.flip(-1).unsqueeze(1), mode="bilinear",
                                  padding_mode="border", align_corners=False)[:, :, 0, :].permute(0, 2, 1)
    return out * NORM_DIV + NORM_SUB


class TrainForward(nn.Module):
    """``forward(lr, coords, cells) -> (B, Q, 3)`` for a LIIF, so one module (and one DDP
    wrapper) runs encoder + query; ``fast`` selects :func:`fast_query`."""

    def __init__(self, model: LIIF, fast: bool = True, channels_last: bool = False):
        super().__init__()
        self.model = model
        self.fast = fast and supports_fast_query(model)
        self.channels_last = channels_last

    def forward(self, lr: torch.Tensor, coords: torch.Tensor, cells: Optional[torch.Tensor]) -> torch.Tensor:
        if self.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        features = self.model.encode(lr)
        if self.fast:
            return fast_query(self.model, features, coords, cells)
        return self.model.query(features, coords, cells)
