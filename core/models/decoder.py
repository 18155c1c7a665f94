"""The decoder interface: what the renderer and the trainer need from an implicit image decoder.

A decoder family (LIIF today) implements :class:`ImplicitDecoder`; render/ and train/ use only
this interface and the model's :class:`ModelDescriptor`, so another family plugs in by adding
one module under ``core/models/`` (registered in :mod:`.registry`), without touching them.

Conventions (see :mod:`cisr_zoom.core.coords`):

* Images are RGB ``float32`` in ``[0, 1]``, channels first ``(B, 3, h, w)``; ``h x w`` is the
  low-resolution (LR) input.
* Coordinates are ``(y, x)`` in the continuous image ``[-1, 1]^2`` (``-1`` = top/left edge);
  LR pixel ``i`` of ``n`` has its centre at ``-1 + (2 i + 1) / n``.
* A *cell* is the size of one output pixel in the same units, ``(2 / H, 2 / W)`` for an
  ``H x W`` output of the whole image.
* Outputs are RGB in ``[0, 1]`` up to the model's error: decoders do not clamp.

The pipeline has three stages:

1. :meth:`ImplicitDecoder.encode`: LR image -> :class:`Features` (one vector per LR pixel).
2. :meth:`ImplicitDecoder.precompute`: encoder features -> the per-LR-pixel values the query
   needs (``D`` channels per LR pixel; for LIIF, the INN's first layer applied to the unfolded
   feature). The renderer caches these in LR tiles (:mod:`cisr_zoom.core.render.features`),
   encoded from input crops grown by :attr:`ModelDescriptor.receptive_radius` pixels (the halo):
   a precomputed value at an LR pixel depends on the input within that radius only.
3. Decoding, in chunks of output points: :meth:`ImplicitDecoder.query` at arbitrary points
   (reference and training; differentiable, optionally from precomputed values), or, for whole
   output grids, a :class:`GridDecoder` from :meth:`ImplicitDecoder.grid_decoder` (rendering;
   no gradients; any of the descriptor's precisions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol, Tuple, runtime_checkable

import torch

#: display names of the model families this project trains (others are shown as they are)
FAMILY_LABELS = {"liif": "LIIF", "cisrgan": "CiSRGAN", "lmf": "LM-LIIF"}


@dataclass(frozen=True)
class ModelDescriptor:
    """What a loaded model is and can do, described once.

    ``architecture``: the registry name of the decoder (``"liif"``): which query kernel runs.
    ``family``: how it was trained (``"liif"``, ``"cisrgan"``), from the checkpoint's ``meta``
    (``stage``) or else its spec; never from a file name.
    ``display_name``: e.g. ``"CiSRGAN (EDSR-baseline)"``.
    ``fast_path``: whether :meth:`ImplicitDecoder.precompute` exists for this model (training
    passes precomputed values to :meth:`ImplicitDecoder.query`; the renderer's
    :class:`GridDecoder` uses them); without it the model is rendered through ``query``.
    ``receptive_radius``: input pixels (LR) a precomputed value depends on, on each side: the
    halo of encoded tiles; ``None`` when unknown (the image is then encoded whole).
    ``precisions``: the precisions its grid decoder renders in (:mod:`cisr_zoom.core.precision`).
    ``auto_cpu_reduced``: whether precision ``auto`` may pick a reduced precision on the CPU;
    False where the grid decoder measured slower in bfloat16 than in float32 there (LM-LIIF's
    16-wide layers, ``cisr bench --only lm_decoder``).
    """

    architecture: str
    family: str
    display_name: str
    fast_path: bool
    receptive_radius: Optional[int]
    precisions: Tuple[str, ...]
    auto_cpu_reduced: bool = True


def display_name(family: str, components: str = "") -> str:
    """``("cisrgan", "EDSR-baseline")`` -> ``"CiSRGAN (EDSR-baseline)"``."""
    head = FAMILY_LABELS.get(family, family)
    return f"{head} ({components})" if components else head


@runtime_checkable
class AxisPlan(Protocol):
    """One axis of an output grid, as a :class:`GridDecoder` plans it (opaque to the renderer).

    ``lr_start``/``lr_stop``: the LR pixels ``[lr_start, lr_stop)`` along this axis whose
    precomputed values the planned output pixels use.
    """

    lr_start: int
    lr_stop: int

    def __len__(self) -> int:
        """Output pixels planned."""

    def part(self, start: int, stop: int) -> "AxisPlan":
        """The plan of output pixels ``[start, stop)`` of this axis."""


@runtime_checkable
class GridDecoder(Protocol):
    """Renders blocks of an output grid from cached precomputed values (no gradients).

    Bound to one image, device and precision. ``dtype``: the dtype of cached values;
    ``channels``: ``D``, values per LR pixel.
    """

    dtype: torch.dtype
    channels: int

    def precompute(self, feat: torch.Tensor) -> torch.Tensor:
        """Encoder features ``(1, C, h', w')`` of an input crop -> ``(1, D, h', w')`` (what the
        tile cache stores, cast to :attr:`dtype` by the caller)."""

    def plan_axis(self, centres: torch.Tensor, n_lr: int) -> AxisPlan:
        """Plan one axis: ``centres`` ``(n,)`` float32 output pixel centres in ``[-1, 1]``
        (rows: y, columns: x) over an axis of ``n_lr`` LR pixels."""

    def decode(self, window: torch.Tensor, r0: int, c0: int, rows: AxisPlan, cols: AxisPlan,
               cell: torch.Tensor) -> torch.Tensor:
        """RGB ``(len(rows), len(cols), 3)`` float32, unclamped, for the block ``rows x cols``.

        ``window``: ``(R, C, D)`` precomputed values of LR pixels ``[r0, r0+R) x [c0, c0+C)``,
        covering ``[rows.lr_start, rows.lr_stop) x [cols.lr_start, cols.lr_stop)``;
        ``cell``: ``(2,)`` float32 output pixel size in ``[-1, 1]`` units.
        """


@runtime_checkable
class ImplicitDecoder(Protocol):
    """An encoder plus an implicit decoder (an ``nn.Module``); see the module docstring."""

    def describe(self, family: Optional[str] = None) -> ModelDescriptor:
        """The model's descriptor; ``family`` (from the checkpoint) overrides the default."""

    def encode(self, image: torch.Tensor) -> Any:
        """``(B, 3, h, w)`` RGB in ``[0, 1]`` -> features; ``.feat`` is ``(B, C, h, w)``."""

    def precompute(self, feat: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` encoder features -> ``(B, D, h, w)`` per-LR-pixel values
        (differentiable; only when the descriptor's ``fast_path``)."""

    def query(self, features: Any, coords: torch.Tensor, cells: Optional[torch.Tensor] = None,
              chunk_size: Optional[int] = None,
              precomputed: Optional[torch.Tensor] = None) -> torch.Tensor:
        """RGB ``(B, Q, 3)`` at ``coords`` ``(B, Q, 2)`` with ``cells`` ``(B, Q, 2)``.

        ``chunk_size`` bounds the points evaluated at once (the result does not depend on it);
        ``precomputed`` (from :meth:`precompute` of ``features.feat``) gives the same values
        with less work. Differentiable.
        """

    def grid_decoder(self, image: torch.Tensor, device: torch.device, precision: str) -> GridDecoder:
        """A :class:`GridDecoder` for ``image`` ``(1, 3, h, w)`` in ``[0, 1]`` (CPU) on ``device``."""
