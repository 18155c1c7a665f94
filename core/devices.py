"""Device choice: ``auto`` picks CUDA when present, else Apple MPS, else the CPU.

:data:`DEVICE_CHOICES` is the one list of device names (CLI options, the app's Device menu);
torch is imported only when a device is looked up, so reading the list is cheap.
"""

from __future__ import annotations

from .errors import CisrError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


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
    must be available."""
    import torch
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise CisrError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}")
    if base not in available_devices():
        raise CisrError(f"device {name!r} is not available on this machine (available: {', '.join(available_devices())})")
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
