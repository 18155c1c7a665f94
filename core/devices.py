"""Device choice: ``auto`` picks CUDA when present, else Apple MPS, else the CPU.

:data:`DEVICE_CHOICES` is the one list of device kinds (the app's Device menu); a device name is
one of them or ``cuda:N`` (the N-th CUDA GPU). :func:`device_arg` is the one ``--device``
parser of every command (``cisr upscale/eval/bench/train``, ``cisr-zoom``): it checks the
spelling only, :func:`pick_device` checks that the device exists here. torch is imported only
when a device is looked up, so reading the list and parsing a name are cheap.
"""

from __future__ import annotations

import argparse
import re

from .errors import CisrError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
#: what ``--device`` takes, in words (help texts and errors)
DEVICE_HELP = "auto, cpu, cuda, cuda:N (the N-th CUDA GPU, from 0) or mps"
_DEVICE_RE = re.compile(r"(auto|cpu|mps|cuda)(?::(\d{1,3}))?")


def normalise_device(name: str) -> str:
    """``name`` lower-cased and checked for spelling (not for existence); raises
    :class:`CisrError` with one line otherwise."""
    text = str(name).strip().lower()
    m = _DEVICE_RE.fullmatch(text)
    if m is None or (m.group(2) is not None and m.group(1) != "cuda"):
        raise CisrError(f"unknown device {str(name)!r}: choose {DEVICE_HELP}")
    return f"cuda:{int(m.group(2))}" if m.group(2) is not None else m.group(1)


def device_arg(text: str) -> str:
    """``argparse`` type of ``--device``: the normalised name (see :func:`normalise_device`)."""
    try:
        return normalise_device(text)
    except CisrError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cuda_devices() -> list[tuple[str, str]]:
    """``[("cuda:0", "NVIDIA ..."), ...]``: the CUDA GPUs torch sees (empty without CUDA)."""
    import torch
    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        try:
            label = torch.cuda.get_device_name(i)
        except Exception:  # noqa: BLE001 - a name is cosmetic
            label = "CUDA GPU"
        out.append((f"cuda:{i}", label))
    return out


def available_devices() -> list[str]:
    import torch
    out = ["cpu"]
    if torch.cuda.is_available():
        out.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.insert(0, "mps")
    return out


def pick_device(name: str = "auto"):
    """``auto`` -> cuda, mps or cpu (first available), as a ``torch.device``; an explicit name
    (``cuda:N`` included) must be available, else :class:`CisrError` says what is."""
    import torch
    name = normalise_device(name or "auto")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base, _, index = name.partition(":")
    if base not in available_devices():
        raise CisrError(f"device {name!r} is not available on this machine (available: {', '.join(available_devices())})")
    if index:
        gpus = cuda_devices()
        if int(index) >= len(gpus):
            have = ", ".join(f"{n} ({label})" for n, label in gpus)
            raise CisrError(f"device {name!r} is not available: this machine has {len(gpus)} CUDA GPU"
                            f"{'s' if len(gpus) != 1 else ''} ({have})")
    return torch.device(name)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo`` on Linux; empty where unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


#: the flags that decide which CPU math paths are fast (reported beside every speed figure)
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


def speed_flags() -> list[str]:
    """Which of :data:`SPEED_FLAGS` this CPU has, in that order."""
    have = cpu_flags()
    return [f for f in SPEED_FLAGS if f in have]


def cpu_has_native_bf16() -> bool:
    """True where bfloat16 matrix products run in hardware (AVX512-BF16 or AMX-BF16); elsewhere
    torch emulates bf16 and it is slower than float32."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags
