"""The LIIF query for grids of output pixels, with the first INN layer precomputed.

LIIF's INN sees, per ensemble member, ``[unfold3x3(feat)[n], rel, cell]`` (``n`` the chosen
low-resolution pixel, ``rel``/``cell`` in units of LR pixels). Its first layer is linear, so
it splits into

* a *feature part* ``W_f . unfold(feat)[n]``: a 3x3 convolution of the feature map, computed
  once per LR pixel (:meth:`GridDecoder.project`, cached by :mod:`.features`);
* a *coordinate part* ``W_rel . rel``, and on an output grid ``rel_y`` depends only on the
  output row and ``rel_x`` only on the column, so it is two small per-axis tables;
* a *cell part* ``W_cell . cell``, one constant per request.

Each output pixel then pays for a gather, two additions and the remaining layers only.
Everything else reproduces :meth:`cisr_zoom.core.models.liif.LIIF.query` exactly: the same
float32 nearest-neighbour selection (done by ``grid_sample`` on an index map, the very op the
reference uses), the same relative coordinates, area weights, cell scaling and image skip.

Precisions (see :func:`resolve_precision`): ``float32``; ``bfloat16``/``float16`` (weights,
precomputed features and activations in that type; meant for GPUs, and for CPUs with native
bf16); ``int8`` (CPU only: the hidden layers run as dynamically quantised int8 GEMMs through
PyTorch's fbgemm/x86 kernels, per-channel int8 weights, activations quantised per call; the
precomputed feature part and the area weighting stay float32).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..coords import make_cell, make_coord, pixel_centers
from ..errors import CisrError

PRECISIONS = ("float32", "bfloat16", "float16", "int8")
PRECISION_CHOICES = PRECISIONS + ("auto",)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "int8": torch.float32}


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN reports native bfloat16 support on this CPU (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def int8_available() -> bool:
    """Whether PyTorch's dynamically quantised int8 linear kernels (fbgemm/x86) are present."""
    try:
        engines = torch.backends.quantized.supported_engines
        return ("fbgemm" in engines or "x86" in engines) and hasattr(torch.ops.quantized, "linear_relu_dynamic")
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """Check ``precision`` against ``device``; ``auto`` picks the best reduced precision.

    ``auto``: CUDA -> bfloat16 where supported, else float16; MPS -> float16; CPU ->
    bfloat16 on CPUs with native bf16, else int8 when the quantised kernels exist, else float32.
    float16 is GPU-only (CUDA/MPS); int8 is CPU-only.
    """
    dev = torch.device(device)
    p = (precision or "float32").lower()
    if p == "auto":
        if dev.type == "cuda":
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        if dev.type == "mps":
            return "float16"
        if cpu_has_native_bf16():
            return "bfloat16"
        return "int8" if int8_available() else "float32"
    if p not in PRECISIONS:
        raise CisrError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISION_CHOICES)}")
    if p == "float16" and dev.type not in ("cuda", "mps"):
        raise CisrError("float16 rendering needs a GPU (cuda or mps); on the CPU use float32, bfloat16 or int8")
    if p == "int8" and (dev.type != "cpu" or not int8_available()):
        raise CisrError("int8 rendering is only available on the CPU with PyTorch's fbgemm/x86 kernels")
    return p


def compute_dtype(precision: str) -> torch.dtype:
    """The torch dtype that precomputed features and activations use for ``precision``."""
    return _DTYPES[precision]


# -- nearest-neighbour selection, exactly as LIIF.query does it --------------------------------

def ensemble_shifts(local_ensemble: bool) -> Tuple[List[int], float]:
    """Per-axis shifts (in half LR pixels) and the epsilon LIIF adds before picking neighbours."""
    return ([-1, 1], 1e-6) if local_ensemble else ([0], 0.0)


@dataclass(frozen=True)
class AxisNeighbours:
    """For one axis and one ensemble shift: the chosen LR index per output pixel and the
    relative coordinate ``(centre - lr_centre) * n_lr`` (float32, in units of half LR pixels)."""

    index: torch.Tensor   # (n,) int64
    rel: torch.Tensor     # (n,) float32


