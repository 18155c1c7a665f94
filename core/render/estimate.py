"""Export time estimates: a first figure from stored timings, then the export's own throughput.

An export's time is decoding (proportional to its output pixels) plus encoding (proportional
to the input pixels whose features are not cached yet: a second export of the same image
encodes nothing). A finished export measures both (:class:`ExportCost`); :func:`store_cost`
keeps *seconds per output megapixel* of decoding and *seconds per input megapixel* of
encoding per model, device and precision (:func:`timing_key`; the app keeps them in its
settings), learning from each export (:func:`learn_rate`), and :func:`estimate_seconds` gives
the next export's first figure from them. While an export runs, :class:`ExportEta` turns the
rows written so far and the time taken into the time left, leaning on the first figure only
until enough of this export has been measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

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


@dataclass(frozen=True)
class ExportCost:
    """What one finished export measured: ``seconds`` in all, ``encode_seconds`` of it in the
    encoder, for ``out_pixels`` output pixels and ``encoded_pixels`` input pixels whose
    features were not cached when it started."""

    seconds: float
    encode_seconds: float
    out_pixels: int
    encoded_pixels: int


def store_cost(timings: Dict[str, float], key: str, cost: ExportCost) -> None:
    """Learn from a finished export: ``timings[key + "|decode"]`` (seconds per output MP) and,
    when it encoded anything, ``timings[key + "|encode"]`` (seconds per input MP)."""
    decode = max(cost.seconds - cost.encode_seconds, 0.0) / max(cost.out_pixels / 1e6, 1e-9)
    timings[key + "|decode"] = learn_rate(timings.get(key + "|decode"), decode)
    if cost.encoded_pixels > 0 and cost.encode_seconds > 0:
        encode = cost.encode_seconds / (cost.encoded_pixels / 1e6)
        timings[key + "|encode"] = learn_rate(timings.get(key + "|encode"), encode)


def estimate_seconds(timings: Dict[str, float], key: str, out_pixels: int, uncached_pixels: int) -> Optional[float]:
    """First estimate of an export from stored timings (None: no export with this key yet):
    decoding ``out_pixels`` plus encoding ``uncached_pixels`` input pixels."""
    decode = timings.get(key + "|decode")
    if not isinstance(decode, (int, float)) or decode <= 0:
        return None
    encode = timings.get(key + "|encode")
    encode = encode if isinstance(encode, (int, float)) and encode > 0 else 0.0
    return decode * out_pixels / 1e6 + encode * uncached_pixels / 1e6


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
