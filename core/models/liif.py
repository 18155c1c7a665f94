"""LIIF: local implicit image function (Chen et al., CVPR 2021), the generator of CiSRGAN.

``encode(image) -> Features`` runs the CNN encoder once; ``query(features, coords, cells)``
evaluates the INN at any continuous coordinates. Coordinates and cells follow
:mod:`cisr_zoom.core.coords` (``(y, x)`` in ``[-1, 1]``, cell = output pixel size in the same
units). Images are RGB in ``[0, 1]``; like the official code the network sees
``(x - NORM_SUB) / NORM_DIV`` and its output is mapped back by ``* NORM_DIV + NORM_SUB`` (not
clamped here). LIIF implements :class:`~.decoder.ImplicitDecoder`.

**The query kernel** (the local ensemble, the image skip and the output de-normalisation) lives
in :mod:`.ensemble`, shared with LM-LIIF. Its three users here:

* :meth:`LIIF.query` without ``precomputed``: the reference (official) algorithm;
* :meth:`LIIF.query` with ``precomputed = LIIF.precompute(feat)``: the INN's first layer is
  linear in ``[unfolded feature (9C), rel (2), cell (2)]`` and its feature part is a 3x3
  convolution of the feature map, computed once per LR pixel and gathered per query (training);
* :class:`LIIFGridDecoder`: whole output grids from cached precomputed values, where the
  relative coordinates of a row (column) are shared by the whole row (column) (rendering, in
  float32, bfloat16, float16 or int8).

Nothing is stored on the module between calls and no device is hard-coded: every tensor is
created on the device of the input.

``image_skip`` (off by default, so official checkpoints stay exact) adds a bilinear sample of
the normalised input image to the INN output, a residual "image skip" as in LTE; it makes
training converge far faster on small compute budgets.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..precision import PRECISIONS, pack_int8
from . import registry
from .decoder import ModelDescriptor, display_name
from .ensemble import (ENCODER_LABELS, AxisNeighbours, Features, LIIFGridAxis,
                       cell_input, encode_image, encoder_spec, ensemble_members, ensemble_neighbours,
                       ensemble_output, grid_decoder_setup, normalise, skip_at_points, skip_on_grid, unfold_features)







# -- the query kernel -------------------------------------------------------------------------

















# -- the model -------------------------------------------------------------------------------





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
        self.encoder_name = str(encoder_spec.get("name", ""))
        self.encoder = registry.make(encoder_spec)
        in_dim = self.encoder.out_dim * (9 if feat_unfold else 1) + 2 + (2 if cell_decode else 0)
        self.imnet = registry.make(imnet_spec, args={"in_dim": in_dim})

    # -- description -----------------------------------------------------------------------
    def has_plain_inn(self) -> bool:
        """Whether the INN is a Linear/ReLU stack (the paper's MLP): what the fast path needs."""
        layers = getattr(self.imnet, "layers", None)
        if not isinstance(layers, nn.Sequential) or len(layers) == 0 or len(layers) % 2 == 0:
            return False
        return all(isinstance(m, nn.Linear if k % 2 == 0 else nn.ReLU) for k, m in enumerate(layers))

    def describe(self, family: Optional[str] = None) -> ModelDescriptor:
        """See :class:`~.decoder.ModelDescriptor`; the halo is the encoder's receptive radius
        plus one for the 3x3 unfolding."""
        fam = family or "liif"
        fast = self.has_plain_inn()
        return ModelDescriptor(
            architecture="liif", family=fam,
            display_name=display_name(fam, ENCODER_LABELS.get(self.encoder_name, self.encoder_name)),
            fast_path=fast, receptive_radius=int(self.encoder.receptive_radius) + (1 if self.feat_unfold else 0),
            precisions=PRECISIONS if fast else ("float32",))

    # -- encoder -------------------------------------------------------------------------
    def encode(self, image: torch.Tensor) -> Features:
        """``image``: ``(B, 3, h, w)`` RGB in ``[0, 1]``."""
        return encode_image(self.encoder, image)

    def unfold(self, feat: torch.Tensor) -> torch.Tensor:
        """3x3 feature unfolding (zero padding at the border), or ``feat`` itself if disabled."""
        return unfold_features(feat) if self.feat_unfold else feat

    def first_layer_parts(self):
        """The INN's first linear layer split by its inputs ``[unfolded feature, rel, cell]``.

        Returns ``(feat_weight, rel_weight, cell_weight, bias)``: ``feat_weight`` is
        ``(D, C, k, k)`` (``k = 3`` with unfolding, else 1), so ``conv2d(feat, feat_weight,
        padding=k // 2)`` gives the feature part of every LR pixel at once (zero padding, as
        ``F.unfold`` pads); ``rel_weight`` ``(D, 2)`` and ``cell_weight`` ``(D, 2)`` or ``None``
        act on the relative coordinate and cell in LR-pixel units; ``bias`` ``(D,)`` or ``None``.
        Differentiable (views of the parameters).
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

    def precompute(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, D, h, w)``: the first INN layer's feature part plus its bias at every LR pixel
        of ``feat`` ``(B, C, h, w)`` (a 3x3 convolution with zero padding when unfolding)."""
        w, _, _, bias = self.first_layer_parts()
        return F.conv2d(feat, w.to(feat.dtype), None if bias is None else bias.to(feat.dtype),
                        padding=w.shape[-1] // 2)

    # -- INN query -----------------------------------------------------------------------
    def query(self, features: Features, coords: torch.Tensor, cells: Optional[torch.Tensor] = None,
              chunk_size: Optional[int] = None, precomputed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """RGB at ``coords``.

        ``coords``: ``(B, Q, 2)`` (y, x) in ``[-1, 1]``; ``cells``: ``(B, Q, 2)`` output pixel
        sizes (needed when ``cell_decode``). ``chunk_size`` bounds the number of points
        evaluated at once; the result does not depend on it. ``precomputed``:
        ``self.precompute(features.feat)``, to gather first-layer activations instead of
        unfolded features (same values up to float rounding). Returns ``(B, Q, 3)``.
        """
        if self.cell_decode and cells is None:
            raise ValueError("this model decodes cells: pass cells")
        b, _, h, w = features.feat.shape
        if precomputed is None:
            table = self.unfold(features.feat).flatten(2)                            # (B, 9C, h*w)
        else:
            table = precomputed.flatten(2).transpose(1, 2).reshape(b * h * w, -1)    # (B*h*w, D)
        q = coords.shape[1]
        step = q if chunk_size is None or chunk_size >= q else chunk_size
        outs = []
        for i in range(0, q, step):
            c = cells[:, i:i + step] if cells is not None else None
            outs.append(self._query(table, precomputed is not None, (h, w), features.image,
                                    coords[:, i:i + step], c))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _query(self, table: torch.Tensor, precomputed: bool, lr_size: Tuple[int, int], image: torch.Tensor,
               coords: torch.Tensor, cells: Optional[torch.Tensor]) -> torch.Tensor:
        h, w = lr_size
        ys = ensemble_neighbours(coords[..., 0], h, self.local_ensemble)
        xs = ensemble_neighbours(coords[..., 1], w, self.local_ensemble)
        members = ensemble_members(ys, xs)
        pixels = [ys[i].index * w + xs[j].index for i, j in members]              # (B, Q) each
        rels = [torch.stack([ys[i].rel, xs[j].rel], dim=-1) for i, j in members]   # (B, Q, 2) each
        extra = cell_input(cells, lr_size) if self.cell_decode else None
        if precomputed:
            preds = self._members_from_precomputed(table, pixels, rels, extra)
        else:
            preds = []
            for pix, rel in zip(pixels, rels):
                q_feat = torch.stack([t.index_select(1, p).t() for t, p in zip(table, pix)])   # (B, Q, 9C)
                preds.append(self.imnet(torch.cat([q_feat, rel] + ([extra] if extra is not None else []), dim=-1)))
        skip = skip_at_points(image, coords) if self.image_skip else None
        return ensemble_output(preds, ys, xs, skip=skip)

    def _members_from_precomputed(self, table: torch.Tensor, pixels: List[torch.Tensor], rels: List[torch.Tensor],
                                  extra: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """All members' INN outputs from precomputed first-layer activations ``table``
        ``(B*h*w, D)``: gather, add the coordinate and cell parts, run the other layers once."""
        _, rel_w, cell_w, _ = self.first_layer_parts()
        b, q = pixels[0].shape
        n, hw = len(pixels), table.shape[0] // b
        offset = (torch.arange(b, device=table.device) * hw).unsqueeze(1)
        idx = torch.cat(pixels, dim=1) + offset                                   # (B, nQ)
        gathered = table.index_select(0, idx.reshape(-1)).view(b, n * q, -1)
        coord_in, w_rest = torch.cat(rels, dim=1), rel_w
        if extra is not None:
            coord_in = torch.cat([coord_in, extra.repeat(1, n, 1)], dim=-1)
            w_rest = torch.cat([rel_w, cell_w], dim=1)
        x = gathered + coord_in.to(gathered.dtype) @ w_rest.t().to(gathered.dtype)
        x = self.imnet.layers[1:](x.reshape(b * n * q, -1)).reshape(b, n, q, -1)
        return list(x.unbind(1))

    def forward(self, image: torch.Tensor, coords: torch.Tensor, cells: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.query(self.encode(image), coords, cells)

    # -- rendering -------------------------------------------------------------------------
    def grid_decoder(self, image: torch.Tensor, device: torch.device | str, precision: str = "float32"):
        """A :class:`~.decoder.GridDecoder` for ``image`` ``(1, 3, h, w)`` in ``[0, 1]``; this
        model must already be on ``device`` (float32, eval). Plain INNs get the fast
        :class:`LIIFGridDecoder`, others :class:`LIIFPointDecoder` (float32 only)."""
        if self.has_plain_inn():
            return LIIFGridDecoder(self, image, device, precision)
        if precision != "float32":
            raise ValueError(f"precision {precision} needs a LIIF with a Linear/ReLU INN")
        return LIIFPointDecoder(self, image, device)


# -- grid decoding (rendering) ------------------------------------------------------------------





class LIIFGridDecoder:
    """LIIF's INN split for grid queries (a :class:`~.decoder.GridDecoder`).

    What is cached per LR pixel is :meth:`LIIF.precompute` (first layer's feature part plus
    bias, ``D`` values). On an output grid ``rel_y`` depends only on the output row and
    ``rel_x`` only on the column, so the coordinate part is two small per-axis tables and the
    cell part one constant per request: each output pixel pays for a gather, two additions and
    the remaining layers only. In ``int8`` the hidden layers run as dynamically quantised GEMMs
    (per-channel int8 weights) while the precomputed values and the blending stay float32.
    """

    def __init__(self, model: LIIF, image: torch.Tensor, device: torch.device | str, precision: str = "float32"):
        grid_decoder_setup(self, model, image, device, precision)
        f32 = lambda t: t.detach().to(self.device, torch.float32).contiguous()  # noqa: E731
        feat_w, rel_w, cell_w, _ = model.first_layer_parts()
        self.channels = feat_w.shape[0]
        self.rel_weight = f32(rel_w.t())                                            # (2, D): rows y, x
        self.cell_weight = f32(cell_w.t()) if cell_w is not None else None
        rest = [m for m in model.imnet.layers[1:] if isinstance(m, nn.Linear)]
        self.layers = [(l.weight.detach().to(self.device, self.dtype).contiguous(),
                        (l.bias.detach() if l.bias is not None else torch.zeros(l.out_features))
                        .to(self.device, self.dtype)) for l in rest]
        self._packed = None
        if precision == "int8":
            self._packed = [pack_int8(l.weight.detach().cpu(), l.bias.detach().cpu() if l.bias is not None else None)
                            for l in rest[:-1]]
            last = rest[-1]
            self.layers = self.layers[:-1] + [(last.weight.detach().float().contiguous(),
                                               last.bias.detach().float() if last.bias is not None
                                               else torch.zeros(last.out_features))]

    def precompute(self, feat: torch.Tensor) -> torch.Tensor:
        """``(1, C, h, w)`` -> ``(1, D, h, w)`` float32 (:meth:`LIIF.precompute`; at the true image
        border its zero padding equals LIIF's zero-padded ``F.unfold``)."""
        return self.model.precompute(feat.to(torch.float32))

    def plan_axis(self, centres: torch.Tensor, n_lr: int) -> LIIFGridAxis:
        members = [AxisNeighbours(a.index.to(self.device), a.rel.to(self.device))
                   for a in ensemble_neighbours(centres.to(torch.float32), n_lr, self.local_ensemble)]
        return LIIFGridAxis(centres, members, n_lr)

    def decode(self, window: torch.Tensor, r0: int, c0: int, rows: LIIFGridAxis, cols: LIIFGridAxis,
               cell: torch.Tensor) -> torch.Tensor:
        """RGB ``(nb, mb, 3)`` float32 (unclamped); see :meth:`~.decoder.GridDecoder.decode`."""
        ys, xs = rows.members, cols.members
        nb, mb = len(rows), len(cols)
        d = window.shape[-1]
        members = ensemble_members(ys, xs)
        const = torch.zeros(d, device=self.device)
        if self.cell_decode:
            const = cell_input(cell.to(self.device, torch.float32), (rows.n_lr, cols.n_lr)) @ self.cell_weight
        ay = [(a.rel[:, None] * self.rel_weight[0] + const).to(self.dtype) for a in ys]
        ax = [(a.rel[:, None] * self.rel_weight[1]).to(self.dtype) for a in xs]
        # the window rows any member of this block uses (few: about nb / scale + 2)
        y_lo, y_hi = rows.lr_start - r0, rows.lr_stop - r0
        rows_used = window[y_lo:y_hi]
        # per x shift: (LR row, output column) -> precomputed value + column term, computed once
        per_x = [torch.index_select(rows_used, 1, a.index - c0).add_(ax[j][None]) for j, a in enumerate(xs)]
        iy = [a.index - r0 - y_lo for a in ys]
        z = torch.empty((len(members), nb, mb, d), dtype=self.dtype, device=self.device)
        for m, (i, j) in enumerate(members):
            torch.index_select(per_x[j], 0, iy[i], out=z[m])   # contiguous (mb, d) slabs per output row
            z[m] += ay[i][:, None, :]
        del per_x
        x = self._mlp_tail(z.view(len(members) * nb * mb, d).relu_())
        preds = x.to(torch.float32).view(len(members), nb, mb, -1).unbind(0)
        skip = None
        if self.image is not None:
            skip = skip_on_grid(self.image, rows.centres, cols.centres).to(self.device)
        return ensemble_output(preds, ys, xs, grid=True, skip=skip)

    def _mlp_tail(self, x: torch.Tensor) -> torch.Tensor:
        """Layers 2..L of the INN on ReLU'd first-layer activations ``(M, D)``."""
        n = len(self.layers)
        if self._packed is not None:
            for packed in self._packed:
                x = torch.ops.quantized.linear_relu_dynamic(x, packed, True)  # ReLU fused; reduce_range for fbgemm
            w, b = self.layers[-1]
            return torch.addmm(b, x, w.t())
        for k, (w, b) in enumerate(self.layers):
            x = torch.addmm(b, x, w.t())
            if k < n - 1:
                x.relu_()
        return x


class LIIFPointDecoder:
    """A :class:`~.decoder.GridDecoder` for LIIFs whose INN the fast path does not know: caches
    the encoder features themselves and evaluates :meth:`LIIF.query` at the block's pixel
    centres, on features of the whole image (float32)."""

    dtype = torch.float32

    def __init__(self, model: LIIF, image: torch.Tensor, device: torch.device | str):
        self.model = model
        self.device = torch.device(device)
        self.channels = model.encoder.out_dim
        self.image = normalise(image.to(self.device, torch.float32))

    def precompute(self, feat: torch.Tensor) -> torch.Tensor:
        return feat.to(torch.float32)

    def plan_axis(self, centres: torch.Tensor, n_lr: int) -> LIIFGridAxis:
        return LIIFGridAxis(centres.to(torch.float32), [], n_lr, whole=True)

    def decode(self, window: torch.Tensor, r0: int, c0: int, rows: LIIFGridAxis, cols: LIIFGridAxis,
               cell: torch.Tensor) -> torch.Tensor:
        if (r0, c0) != (0, 0) or tuple(window.shape[:2]) != (rows.n_lr, cols.n_lr):
            raise ValueError("LIIFPointDecoder needs the features of the whole image")
        feats = Features(window.permute(2, 0, 1).unsqueeze(0).contiguous(), self.image)
        nb, mb = len(rows), len(cols)
        coords = torch.stack(torch.meshgrid(rows.centres, cols.centres, indexing="ij"), dim=-1)
        coords = coords.reshape(1, nb * mb, 2).to(self.device)
        cells = cell.to(self.device, torch.float32).expand(1, nb * mb, 2)
        return self.model.query(feats, coords, cells)[0].view(nb, mb, 3)




@registry.register_generator("liif")
def liif_spec(encoder: str = "edsr-baseline", hidden: int = 256, n_hidden: int = 4,
              image_skip: bool = False, encoder_args: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The paper's LIIF spec: ``encoder`` (``edsr-baseline`` or ``rdn``) + 5-layer MLP, hidden 256."""
    args = {
        "encoder_spec": encoder_spec(encoder, encoder_args),
        "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [hidden] * n_hidden}},
    }
    if image_skip:  # left out when off: the official checkpoints' spec, exactly
        args["image_skip"] = True
    return {"name": "liif", "args": args}