def axis_neighbours(centres: torch.Tensor, n_lr: int, shift: int, eps: float) -> AxisNeighbours:
    """Reproduce LIIF's per-axis neighbour choice for output pixel ``centres`` (float32, (n,)).

    LIIF shifts the coordinate by ``shift / n_lr + eps``, clamps it to ``(-1, 1)`` and samples the
    feature map with ``grid_sample(mode="nearest", align_corners=False)``. The index along one
    axis depends only on that axis' coordinate, so the same op on an ``n_lr x 1`` map of indices
    returns exactly the indices the reference uses.
    """
    c = centres.to(torch.float32).clone()
    c += shift * (1.0 / n_lr) + eps
    c.clamp_(-1 + 1e-6, 1 - 1e-6)
    index_map = torch.arange(n_lr, dtype=torch.float32, device=c.device).view(1, 1, n_lr, 1)
    grid = torch.stack([torch.zeros_like(c), c], dim=-1).view(1, 1, -1, 2)  # (x, y) = (0, c)
    idx = F.grid_sample(index_map, grid, mode="nearest", align_corners=False).view(-1).long()
    lr_centres = pixel_centers(n_lr, dtype=torch.float32, device=c.device)
    rel = (centres.to(torch.float32) - lr_centres[idx]) * float(n_lr)
    return AxisNeighbours(idx, rel)


# -- the decomposed INN ---------------------------------------------------------------------------

def supports_fast_path(model: nn.Module) -> bool:
    """Whether ``model`` is a LIIF whose INN is a plain Linear/ReLU stack (the paper's MLP)."""
    imnet = getattr(model, "imnet", None)
    layers = getattr(imnet, "layers", None)
    if not isinstance(layers, nn.Sequential) or not hasattr(model, "encoder"):
        return False
    mods = list(layers)
    if not mods or not isinstance(mods[0], nn.Linear) or not isinstance(mods[-1], nn.Linear):
        return False
    for i, m in enumerate(mods):
        want = nn.Linear if i % 2 == 0 else nn.ReLU
        if not isinstance(m, want):
            return False
    return True


