"""How the renderer runs a model's CNN encoder on this machine: the choice, made per CPU kind.

The encoder (EDSR-baseline: 34 3x3 convolutions of 64 channels) is most of the cost of a cold
view. Which way of running it is fastest depends on the CPU, so the choice is made at run time
from the CPU's kind (:func:`cpu_kind`, read from the CPU flags and oneDNN's own report) with
the per-kind results measured in BENCHMARKS.md ("Encoder options per CPU kind"):

* **channels-last** (NHWC) float32 convolutions: oneDNN's direct NHWC kernels, faster than
  NCHW on every CPU kind measured; the same values up to float rounding (about 1e-6).
* **bfloat16 weights and activations** where bf16 convolutions were measured faster than
  float32 channels-last: with AMX (``amx_bf16``: oneDNN's ``brg_conv_fwd:..._amx`` kernels),
  not with AVX512-BF16 alone. Only when the session renders in a reduced precision (``auto``
  there); "Exact (float32)" keeps a float32 encoder. The error this adds (63.7 dB PSNR against
  float32 on the sample photo with the bundled LIIF, at most 2 8-bit levels) is bounded in
  ``tests/core/render/test_encoder.py`` and measured in BENCHMARKS.md.
* **torch threads** (:func:`choose_threads`): every core other work leaves free when the session
  is made (:func:`other_load`: the 1-minute load average, bounded by other processes' tasks
  runnable at that moment; the render thread is the only one that computes, the GUI thread only
  paints). ``CISR_ZOOM_THREADS`` or ``OMP_NUM_THREADS`` fix it.
* the size of the encoder boxes of one render-thread step (:attr:`EncoderPlan.step_box`): a
  faster encoder affords larger boxes in the same time, which pay relatively less halo.

Not kept (measured, see BENCHMARKS.md): static int8 quantisation (x86 backend; 46.7 dB and up
to 25 8-bit levels off float32 on the sample photo), ONNX Runtime (float32 only; slower than
bf16 on AMX; 1.3x torch channels-last without AMX, but one ORT run cannot be cancelled between
layers, so it is not wired in), bf16 autocast on NCHW tensors (1.4x, against 4.1x channels-last).

Other devices (CUDA, MPS) and models whose encoder is not a plain ``encoder`` module run as
the model says, unchanged.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from ..devices import cpu_flags

#: encoder box side (LR pixels) of one render-thread step, by encoder speed class: about one
#: second of encoding on one loaded core either way (float32 144 + 2 x 34 halo; bf16 ~4x faster)
STEP_BOX_FLOAT32 = 144
STEP_BOX_BF16 = 240

#: CPU kinds, fastest bf16 first; see :func:`cpu_kind`
CPU_KINDS = ("amx", "avx512_bf16", "avx512", "avx2", "other")
#: CPU kinds whose bf16 encoder was measured faster than float32 channels-last (BENCHMARKS.md):
#: with AMX 2.6x; with AVX512-BF16 alone (oneDNN capped below AMX) bf16 was 0.82x, so not there
BF16_FASTER_KINDS = ("amx",)


def _onednn_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_kind(flags: Optional[frozenset] = None, onednn_bf16: Optional[bool] = None) -> str:
    """``amx`` (AMX-BF16 tiles), ``avx512_bf16`` (native bf16 dot products, no AMX), ``avx512``,
    ``avx2`` or ``other``. Native bf16 also needs oneDNN to report it (it does not where its
    ISA is capped, e.g. ``ONEDNN_MAX_CPU_ISA=AVX2``)."""
    flags = cpu_flags() if flags is None else flags
    bf16 = _onednn_bf16() if onednn_bf16 is None else onednn_bf16
    if bf16 and "amx_bf16" in flags:
        return "amx"
    if bf16 and "avx512_bf16" in flags:
        return "avx512_bf16"
    if "avx512f" in flags:
        return "avx512"
    if "avx2" in flags:
        return "avx2"
    return "other"


#: environment variables that fix the thread count; :func:`apply_threads` then leaves it alone
THREAD_ENV = ("CISR_ZOOM_THREADS", "OMP_NUM_THREADS")


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _own_running_threads(task_dir: str = "/proc/self/task") -> int:
    """Threads of this process that are runnable now (state ``R``), at least one (the caller)."""
    n = 0
    try:
        for tid in os.listdir(task_dir):
            try:
                with open(os.path.join(task_dir, tid, "stat"), encoding="ascii", errors="replace") as f:
                    n += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                continue
    except OSError:
        pass
    return max(1, n)


def running_others(samples: int = 5, interval_s: float = 0.01, path: str = "/proc/loadavg",
                   task_dir: str = "/proc/self/task") -> Optional[int]:
    """Tasks of other processes runnable right now: the median of ``samples`` readings of the
    running count in ``/proc/loadavg`` (which counts every runnable thread, this process's too)
    less this process's runnable threads (the median: a busy neighbour runs in nearly every
    reading, a passing shell command in one); ``None`` where there is no such file (not Linux)."""
    seen = []
    for i in range(max(1, samples)):
        try:
            with open(path, encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return None
        seen.append(running - _own_running_threads(task_dir))
        if i + 1 < samples:
            time.sleep(interval_s)
    return max(0, sorted(seen)[len(seen) // 2])


def other_load() -> float:
    """How many cores other work keeps busy: the 1-minute load average, but never more than the
    tasks runnable right now besides the caller (:func:`running_others`): the load average still
    counts this process's own work of the last minutes (a second ``cisr upscale`` right after a
    first would otherwise get one thread on an idle 2-core machine: measured 26.7 s against 13.3 s)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
    t = time.monotonic()
    if _RUNNING_SEEN and t - _RUNNING_SEEN[0] < RUNNING_REUSE_S:
        now = _RUNNING_SEEN[1]           # sessions made in a row (eval: one per image) read it once
    else:
        now = running_others()
        _RUNNING_SEEN[:] = [t, now]
    return load if now is None else min(load, float(now))


