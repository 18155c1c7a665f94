"""Numeric precisions a model can be rendered in, and which of them a device runs.

``float32``; ``bfloat16``/``float16`` (weights, precomputed features and activations in that
type; meant for GPUs, and for CPUs with native bf16); ``int8`` (CPU only: dynamically quantised
int8 GEMMs through PyTorch's fbgemm/x86 kernels, per-channel int8 weights, activations
quantised per call). Which precisions a *model* supports is part of its
:class:`~cisr_zoom.core.models.decoder.ModelDescriptor`.
"""

from __future__ import annotations

import warnings
from typing import Optional, Sequence

import torch

from .errors import CisrError

PRECISIONS = ("float32", "bfloat16", "float16", "int8")
#: ``auto`` only picks a precision whose output differs from float32 by less than this (max abs
#: RGB difference in ``[0, 1]``): half an 8-bit level, so the rounded 8-bit image barely changes
AUTO_MAX_ABS_ERROR = 0.002
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


def resolve_precision(precision: str, device: torch.device | str,
                      supported: Optional[Sequence[str]] = None, cpu_reduced: bool = True) -> str:
    """Check ``precision`` against ``device`` (and the model's ``supported`` precisions, if
    given); ``auto`` picks the fastest precision the device and the model both have whose error
    stays below :data:`AUTO_MAX_ABS_ERROR` on the bundled models (measured with ``cisr bench``,
    recorded in BENCHMARKS.md).

    ``auto``: CUDA -> bfloat16 where supported, else float16; MPS -> float16; CPU -> bfloat16 on
    CPUs with native bf16 (AVX512-BF16 / AMX) unless ``cpu_reduced`` is False (the model's
    descriptor says reduced precision is not faster there), else float32. int8 is never picked by ``auto``:
    on the bundled CiSRGAN its error (4.3e-3 max abs) exceeds the bound. float16 is GPU-only
    (CUDA/MPS); int8 is CPU-only.
    """
    dev = torch.device(device)
    allowed = tuple(supported) if supported is not None else PRECISIONS
    p = (precision or "float32").lower()
    if p == "auto":
        if dev.type == "cuda":
            wanted = ["bfloat16" if torch.cuda.is_bf16_supported() else "float16"]
        elif dev.type == "mps":
            wanted = ["float16"]
        else:
            wanted = ["bfloat16"] if cpu_reduced and cpu_has_native_bf16() else []
        return next((w for w in wanted if w in allowed), "float32")
    if p not in PRECISIONS:
        raise CisrError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISION_CHOICES)}")
    if p == "float16" and dev.type not in ("cuda", "mps"):
        raise CisrError("float16 rendering needs a GPU (cuda or mps); on the CPU use float32, bfloat16 or int8")
    if p == "int8" and (dev.type != "cpu" or not int8_available()):
        raise CisrError("int8 rendering is only available on the CPU with PyTorch's fbgemm/x86 kernels")
    if p not in allowed:
        raise CisrError(f"precision {p} is not supported by this model; it renders in {', '.join(allowed)}")
    return p


def compute_dtype(precision: str) -> torch.dtype:
    """The torch dtype that precomputed features and activations use for ``precision``."""
    return _DTYPES[precision]


def pack_int8(weight: torch.Tensor, bias: Optional[torch.Tensor]):
    """Per-output-channel symmetric int8 weights, prepacked for ``quantized::linear_dynamic``."""
    w = weight.float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wq = torch.quantize_per_channel(w, scale.double(), torch.zeros_like(scale, dtype=torch.long), 0, torch.qint8)
        return torch.ops.quantized.linear_prepack(wq, None if bias is None else bias.float())
