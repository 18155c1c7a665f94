"""LIIF: local implicit image function (Chen et al., CVPR 2021), the generator of CiSRGAN.

``encode(image) -> Features`` runs the CNN encoder once; ``query(features, coords, cells)``
evaluates the INN at any continuous coordinates. Coordinates and cells follow
:mod:`cisr_zoom.core.coords` (``(y, x)`` in ``[-1, 1]``, cell = output pixel size in the same
units). Images are RGB in ``[0, 1]``; like the official code the network sees
``(x - 0.5) / 0.5`` and its output is mapped back by ``* 0.5 + 0.5`` (not clamped here).

Nothing is stored on the module between calls and no device is hard-coded: every tensor is
created on the device of the input.

``image_skip`` (off by default, so official checkpoints stay exact) adds a bilinear sample of
the normalised input image to the INN output, a residual "image skip" as in LTE; it makes
training converge far faster on small compute budgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..coords import make_coord
from . import registry

NORM_SUB = 0.5
NORM_DIV = 0.5


@dataclass(frozen=True)
class Features:
    """Encoder output for one batch of images.

    ``feat``: ``(B, C, h, w)`` encoder features, one vector per input pixel.
    ``image``: ``(B, 3, h, w)`` the normalised input ``(x - 0.5) / 0.5`` (for ``image_skip``).
    """

    feat: torch.Tensor
    image: torch.Tensor


@registry.register("liif")
class LIIF(nn.Module):
    def __init__(self, encoder_spec: Dict[str, Any], imnet_spec: Optional[Dict[str, Any]] = None,
                 local_ensemble: bool = True, feat_unfold: bool = True, cell_decode: bool = True,
                 image_skip: bool = False):
        super().__init__()
        if imnet_spec is None:
            raise ValueError("liif needs an imnet_spec (the INN)")
        self.local_ensemble = local_ensemble
        self.feat_unfold = feat_unfold
        self.cell_decode = cell_decode
        self.image_skip = image_skip
        self.encoder = registry.make(encoder_spec)
        in_dim = self.encoder.out_dim * (9 if feat_unfold else 1) + 2 + (2 if cell_decode else 0)
        self.imnet = registry.make(imnet_spec, args={"in_dim": in_dim})

    # -- encoder -------------------------------------------------------------------------
    def encode(self, image: torch.Tensor) -> Features:
        """``image``: ``(B, 3, h, w)`` RGB in ``[0, 1]``."""
        x = (image - NORM_SUB) / NORM_DIV
        return Features(self.encoder(x), x)

    def unfold(self, feat: torch.Tensor) -> torch.Tensor:
        """3x3 feature unfolding (zero padding at the border), or ``feat`` itself if disabled."""
        if not self.feat_unfold:
            return feat
        b, c, h, w = feat.shape
        return F.unfold(feat, 3, padding=1).view(b, c * 9, h, w)

    def first_layer_parts(self):
        """The INN's first linear layer split by its inputs ``[unfolded feature, rel, cell]``.

        Returns ``(feat_weight, rel_weight, cell_weight, bias)``: ``feat_weight`` is
        ``(D, C, k, k)`` (``k = 3`` with unfolding, else 1), so ``conv2d(feat, feat_weight,
        padding=k // 2)`` gives the feature part of every LR pixel at once (zero padding, as
        ``F.unfold`` pads); ``rel_weight`` ``(D, 2)`` and ``cell_weight`` ``(D, 2)`` or ``None``
        act on the relative coordinate and cell in LR-pixel units; ``bias`` ``(D,)`` or ``None``.
        Used by the fast paths of training (:mod:`..train.fast_query`) and rendering
        (:mod:`..render.query`). Differentiable (views of the parameters).
        """
        first = self.imnet.layers[0]
        if not isinstance(first, nn.Linear):
            raise TypeError("the INN's first layer is not nn.Linear")
        c = self.encoder.out_dim
        k = 3 if self.feat_unfold else 1
        nf = c * k * k
        w = first.weight
        feat_weight = w[:, :nf].reshape(w.shape[0], c, k, k)
        rel_weight = w[:, nf:nf + 2]
        cell_weight = w[:, nf + 2:nf + 4] if self.cell_decode else None
        return feat_weight, rel_weight, cell_weight, first.bias

    # -- INN query -----------------------------------------------------------------------
    def query(self, features: Features, coords: torch.Tensor, cells: Optional[torch.Tensor] = None,
              chunk_size: Optional[int] = None) -> torch.Tensor:
        """RGB at ``coords``.

        ``coords``: ``(B, Q, 2)`` (y, x) in ``[-1, 1]``; ``cells``: ``(B, Q, 2)`` output pixel
        sizes (needed when ``cell_decode``). ``chunk_size`` bounds the number of points
        evaluated at once; the result does not depend on it. Returns ``(B, Q, 3)``.
        """
        if self.cell_decode and cells is None:
            raise ValueError("this model decodes cells: pass cells")
        feat = self.unfold(features.feat)
        q = coords.shape[1]
        if chunk_size is None or chunk_size >= q:
            return self._query(feat, features.image, coords, cells)
        outs = []
        for i in range(0, q, chunk_size):
            c = cells[:, i:i + chunk_size] if cells is not None else None
            outs.append(self._query(feat, features.image, coords[:, i:i + chunk_size], c))
        return torch.cat(outs, dim=1)

    def _query(self, feat: torch.Tensor, image: torch.Tensor, coords: torch.Tensor,
               cells: Optional[torch.Tensor]) -> torch.Tensor:
        h, w = feat.shape[-2:]
        b, q = coords.shape[:2]
        if self.local_ensemble:
            shifts, eps = [(-1, -1), (-1, 1), (1, -1), (1, 1)], 1e-6
        else:
            shifts, eps = [(0, 0)], 0.0
        ry, rx = 1.0 / h, 1.0 / w  # half a feature pixel in [-1, 1] units
        feat_coord = make_coord((h, w), flatten=False, dtype=coords.dtype, device=coords.device)
        feat_coord = feat_coord.permute(2, 0, 1).unsqueeze(0).expand(b, 2, h, w)

        preds, areas = [], []
        for vy, vx in shifts:
            c = coords.clone()
            c[:, :, 0] += vy * ry + eps
            c[:, :, 1] += vx * rx + eps
            c.clamp_(-1 + 1e-6, 1 - 1e-6)
            grid = c.flip(-1).unsqueeze(1)
            q_feat = F.grid_sample(feat, grid, mode="nearest", align_corners=False)[:, :, 0, :].permute(0, 2, 1)
            q_coord = F.grid_sample(feat_coord, grid, mode="nearest", align_corners=False)[:, :, 0, :].permute(0, 2, 1)
            rel = coords - q_coord
            rel = rel * torch.tensor([h, w], dtype=rel.dtype, device=rel.device)
            parts = [q_feat, rel]
            if self.cell_decode:
                parts.append(cells * torch.tensor([h, w], dtype=cells.dtype, device=cells.device))
            preds.append(self.imnet(torch.cat(parts, dim=-1)))
            areas.append(torch.abs(rel[:, :, 0] * rel[:, :, 1]) + 1e-9)

        if self.local_ensemble:
            # each prediction is weighted by the area of the rectangle opposite to it
            areas = [areas[3], areas[2], areas[1], areas[0]]
            total = areas[0] + areas[1] + areas[2] + areas[3]
            out = sum(p * (a / total).unsqueeze(-1) for p, a in zip(preds, areas))
        else:
            out = preds[0]
        if self.image_skip:
            out = out + F.grid_sample(image, coords.flip(-1).unsqueeze(1), mode="bilinear",
                                      padding_mode="border", align_corners=False)[:, :, 0, :].permute(0, 2, 1)
        return out * NORM_DIV + NORM_SUB

    def forward(self, image: torch.Tensor, coords: torch.Tensor, cells: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.query(self.encode(image), coords, cells)


def liif_spec(encoder: str = "edsr-baseline", hidden: int = 256, n_hidden: int = 4,
              image_skip: bool = False, encoder_args: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The paper's LIIF spec: ``encoder`` (``edsr-baseline`` or ``rdn``) + 5-layer MLP, hidden 256."""
    args = {"no_upsampling": True}
    args.update(encoder_args or {})
    return {
        "name": "liif",
        "args": {
            "encoder_spec": {"name": encoder, "args": args},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [hidden] * n_hidden}},
            "image_skip": image_skip,
        },
    }
