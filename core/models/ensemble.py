"""The local-ensemble kernel shared by every LIIF-style decoder family (LIIF, LM-LIIF).

Per-axis neighbour choice with LIIF's ``eps`` (:func:`ensemble_neighbours`), the ensemble's
members and their area weights taken from the diagonally opposite member
(:func:`ensemble_output`), relative coordinates and cells in LR-pixel units
(:func:`cell_input`), the image skip (:func:`skip_at_points`, :func:`skip_on_grid`), the
output de-normalisation, the encoder run (:func:`encode_image`) and the 3x3 unfold of its
features (:func:`unfold_features`), and what a grid decoder starts from
(:func:`grid_decoder_setup`, :class:`LIIFGridAxis`). Written once, here; :mod:`.liif` and
:mod:`.lmf` build their query and grid decoders on it.

Images are RGB in ``[0, 1]``; the networks see ``(x - NORM_SUB) / NORM_DIV`` and their output
is mapped back by ``* NORM_DIV + NORM_SUB`` (not clamped here). Coordinates and cells follow
:mod:`cisr_zoom.core.coords`. Every tensor is made on the device of the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..coords import pixel_centers
from ..precision import compute_dtype

NORM_SUB = 0.5
NORM_DIV = 0.5
#: LIIF's shift before choosing neighbours, so that queries avoid exact LR pixel borders
ENSEMBLE_EPS = 1e-6
ENCODER_LABELS = {"edsr-baseline": "EDSR-baseline", "rdn": "RDN"}
_SKIP_SAMPLING = {"mode": "bilinear", "padding_mode": "border", "align_corners": False}


@dataclass(frozen=True)
class Features:
    """Encoder output for one batch of images.

    ``feat``: ``(B, C, h, w)`` encoder features, one vector per input pixel.
    ``image``: ``(B, 3, h, w)`` the normalised input ``(x - NORM_SUB) / NORM_DIV`` (for ``image_skip``).
    """

    feat: torch.Tensor
    image: torch.Tensor


def normalise(image: torch.Tensor) -> torch.Tensor:
    """RGB in ``[0, 1]`` -> what the network sees."""
    return (image - NORM_SUB) / NORM_DIV


@dataclass(frozen=True)
class AxisNeighbours:
    """For one axis and one ensemble shift: per coordinate the chosen LR pixel ``index`` (int64)
    and the relative coordinate ``rel = (coord - centre of that pixel) * n_lr`` (in half LR
    pixels: ``-1 .. 1`` across one LR pixel). Both have the coordinates' shape."""

    index: torch.Tensor
    rel: torch.Tensor


def axis_neighbours(coords: torch.Tensor, n_lr: int, shift: int, eps: float) -> AxisNeighbours:
    """LIIF's neighbour choice along one axis of ``n_lr`` LR pixels, for coordinates of any shape.

    LIIF shifts a coordinate by ``shift / n_lr + eps``, clamps it to ``(-1, 1)`` and picks the
    LR pixel with ``grid_sample(mode="nearest", align_corners=False)``. Along one axis the pick
    depends on that axis' coordinate only, so the same op on an ``n_lr x 1`` map of indices
    gives exactly the pixels a 2-D ``grid_sample`` of the feature map picks.
    """
    flat = coords.reshape(-1)
    c = (flat + (shift * (1.0 / n_lr) + eps)).clamp(-1 + 1e-6, 1 - 1e-6)
    index_map = torch.arange(n_lr, dtype=c.dtype, device=c.device).view(1, 1, n_lr, 1)
    grid = torch.stack([torch.zeros_like(c), c], dim=-1).view(1, 1, -1, 2)   # (x, y) = (0, c)
    idx = F.grid_sample(index_map, grid, mode="nearest", align_corners=False).view(-1).long()
    rel = (flat - pixel_centers(n_lr, dtype=c.dtype, device=c.device)[idx]) * float(n_lr)
    return AxisNeighbours(idx.view(coords.shape), rel.view(coords.shape))


def ensemble_neighbours(coords: torch.Tensor, n_lr: int, local_ensemble: bool) -> List[AxisNeighbours]:
    """Per ensemble shift along one axis (``-1, +1`` half LR pixels, or just ``0`` without the
    local ensemble), the :class:`AxisNeighbours` of ``coords``."""
    shifts, eps = ((-1, 1), ENSEMBLE_EPS) if local_ensemble else ((0,), 0.0)
    return [axis_neighbours(coords, n_lr, s, eps) for s in shifts]


def ensemble_members(ys: Sequence[AxisNeighbours], xs: Sequence[AxisNeighbours]) -> List[Tuple[int, int]]:
    """The ensemble members as (y shift, x shift) index pairs, in LIIF's order."""
    return [(i, j) for i in range(len(ys)) for j in range(len(xs))]