#: seconds a reading of :func:`running_others` (50 ms of sampling) serves the next sessions
RUNNING_REUSE_S = 5.0
_RUNNING_SEEN: list = []        # [monotonic time, running_others()] of the last reading


def choose_threads(cores: Optional[int] = None, load: Optional[float] = None) -> int:
    """Torch threads for the render thread: every core the machine leaves free (cores minus
    ``load``, by default :func:`other_load`, rounded), at least one. On a busy machine one thread
    is much faster than two: an OpenMP barrier waits for a thread the OS has preempted (measured
    on 2 cores at load 16: the encoder 1.9x slower in float32 and 3.9x in bf16 with 2 threads
    than with 1)."""
    cores = usable_cores() if cores is None else int(cores)
    if load is None:
        load = other_load()
    return max(1, min(cores, int(cores - float(load) + 0.5)))


def apply_threads() -> int:
    """Set torch's intra-op threads by :func:`choose_threads` unless :data:`THREAD_ENV` names a
    count (then that, as torch already took it, or ``CISR_ZOOM_THREADS``). Returns the count."""
    fixed = os.environ.get("CISR_ZOOM_THREADS")
    if fixed and fixed.isdigit() and int(fixed) > 0:
        torch.set_num_threads(int(fixed))
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(choose_threads())
    return torch.get_num_threads()


@dataclass(frozen=True)
class EncoderPlan:
    """How one session runs its encoder: ``dtype`` of weights and activations, whether tensors
    are ``channels_last``, the step box side, and the CPU kind it was chosen for."""

    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    step_box: int = STEP_BOX_FLOAT32
    kind: str = "default"
    threads: int = 0        # torch threads set for the session (0: left as they were)

    @property
    def label(self) -> str:
        """What the status bar and ``cisr bench`` say, e.g. ``encoder bf16, channels-last (AMX)``."""
        if self.kind == "default":
            return "encoder float32"
        dt = "bf16" if self.dtype == torch.bfloat16 else "float32"
        layout = ", channels-last" if self.channels_last else ""
        names = {"amx": "AMX", "avx512_bf16": "AVX512-BF16", "avx512": "AVX-512", "avx2": "AVX2", "other": "CPU"}
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.threads else ""
        return f"encoder {dt}{layout} ({names.get(self.kind, self.kind)}{threads})"


def choose_encoder(device: torch.device, precision: str, kind: Optional[str] = None,
                   threads: int = 0) -> EncoderPlan:
    """The :class:`EncoderPlan` for a session on ``device`` rendering in ``precision``: on the
    CPU channels-last, plus bf16 where the CPU kind is in :data:`BF16_FASTER_KINDS` and the
    session already renders in a reduced precision; elsewhere the model's own path.
    ``threads``: the torch thread count the caller set (named in the label)."""
    if torch.device(device).type != "cpu":
        return EncoderPlan()
    kind = cpu_kind() if kind is None else kind
    if precision != "float32" and kind in BF16_FASTER_KINDS:
        return EncoderPlan(torch.bfloat16, True, STEP_BOX_BF16, kind, threads)
    return EncoderPlan(torch.float32, True, STEP_BOX_FLOAT32, kind, threads)


class PlannedEncoder(nn.Module):
    """``encoder`` run as ``plan`` says: inputs cast to its dtype and layout, the output back to
    float32 (contiguous NCHW, what the decoders expect). Holds its own copy of the weights."""

    def __init__(self, encoder: nn.Module, plan: EncoderPlan):
        super().__init__()
        self.plan = plan
        inner = copy.deepcopy(encoder).to(plan.dtype)
        if plan.channels_last:
            inner = inner.to(memory_format=torch.channels_last)
        self.inner = inner
        self.out_dim = getattr(encoder, "out_dim", None)
        self.receptive_radius = getattr(encoder, "receptive_radius", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.plan.dtype)
        if self.plan.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.inner(x).to(torch.float32).contiguous()


def planned_encoder(model: nn.Module, plan: EncoderPlan) -> Optional[PlannedEncoder]:
    """``model``'s encoder run as ``plan`` says (use it with
    :func:`~cisr_zoom.core.models.liif.encode_image`), or None where the model's own ``encode``
    must be used: the default plan, or a model family whose ``encode`` is not that front end."""
    from ..models.liif import LIIF
    from ..models.lmf import LMF
    if plan.kind == "default" or not isinstance(model, (LIIF, LMF)):   # encode = encode_image(encoder, .)
        return None
    fast = PlannedEncoder(model.encoder, plan).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    return fast
