"""LM-LIIF: a latent modulated function decoder (He & Jin, "Latent Modulated Function for
Computational Optimal Continuous Image Representation", CVPR 2024), on LIIF's encoders.

LIIF runs a wide MLP (5 layers, width 256) for every output (HR) pixel. LMF moves that width to
the LR pixels: a *latent MLP* runs once per LR feature vector (3x3-unfolded encoder features,
plus the cell) and outputs *modulations*, a scale and a shift per hidden layer of a small
*render MLP* (LM-LIIF: 6 hidden layers of width 16), and optionally a compressed latent code
(``mod_input``) that is the render MLP's input instead of the encoder feature. Each HR pixel
then costs only the render MLP, evaluated like LIIF with the 4-neighbour local ensemble:
input ``[latent or feature of the neighbour, rel (2), cell (2)]`` in LR-pixel units, hidden
layer ``k`` output ``(W_k x + b_k) * (1 + scale_k) + shift_k`` (before its ReLU), member outputs
blended with LIIF's area weights (:func:`.ensemble.ensemble_output`).

Conventions are LIIF's (:mod:`cisr_zoom.core.coords`, :mod:`.ensemble`): coordinates ``(y, x)`` in
``[-1, 1]``, cells in the same units, RGB in ``[0, 1]`` normalised by ``(x - 0.5) / 0.5``.

Modulation channels per LR pixel, as in the official checkpoints: ``[scales of layers 0..d-1
(d * width), shifts of layers 0..d-1 (d * width), latent code (width, with mod_input)]``
(without scale or shift modulation, that block is absent).

**The cell.** The official latent MLP takes the cell of the first query point of each image
as input (all points share it on a uniform grid); so does :meth:`LMF.query`. Modulations
therefore depend on the output scale. What is cached per LR pixel
(:meth:`LMF.precompute`, the latent stage that :class:`~cisr_zoom.core.render.features.FeatureTiles`
stores) is the scale-independent part: the latent MLP's first layer applied to the unfolded
feature (a 3x3 convolution) plus its bias (and, without ``mod_input``, the encoder feature
itself). The rest of the latent MLP runs per render block on the LR pixels it uses.

Registered as ``lmliif`` (with the render MLP ``lmmlp``), the names of the official
checkpoints (``edsr-b_lm-liif.pth``), which load as they are. Implements
:class:`~.decoder.ImplicitDecoder`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import registry
from .decoder import ModelDescriptor, display_name
from .ensemble import (ENCODER_LABELS, AxisNeighbours, Features, LIIFGridAxis, cell_input, encode_image, encoder_spec,
                       ensemble_members, ensemble_neighbours, ensemble_output, grid_decoder_setup, skip_at_points,
                       skip_on_grid, unfold_features)

#: precisions the grid decoder renders in (int8 gains nothing on 16-wide layers)
LMF_PRECISIONS = ("float32", "bfloat16", "float16")


@registry.register("lmmlp")
class ModulatedMLP(nn.Module):
    """The render MLP: ``hidden_depth`` Linear+ReLU layers of width ``hidden_dim``, then a
    Linear to ``out_dim``; hidden layer ``k``'s output is modulated before its ReLU by
    ``* (1 + scale_k) + shift_k``. Argument names follow the official checkpoints
    (``mod_up_merge`` is a GPU-memory option of the official code, accepted and unused)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, hidden_depth: int,
                 mod_scale: bool = True, mod_shift: bool = True, mod_up_merge: bool = False, use_conv: bool = False):
        super().__init__()
        if use_conv:
            raise ValueError("lmmlp with use_conv=True (1x1 convolutions) is not supported")
        if hidden_depth < 1 or hidden_dim < 1:
            raise ValueError("lmmlp needs hidden_depth >= 1 and hidden_dim >= 1")
        self.hidden_dim, self.hidden_depth = int(hidden_dim), int(hidden_depth)
        self.mod_scale, self.mod_shift = bool(mod_scale), bool(mod_shift)
        layers: List[nn.Module] = []
        last = in_dim
        for _ in range(hidden_depth):
            layers += [nn.Linear(last, hidden_dim), nn.ReLU()]
            last = hidden_dim
        layers.append(nn.Linear(last, out_dim))
        self.layers = nn.Sequential(*layers)

    @property
    def mod_dim(self) -> int:
        """Modulation channels: ``hidden_depth * hidden_dim`` per modulated quantity."""
        return self.hidden_depth * self.hidden_dim * (int(self.mod_scale) + int(self.mod_shift))

    def linears(self) -> List[nn.Linear]:
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def split_modulations(self, mod: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """``mod`` ``(..., >= mod_dim)`` -> ``(scale, shift)``, each ``(..., depth, width)`` or None."""
        n = self.hidden_depth * self.hidden_dim
        shape = mod.shape[:-1] + (self.hidden_depth, self.hidden_dim)
        scale = mod[..., :n].reshape(shape) if self.mod_scale else None
        off = n if self.mod_scale else 0
        shift = mod[..., off:off + n].reshape(shape) if self.mod_shift else None
        return scale, shift

    def forward(self, x: torch.Tensor, mod: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x`` ``(..., in_dim)``, ``mod`` ``(..., >= mod_dim)`` per point -> ``(..., out_dim)``."""
        scale, shift = self.split_modulations(mod) if mod is not None else (None, None)
        lin = self.linears()
        for k, layer in enumerate(lin[:-1]):
            x = layer(x)
            if scale is not None:
                x = x * (1.0 + scale[..., k, :])
            if shift is not None:
                x = x + shift[..., k, :]
            x = torch.relu(x)
        return lin[-1](x)


def _plain_mlp(module: nn.Module) -> bool:
    layers = getattr(module, "layers", None)
    if not isinstance(layers, nn.Sequential) or len(layers) == 0 or len(layers) % 2 == 0:
        return False
    return all(isinstance(m, nn.Linear if k % 2 == 0 else nn.ReLU) for k, m in enumerate(layers))


@registry.register("lmliif")
class LMF(nn.Module):
    """LM-LIIF (see the module docstring). ``imnet_spec``: the render MLP (``lmmlp``);
    ``hypernet_spec``: the latent MLP (``mlp``, a Linear/ReLU stack; its ``in_dim`` and
    ``out_dim`` are set here). ``image_skip`` (off by default, so official checkpoints stay
    exact) adds LIIF's bilinear image skip."""

    def __init__(self, encoder_spec: Dict[str, Any], imnet_spec: Optional[Dict[str, Any]] = None,
                 hypernet_spec: Optional[Dict[str, Any]] = None, local_ensemble: bool = True,
                 feat_unfold: bool = True, cell_decode: bool = True, mod_input: bool = False,
                 image_skip: bool = False):
        super().__init__()
        if imnet_spec is None or hypernet_spec is None:
            raise ValueError("lmliif needs an imnet_spec (render MLP) and a hypernet_spec (latent MLP)")
        self.local_ensemble, self.feat_unfold, self.cell_decode = local_ensemble, feat_unfold, cell_decode
        self.mod_input, self.image_skip = bool(mod_input), bool(image_skip)
        self.encoder_name = str(encoder_spec.get("name", ""))
        self.encoder = registry.make(encoder_spec)
        c = self.encoder.out_dim
        r_args = dict(imnet_spec.get("args") or {})
        width = int(r_args["hidden_dim"])
        in_r = (width if self.mod_input else c) + 2 + (2 if cell_decode else 0)
        self.imnet: ModulatedMLP = registry.make(imnet_spec, args={"in_dim": in_r, "mod_up_merge": False})
        if not isinstance(self.imnet, ModulatedMLP):
            raise ValueError("lmliif's imnet_spec must be an lmmlp")
        self.mod_dim = self.imnet.mod_dim
        in_h = c * (9 if feat_unfold else 1) + (2 if cell_decode else 0)
        out_h = self.mod_dim + (width if self.mod_input else 0)
        self.hypernet = registry.make(hypernet_spec, args={"in_dim": in_h, "out_dim": out_h})
        if not _plain_mlp(self.hypernet):
            raise ValueError("lmliif's hypernet_spec must be an mlp (Linear/ReLU layers)")

    # -- description -----------------------------------------------------------------------
    def describe(self, family: Optional[str] = None) -> ModelDescriptor:
        """Architecture ``lmf``; family ``lmf`` unless the checkpoint's stage says otherwise.
        Halo: the encoder's receptive radius plus one for the 3x3 unfolding. ``auto`` stays
        float32 on the CPU: bf16 measured about 2x slower than float32 there for this decoder
        (AVX512-BF16 CPU, BENCHMARKS.md)."""
        fam = family or "lmf"
        enc = ENCODER_LABELS.get(self.encoder_name, self.encoder_name)
        return ModelDescriptor(
            architecture="lmf", family=fam,
            display_name=display_name(fam, enc if fam == "lmf" else f"LM, {enc}"),
            fast_path=True, receptive_radius=int(self.encoder.receptive_radius) + (1 if self.feat_unfold else 0),
            precisions=LMF_PRECISIONS, auto_cpu_reduced=False)

    @property
    def latent_width(self) -> int:
        """Channels of the latent MLP's first layer (what :meth:`precompute` gives first)."""
        return self.hypernet.layers[0].out_features

    # -- encoder and latent stage ------------------------------------------------------------
    def encode(self, image: torch.Tensor) -> Features:
        """``image``: ``(B, 3, h, w)`` RGB in ``[0, 1]``."""
        return encode_image(self.encoder, image)

    def unfold(self, feat: torch.Tensor) -> torch.Tensor:
        """3x3 feature unfolding (zero padding at the border), or ``feat`` itself if disabled."""
        return unfold_features(feat) if self.feat_unfold else feat

    def latent_first_layer(self):
        """The latent MLP's first layer split by its inputs: ``(feat_weight (D, C, k, k),
        cell_weight (D, 2) or None, bias (D,) or None)`` (views of the parameters)."""
        first = self.hypernet.layers[0]
        c, k = self.encoder.out_dim, (3 if self.feat_unfold else 1)
        w = first.weight
        nf = c * k * k
        cell_w = w[:, nf:nf + 2] if self.cell_decode else None
        return w[:, :nf].reshape(w.shape[0], c, k, k), cell_w, first.bias

    def precompute(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, D, h, w)``: the latent MLP's first layer on the unfolded features plus its bias
        (a 3x3 convolution, zero padding as ``F.unfold``), then, without ``mod_input``, the
        encoder features themselves. Scale-independent: what the renderer caches."""
        w, _, b = self.latent_first_layer()
        pre = F.conv2d(feat, w.to(feat.dtype), None if b is None else b.to(feat.dtype), padding=w.shape[-1] // 2)
        return pre if self.mod_input else torch.cat([pre, feat], dim=1)

    def modulations_from_precomputed(self, pre: torch.Tensor, cell_in: Optional[torch.Tensor]) -> torch.Tensor:
        """Channels-last ``pre`` ``(..., D)`` (:meth:`precompute`'s values) and the cell input
        ``(..., 2)`` (LR-pixel units, broadcastable) -> modulations ``(..., M)`` (see the module
        docstring; without ``mod_input`` the encoder feature is appended as the last ``C``)."""
        d = self.latent_width
        x = pre[..., :d]
        if cell_in is not None:
            _, cell_w, _ = self.latent_first_layer()
            x = x + cell_in.to(x.dtype) @ cell_w.t().to(x.dtype)
        mod = self.hypernet.layers[1:](x) if len(self.hypernet.layers) > 1 else x
        return mod if self.mod_input else torch.cat([mod, pre[..., d:]], dim=-1)

    def _image_cell(self, cells: Optional[torch.Tensor], lr_size: Tuple[int, int]) -> Optional[torch.Tensor]:
        """The latent MLP's cell input per image ``(B, 2)``: the first query point's cell."""
        if not self.cell_decode:
            return None
        return cell_input(cells[:, 0], lr_size)

    # -- query ----------------------------------------------------------------------------
    def query(self, features: Features, coords: torch.Tensor, cells: Optional[torch.Tensor] = None,
              chunk_size: Optional[int] = None, precomputed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """RGB ``(B, Q, 3)`` at ``coords`` ``(B, Q, 2)`` with ``cells`` ``(B, Q, 2)``.

        Without ``precomputed`` the latent MLP runs on the unfolded features as in the paper
        (reference); with ``precomputed = self.precompute(features.feat)`` it starts from the
        cached first layer (same values up to float rounding). Differentiable."""
        if self.cell_decode and cells is None:
            raise ValueError("this model decodes cells: pass cells")
        b, c, h, w = features.feat.shape
        cell_in = self._image_cell(cells, (h, w))                                        # (B, 2)
        if precomputed is None:
            rich = self.unfold(features.feat).permute(0, 2, 3, 1)                      # (B, h, w, 9C)
            if cell_in is not None:
                rich = torch.cat([rich, cell_in[:, None, None, :].expand(b, h, w, 2)], dim=-1)
            mod = self.hypernet(rich)
            if not self.mod_input:
                mod = torch.cat([mod, features.feat.permute(0, 2, 3, 1)], dim=-1)
        else:
            mod = self.modulations_from_precomputed(precomputed.permute(0, 2, 3, 1),
                                                    None if cell_in is None else cell_in[:, None, None, :])
        table = mod.reshape(b * h * w, -1)                                              # (B*h*w, M)
        q = coords.shape[1]
        step = q if chunk_size is None or chunk_size >= q else chunk_size
        outs = []
        for i in range(0, q, step):
            cc = cells[:, i:i + step] if cells is not None else None
            outs.append(self._query(table, (h, w), features.image, coords[:, i:i + step], cc))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _query(self, table: torch.Tensor, lr_size: Tuple[int, int], image: torch.Tensor,
               coords: torch.Tensor, cells: Optional[torch.Tensor]) -> torch.Tensor:
        h, w = lr_size
        b, q = coords.shape[:2]
        ys = ensemble_neighbours(coords[..., 0], h, self.local_ensemble)
        xs = ensemble_neighbours(coords[..., 1], w, self.local_ensemble)
        offset = (torch.arange(b, device=coords.device) * (h * w)).unsqueeze(1)
        extra = [cell_input(cells, lr_size)] if self.cell_decode else []
        preds = []
        for i, j in ensemble_members(ys, xs):
            pix = ys[i].index * w + xs[j].index + offset                                  # (B, Q)
            m = table.index_select(0, pix.reshape(-1)).view(b, q, -1)
            latent = m[..., self.mod_dim:]
            rel = torch.stack([ys[i].rel, xs[j].rel], dim=-1)
            preds.append(self.imnet(torch.cat([latent, rel.to(m.dtype)] + [e.to(m.dtype) for e in extra], dim=-1),
                                    m[..., :self.mod_dim]))
        skip = skip_at_points(image, coords) if self.image_skip else None
        return ensemble_output(preds, ys, xs, skip=skip)

    def forward(self, image: torch.Tensor, coords: torch.Tensor, cells: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.query(self.encode(image), coords, cells)

    # -- rendering -------------------------------------------------------------------------
    def grid_decoder(self, image: torch.Tensor, device: torch.device | str, precision: str = "float32"):
        """A :class:`LMFGridDecoder` for ``image`` ``(1, 3, h, w)`` in ``[0, 1]`` (model on ``device``)."""
        return LMFGridDecoder(self, image, device, precision)


# -- grid decoding (rendering) ------------------------------------------------------------------

@dataclass(frozen=True)
class AxisRuns:
    """One axis of one ensemble shift grouped by LR pixel: the output pixels using LR pixel
    ``lr[r]`` are run ``r``; runs are padded to ``length`` slots. ``rel`` ``(runs, length)``
    relative coordinates (padding 0); ``out_index`` ``(n,)`` the padded position
    ``run * length + slot`` of each output pixel."""

    lr: torch.Tensor
    length: int
    rel: torch.Tensor
    out_index: torch.Tensor


def axis_runs(a: AxisNeighbours) -> AxisRuns:
    """Group an axis' output pixels by the LR pixel they use (indices are non-decreasing along
    an output grid axis, so equal indices are consecutive)."""
    lr, counts = torch.unique_consecutive(a.index, return_counts=True)
    length = int(counts.max())
    run = torch.repeat_interleave(torch.arange(lr.numel(), device=lr.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(a.index.numel(), device=lr.device) - starts[run]
    rel = torch.zeros(lr.numel() * length, dtype=a.rel.dtype, device=lr.device)
    pos = run * length + slot
    rel[pos] = a.rel
    return AxisRuns(lr, length, rel.view(lr.numel(), length), pos)


class LMFGridDecoder:
    """LM-LIIF on output grids (a :class:`~.decoder.GridDecoder`), organised by LR cell.

    Per block: the latent MLP's remaining layers run once on the LR pixels the block uses,
    and the modulations are folded into per-LR-pixel tables: layer 0 becomes
    ``P + rel_y * S_y + rel_x * S_x`` (``P = (W_lat z + b + W_cell c) (1 + s_0) + t_0``,
    ``S = (1 + s_0) W_rel``), layer ``k`` becomes ``(W_k x) * S_k + T_k`` (``S_k = 1 + s_k``,
    ``T_k = b_k S_k + t_k``). Per ensemble member the output pixels are grouped by the LR pixel
    they use (:func:`axis_runs`), so every table is broadcast over all HR pixels of its LR cell
    (no per-pixel gather of modulations) and each layer is one small GEMM plus one fused
    multiply-add over the block. Float32, bfloat16 or float16 activations; blending in float32.
    """

    def __init__(self, model: LMF, image: torch.Tensor, device: torch.device | str, precision: str = "float32"):
        if precision not in LMF_PRECISIONS:
            raise ValueError(f"LM-LIIF renders in {', '.join(LMF_PRECISIONS)}, not {precision}")
        grid_decoder_setup(self, model, image, device, precision)
        d = model.latent_width
        self.channels = d + (0 if model.mod_input else model.encoder.out_dim)
        f32 = lambda t: t.detach().to(self.device, torch.float32)  # noqa: E731
        lin = model.imnet.linears()
        w0 = f32(lin[0].weight)
        n_in = w0.shape[1] - 2 - (2 if self.cell_decode else 0)
        self.w0_latent, self.w0_rel = w0[:, :n_in], w0[:, n_in:n_in + 2]
        self.w0_cell = w0[:, n_in + 2:n_in + 4] if self.cell_decode else None
        self.b0 = f32(lin[0].bias)
        self.hidden = [(f32(l.weight), f32(l.bias)) for l in lin[1:-1]]
        # (out, in) weights used as transposed views: with these tiny shapes, torch.mm on a
        # transposed view was ~10x faster than on a contiguous (in, out) copy (1 thread, AVX-512)
        self.w_out = f32(lin[-1].weight).contiguous().to(self.dtype)          # (3, width)
        self.b_out = f32(lin[-1].bias).to(self.dtype)
        self.w_hidden = [w.contiguous().to(self.dtype) for w, _ in self.hidden]

    def precompute(self, feat: torch.Tensor) -> torch.Tensor:
        """``(1, C, h, w)`` -> ``(1, D, h, w)`` float32 (:meth:`LMF.precompute`)."""
        return self.model.precompute(feat.to(torch.float32))

    def plan_axis(self, centres: torch.Tensor, n_lr: int) -> LIIFGridAxis:
        members = [AxisNeighbours(a.index.to(self.device), a.rel.to(self.device))
                   for a in ensemble_neighbours(centres.to(torch.float32), n_lr, self.local_ensemble)]
        return LIIFGridAxis(centres, members, n_lr)

    def _tables(self, pre: torch.Tensor, cell_in: Optional[torch.Tensor]) -> List[torch.Tensor]:
        """Per-LR-pixel tables ``[P, S_y, S_x, S_1, T_1, ..., S_{d-1}, T_{d-1}]`` ``(R, C, width)``
        from precomputed values ``pre`` ``(R, C, D)``."""
        model = self.model
        mod = model.modulations_from_precomputed(pre.to(torch.float32), cell_in)
        scale, shift = model.imnet.split_modulations(mod[..., :model.mod_dim])     # (R, C, depth, width)
        latent = mod[..., model.mod_dim:]
        a = latent @ self.w0_latent.t() + self.b0
        if cell_in is not None:
            a = a + cell_in @ self.w0_cell.t()
        depth = model.imnet.hidden_depth
        s = [(1.0 + scale[..., k, :]) if scale is not None else None for k in range(depth)]
        t = [shift[..., k, :] if shift is not None else None for k in range(depth)]
        p0 = a * s[0] if s[0] is not None else a
        if t[0] is not None:
            p0 = p0 + t[0]
        sy = self.w0_rel[:, 0] * s[0] if s[0] is not None else self.w0_rel[:, 0].expand_as(a)
        sx = self.w0_rel[:, 1] * s[0] if s[0] is not None else self.w0_rel[:, 1].expand_as(a)
        out = [p0, sy, sx]
        for k, (_, b) in enumerate(self.hidden, start=1):
            sk = s[k] if s[k] is not None else torch.ones_like(a)
            tk = b * sk + (t[k] if t[k] is not None else 0.0)
            out += [sk, tk]
        return [x.to(self.dtype).contiguous() for x in out]

    def decode(self, window: torch.Tensor, r0: int, c0: int, rows: LIIFGridAxis, cols: LIIFGridAxis,
               cell: torch.Tensor) -> torch.Tensor:
        """RGB ``(nb, mb, 3)`` float32 (unclamped); see :meth:`~.decoder.GridDecoder.decode`."""
        ys, xs = rows.members, cols.members
        y_lo, x_lo = rows.lr_start - r0, cols.lr_start - c0
        sub = window[y_lo:rows.lr_stop - r0, x_lo:cols.lr_stop - c0]
        cell_in = None
        if self.cell_decode:
            cell_in = cell_input(cell.to(self.device, torch.float32), (rows.n_lr, cols.n_lr))
        tables = self._tables(sub, cell_in)
        ry = [axis_runs(a) for a in ys]
        rx = [axis_runs(a) for a in xs]
        preds = []
        for i, j in ensemble_members(ys, xs):
            preds.append(self._member(tables, ry[i], rx[j], rows.lr_start, cols.lr_start))
        skip = None
        if self.image is not None:
            skip = skip_on_grid(self.image, rows.centres, cols.centres).to(self.device)
        return ensemble_output(preds, ys, xs, grid=True, skip=skip)

    def _member(self, tables: Sequence[torch.Tensor], ay: AxisRuns, ax: AxisRuns, y0: int, x0: int) -> torch.Tensor:
        """One ensemble member's RGB ``(n, m, 3)`` float32 on the block."""
        iy, ix = ay.lr - y0, ax.lr - x0
        ky, kx, ly, lx = iy.numel(), ix.numel(), ay.length, ax.length
        width = tables[0].shape[-1]

        def cellwise(t):   # (R, C, width) -> (ky, 1, kx, 1, width): one value per LR cell
            return t.index_select(0, iy).index_select(1, ix).view(ky, 1, kx, 1, width)

        p0, sy, sx = (cellwise(t) for t in tables[:3])
        rel_y = ay.rel.to(self.dtype).view(ky, ly, 1, 1, 1)
        rel_x = ax.rel.to(self.dtype).view(1, 1, kx, lx, 1)
        x = torch.addcmul(torch.addcmul(p0, rel_y, sy), rel_x, sx)              # (ky, ly, kx, lx, width)
        shape = x.shape
        for k, w in enumerate(self.w_hidden):
            sk, tk = cellwise(tables[3 + 2 * k]), cellwise(tables[4 + 2 * k])
            y = torch.mm(x.view(-1, width).relu_(), w.t()).view(shape)
            x = torch.addcmul(tk, y, sk)
        out = torch.addmm(self.b_out, x.view(-1, width).relu_(), self.w_out.t()).view(ky * ly, kx * lx, -1)
        out = out.index_select(0, ay.out_index).index_select(1, ax.out_index)
        return out.to(torch.float32)


@registry.register_generator("lmf")
def lmf_spec(encoder: str = "edsr-baseline", hidden: int = 16, n_hidden: int = 6, image_skip: bool = False,
             encoder_args: Optional[Dict[str, Any]] = None, latent_hidden: Sequence[int] = (208,)) -> Dict[str, Any]:
    """The paper's LM-LIIF spec: ``encoder`` + latent MLP (``latent_hidden``: its hidden widths,
    208) + render MLP (``n_hidden`` = 6 modulated layers of width ``hidden`` = 16), scale and
    shift modulation, compressed latent input (``mod_input``). Training: ``network_g.type =
    "lmf"`` with ``hidden``/``n_hidden`` for the render MLP and ``args = {latent_hidden = [...]}``."""
    return {
        "name": "lmliif",
        "args": {
            "encoder_spec": encoder_spec(encoder, encoder_args),
            "imnet_spec": {"name": "lmmlp", "args": {"out_dim": 3, "hidden_dim": int(hidden),
                                                    "hidden_depth": int(n_hidden), "mod_scale": True,
                                                    "mod_shift": True}},
            "hypernet_spec": {"name": "mlp", "args": {"hidden_list": [int(v) for v in latent_hidden]}},
            "local_ensemble": True, "feat_unfold": True, "cell_decode": True, "mod_input": True,
            "image_skip": bool(image_skip),
        },
    }