class GridDecoder:
    """LIIF's INN split for grid queries (see the module docstring).

    Built from a LIIF in eval mode; tensors live on ``device``. :meth:`project` maps encoder
    features ``(1, C, h, w)`` to the first layer's feature part ``(1, D, h, w)`` (float32);
    :meth:`decode` evaluates a block of output pixels from an ``(R, C_, D)`` window of it.
    """

    def __init__(self, model: nn.Module, device: torch.device, precision: str = "float32"):
        if not supports_fast_path(model):
            raise ValueError("the fast path needs a LIIF with a Linear/ReLU INN")
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = compute_dtype(precision)
        self.local_ensemble = bool(model.local_ensemble)
        self.feat_unfold = bool(model.feat_unfold)
        self.cell_decode = bool(model.cell_decode)
        self.image_skip = bool(getattr(model, "image_skip", False))
        linears = [m for m in model.imnet.layers if isinstance(m, nn.Linear)]
        f32 = lambda t: t.detach().to(self.device, torch.float32).contiguous()  # noqa: E731
        feat_w, rel_w, cell_w, bias = model.first_layer_parts()
        self.hidden = feat_w.shape[0]
        self.feat_weight = f32(feat_w)                                              # (D, C, k, k)
        self.rel_weight = f32(rel_w.t())                                            # (2, D): rows y, x
        self.cell_weight = f32(cell_w.t()) if cell_w is not None else None
        self.bias1 = f32(bias) if bias is not None else torch.zeros(self.hidden, device=self.device)
        rest = linears[1:]
        self.layers = [(l.weight.detach().to(self.device, self.dtype).contiguous(),
                        (l.bias.detach() if l.bias is not None else torch.zeros(l.out_features))
                        .to(self.device, self.dtype)) for l in rest]
        self._packed = None
        if precision == "int8":
            self._packed = [_pack_int8(l.weight.detach().cpu(), l.bias.detach().cpu() if l.bias is not None else None)
                            for l in rest[:-1]]
            last = rest[-1]
            self.layers = self.layers[:-1] + [(last.weight.detach().float().contiguous(),
                                               last.bias.detach().float() if last.bias is not None
                                               else torch.zeros(last.out_features))]

    # -- per LR pixel ------------------------------------------------------------------------
    def project(self, feat: torch.Tensor) -> torch.Tensor:
        """First-layer feature part of every LR pixel: ``(1, C, h, w) -> (1, D, h, w)`` float32.

        With 3x3 unfolding this is a 3x3 convolution with zero padding, which at the true image
        border equals LIIF's zero-padded ``F.unfold``.
        """
        pad = 1 if self.feat_unfold else 0
        return F.conv2d(feat.to(torch.float32), self.feat_weight, padding=pad)

    # -- per output block --------------------------------------------------------------------
    def decode(self, window: torch.Tensor, r0: int, c0: int, lr_size: Tuple[int, int],
               ys: Sequence[AxisNeighbours], xs: Sequence[AxisNeighbours], cell: torch.Tensor,
               skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        """RGB ``(nb, mb, 3)`` float32 (unclamped) for a block of output pixels.

        ``window``: ``(R, C, D)`` feature parts of LR pixels ``[r0, r0+R) x [c0, c0+C)`` in
        :attr:`dtype`. ``ys``/``xs``: per ensemble shift, the block's :class:`AxisNeighbours`
        for its rows/columns. ``cell``: ``(2,)`` float32 output pixel size in ``[-1, 1]`` units.
        ``skip``: ``(nb, mb, 3)`` bilinear samples of the normalised input (image skip) or None.
        """
        h, w = lr_size
        nb, mb = ys[0].index.numel(), xs[0].index.numel()
        q = nb * mb
        d = window.shape[-1]
        const = self.bias1
        if self.cell_decode:
            scaled = cell.to(torch.float32) * torch.tensor([h, w], dtype=torch.float32, device=cell.device)
            const = const + scaled.to(self.device) @ self.cell_weight
        ay = [(a.rel.to(self.device)[:, None] * self.rel_weight[0] + const).to(self.dtype) for a in ys]
        ax = [(a.rel.to(self.device)[:, None] * self.rel_weight[1]).to(self.dtype) for a in xs]
        members = [(i, j) for i in range(len(ys)) for j in range(len(xs))]
        # the window rows any member of this block uses (few: about nb / scale + 2)
        y_lo = min(int(a.index.min()) for a in ys) - r0
        y_hi = max(int(a.index.max()) for a in ys) - r0 + 1
        rows_used = window[y_lo:y_hi]
        # per x shift: (LR row, output column) -> feature part + column term, computed once
        per_x = [torch.index_select(rows_used, 1, a.index.to(self.device) - c0).add_(ax[j][None])
                 for j, a in enumerate(xs)]
        iy = [a.index.to(self.device) - r0 - y_lo for a in ys]
        z = torch.empty((len(members), nb, mb, d), dtype=self.dtype, device=self.device)
        for m, (i, j) in enumerate(members):
            torch.index_select(per_x[j], 0, iy[i], out=z[m])   # contiguous (mb, d) slabs per output row
            z[m] += ay[i][:, None, :]
        del per_x
        x = z.view(len(members) * q, d)
        x = self._mlp_tail(x.relu_())
        pred = x.to(torch.float32).view(len(members), nb, mb, -1)
        if len(members) == 1:
            out = pred[0]
        else:
            # weight of member m: area of the rectangle of the diagonally opposite member
            areas = [(ys[i].rel.to(self.device)[:, None] * xs[j].rel.to(self.device)[None, :]).abs_() + 1e-9
                     for i, j in members]
            areas = areas[::-1]
            total = areas[0] + areas[1] + areas[2] + areas[3]
            out = pred[0] * (areas[0] / total).unsqueeze(-1)
            for m in range(1, 4):
                out = out + pred[m] * (areas[m] / total).unsqueeze(-1)
        if skip is not None:
            out = out + skip.to(out.device, torch.float32)
        return out * 0.5 + 0.5

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


def _pack_int8(weight: torch.Tensor, bias: Optional[torch.Tensor]):
    """Per-output-channel symmetric int8 weights, prepacked for ``quantized::linear_dynamic``."""
    w = weight.float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wq = torch.quantize_per_channel(w, scale.double(), torch.zeros_like(scale, dtype=torch.long), 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(wq, None if bias is None else bias.float())


# -- the reference ------------------------------------------------------------------------------

def reference_query(model: nn.Module, image: torch.Tensor, region, out_size, chunk_size: int = 30000,
                    features=None) -> torch.Tensor:
    """The straightforward method: encode the whole image, then ``LIIF.query`` on every output
    pixel centre in chunks of ``chunk_size`` coordinates. ``image``: ``(1, 3, h, w)`` in
    ``[0, 1]``. Returns ``(H, W, 3)`` float32, unclamped."""
    H, W = out_size
    with torch.no_grad():
        feats = features if features is not None else model.encode(image)
        dev = feats.feat.device
        coords = make_coord((H, W), region, device=dev).unsqueeze(0)
        cells = make_cell((H, W), region, n=H * W, device=dev).unsqueeze(0)
        return model.query(feats, coords, cells, chunk_size=chunk_size)[0].view(H, W, 3)