def cell_input(cells: torch.Tensor, lr_size: Tuple[int, int]) -> torch.Tensor:
    """Cells ``(..., 2)`` in ``[-1, 1]`` units -> the INN's cell input, in half LR pixels."""
    return cells * torch.tensor([lr_size[0], lr_size[1]], dtype=cells.dtype, device=cells.device)


def skip_at_points(image: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear samples ``(B, Q, 3)`` of the normalised ``image`` ``(B, 3, h, w)`` at ``coords`` ``(B, Q, 2)``."""
    return F.grid_sample(image, coords.flip(-1).unsqueeze(1), **_SKIP_SAMPLING)[:, :, 0, :].permute(0, 2, 1)


def skip_on_grid(image: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Bilinear samples ``(n, m, 3)`` of the normalised ``image`` ``(1, 3, h, w)`` on the grid ``ys x xs``."""
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).unsqueeze(0)   # (1, n, m, (x, y))
    return F.grid_sample(image, grid, **_SKIP_SAMPLING)[0].permute(1, 2, 0)


def ensemble_output(preds: Sequence[torch.Tensor], ys: Sequence[AxisNeighbours], xs: Sequence[AxisNeighbours],
                    grid: bool = False, skip: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Blend the members' INN outputs ``preds`` (``(..., 3)`` each, in :func:`ensemble_members`
    order), add the image ``skip`` and de-normalise.

    Member ``(i, j)`` is weighted by the area ``|rel_y| |rel_x|`` of the diagonally opposite
    member, normalised to sum 1. ``grid``: ``ys`` index rows and ``xs`` columns of an output
    grid (outer product), else ``ys`` and ``xs`` are per point.
    """
    if len(preds) == 1:
        out = preds[0]
    else:
        areas = []
        for i, j in ensemble_members(ys, xs):
            ry, rx = (ys[i].rel[:, None], xs[j].rel[None, :]) if grid else (ys[i].rel, xs[j].rel)
            areas.append(torch.abs(ry * rx) + 1e-9)
        areas = areas[::-1]   # the opposite rectangle
        total = areas[0] + areas[1] + areas[2] + areas[3]
        out = preds[0] * (areas[0] / total).unsqueeze(-1)
        for p, a in zip(preds[1:], areas[1:]):
            out = out + p * (a / total).unsqueeze(-1)
    if skip is not None:
        out = out + skip
    return out * NORM_DIV + NORM_SUB


def encode_image(encoder: nn.Module, image: torch.Tensor) -> Features:
    """The encoder front end every decoder family shares: ``image`` ``(B, 3, h, w)`` RGB in
    ``[0, 1]`` -> :class:`Features` (encoder output, normalised input for the image skip)."""
    x = normalise(image)
    return Features(encoder(x), x)


def unfold_features(feat: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B, 9C, h, w)``: each LR pixel's 3x3 neighbourhood (zero padding)."""
    b, c, h, w = feat.shape
    return F.unfold(feat, 3, padding=1).view(b, c * 9, h, w)


def grid_decoder_setup(dec: Any, model: nn.Module, image: torch.Tensor, device: torch.device | str,
                       precision: str) -> None:
    """The attributes every grid decoder starts from: ``model``, ``device``, ``precision``,
    ``dtype`` (compute dtype), ``local_ensemble``, ``cell_decode`` and ``image`` (the normalised
    ``(1, 3, h, w)`` CPU input for the image skip, or None)."""
    dec.model = model
    dec.device = torch.device(device)
    dec.precision = precision
    dec.dtype = compute_dtype(precision)
    dec.local_ensemble = bool(model.local_ensemble)
    dec.cell_decode = bool(model.cell_decode)
    dec.image = normalise(image.to(torch.float32)) if model.image_skip else None


class LIIFGridAxis:
    """A :class:`~.decoder.AxisPlan`: output pixel ``centres`` ``(n,)`` of one axis and, per
    ensemble shift, their :class:`AxisNeighbours`."""

    def __init__(self, centres: torch.Tensor, members: Sequence[AxisNeighbours], n_lr: int, whole: bool = False):
        self.centres = centres
        self.members = list(members)
        self.n_lr = n_lr
        self.whole = whole
        if whole:     # a decoder that needs every LR pixel of the axis
            self.lr_start, self.lr_stop = 0, n_lr
        else:
            self.lr_start = min(int(a.index.min()) for a in self.members)
            self.lr_stop = max(int(a.index.max()) for a in self.members) + 1

    def __len__(self) -> int:
        return self.centres.numel()

    def part(self, start: int, stop: int) -> "LIIFGridAxis":
        return LIIFGridAxis(self.centres[start:stop], [AxisNeighbours(a.index[start:stop], a.rel[start:stop])
                                                       for a in self.members], self.n_lr, self.whole)


def encoder_spec(encoder: str, encoder_args: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The spec of a feature encoder without its upsampler (what every decoder family starts from)."""
    return {"name": encoder, "args": {"no_upsampling": True, **(encoder_args or {})}}
