"""Export time estimates: a first figure from stored timings, then the export's own throughput.

Timings are *seconds per output megapixel* of a finished export, stored per model, device and
precision (:func:`timing_key`); the app keeps them in its settings and updates them after each
export (:func:`learn_rate`), so the next estimate of that model on that device starts from what
the last one measured. While an export runs, :class:`ExportEta` turns the rows written so far
and the time taken into the time left, leaning on the stored figure only until enough of this
export has been measured.
"""

from __future__ import annotations

import math
from typing import Optional

#: output megapixels after which the export's own throughput outweighs the stored timing
PRIOR_WEIGHT_MP = 0.25
#: a newly finished export's figure replaces most of the stored one (it measured this machine now)
LEARN_WEIGHT = 0.75


def timing_key(model: str, device: str, precision: str) -> str:
    """The key of stored timings: ``model|device|precision`` (e.g. the model's file, ``cpu``, ``bfloat16``)."""
    return f"{model}|{device}|{precision}"


def learn_rate(stored: Optional[float], measured: float) -> float:
    """The stored seconds per megapixel after an export that measured ``measured``."""
    if stored is None or not math.isfinite(stored) or stored <= 0:
        return float(measured)
    return LEARN_WEIGHT * float(measured) + (1.0 - LEARN_WEIGHT) * float(stored)


class ExportEta:
    """Time left of one export of ``total_pixels`` output pixels. ``prior``: stored seconds per
    megapixel for this model, device and precision (None: unknown)."""

    def __init__(self, total_pixels: int, prior: Optional[float] = None):
        self.total_mp = max(int(total_pixels), 1) / 1e6
        self.prior = prior if prior is not None and prior > 0 else None
        self.done_mp = 0.0
        self.elapsed = 0.0

    def update(self, done_fraction: float, elapsed_seconds: float) -> None:
        """``done_fraction`` of the pixels are written after ``elapsed_seconds``."""
        self.done_mp = min(max(float(done_fraction), 0.0), 1.0) * self.total_mp
        self.elapsed = max(float(elapsed_seconds), 0.0)

    def seconds_per_mp(self) -> Optional[float]:
        """The rate the estimate uses: this export's own, blended with the prior while little
        of it is done (weight of the measurement: done / (done + :data:`PRIOR_WEIGHT_MP`))."""
        measured = self.elapsed / self.done_mp if self.done_mp > 0 else None
        if self.prior is None:
            return measured
        if measured is None:
            return self.prior
        w = self.done_mp / (self.done_mp + min(PRIOR_WEIGHT_MP, 0.5 * self.total_mp))
        return w * measured + (1.0 - w) * self.prior

    def total_seconds(self) -> Optional[float]:
        """Estimated duration of the whole export (None before anything is known)."""
        rate = self.seconds_per_mp()
        return None if rate is None else rate * self.total_mp

    def remaining_seconds(self) -> Optional[float]:
        """Estimated seconds left (None before anything is known)."""
        rate = self.seconds_per_mp()
        if rate is None:
            return None
        if self.done_mp <= 0:                 # nothing written yet: the stored figure, less the time taken
            return max(0.0, rate * self.total_mp - self.elapsed)
        return max(0.0, rate * (self.total_mp - self.done_mp))
