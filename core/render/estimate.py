"""Render speed, kept once: the :class:`SpeedBook`, and export time estimates from it.

Rendering costs two kinds of work: *encoding* (proportional to the input pixels whose features
are not cached yet: a second export of the same image encodes nothing) and *decoding*
(proportional to the output pixels). The :class:`SpeedBook` keeps seconds per megapixel of each
kind (:data:`ENCODE` per input megapixel, :data:`DECODE` per output megapixel) per model, device
and precision (:class:`SpeedKey`: a device or precision switch never reuses another one's
figure). It learns from every :class:`RenderCost` measured, each with its *basis*: a finished
export (:data:`EXPORT`, the most telling, since it is what is estimated), the views' tiles
(:data:`VIEW`) and a probe render (:data:`PROBE`: one chunk of the export to estimate). A figure learnt from a stronger basis is
not changed by a weaker one; one of the same basis is smoothed (:data:`LEARN_WEIGHTS`), one of a
weaker basis replaced. :meth:`SpeedBook.estimate_seconds` gives an export's first figure; while it
runs, :class:`ExportEta` turns the rows written so far and the time taken into the time left,
leaning on the first figure only until enough of this export has been measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

#: output megapixels after which the export's own throughput outweighs the stored timing
PRIOR_WEIGHT_MP = 0.25
#: kinds of work: encoding, seconds per input megapixel; decoding, seconds per output megapixel
ENCODE, DECODE = "encode", "decode"
#: what measured a figure, weakest first: a probe render, the views' tiles, a finished export
PROBE, VIEW, EXPORT = "probe", "view", "export"
_RANK = {PROBE: 0, VIEW: 1, EXPORT: 2}
#: the weight of a new measurement against the figure of the same basis: a finished export
#: replaces most of the stored one (it measured this machine now); tiles vary, so they are smoothed
LEARN_WEIGHTS = {EXPORT: 0.75, VIEW: 0.3, PROBE: 1.0}
#: a view's tile smaller than this (output pixels) teaches nothing: overheads dominate slivers
MIN_VIEW_PIXELS = 20_000
#: most figures a book keeps (the least recently learnt go first)
MAX_FIGURES = 200
#: the weight of a new export's figure (see :data:`LEARN_WEIGHTS`)
LEARN_WEIGHT = LEARN_WEIGHTS[EXPORT]


@dataclass(frozen=True)
class SpeedKey:
    """What a speed belongs to: ``model`` (its file, or the source name of a built-in one),
    ``device`` (as shown, e.g. ``CPU``) and ``precision`` (``float32``, ``bfloat16`` ...)."""

    model: str
    device: str
    precision: str

    def __str__(self) -> str:
        return f"{self.model}|{self.device}|{self.precision}"


def learn_rate(stored: Optional[float], measured: float, weight: float = LEARN_WEIGHT) -> float:
    """The stored seconds per megapixel after a measurement of ``measured`` (``weight`` of it)."""
    if stored is None or not math.isfinite(stored) or stored <= 0:
        return float(measured)
    return weight * float(measured) + (1.0 - weight) * float(stored)


@dataclass(frozen=True)
class RenderCost:
    """What one render measured (an export, a tile, a probe): ``seconds`` in all,
    ``encode_seconds`` of it in the encoder, for ``out_pixels`` output pixels and
    ``encoded_pixels`` input pixels whose features were not cached when it started (0: the
    encoding's share is not known, or there was none)."""

    seconds: float
    encode_seconds: float
    out_pixels: int
    encoded_pixels: int = 0

    def rates(self) -> Dict[str, float]:
        """Seconds per megapixel of each kind of work this cost measured."""
        out = {DECODE: max(self.seconds - self.encode_seconds, 0.0) / max(self.out_pixels / 1e6, 1e-9)}
        if self.encoded_pixels > 0 and self.encode_seconds > 0:
            out[ENCODE] = self.encode_seconds / (self.encoded_pixels / 1e6)
        return out


@dataclass(frozen=True)
class _Figure:
    seconds_per_mp: float
    basis: str


class SpeedBook:
    """Seconds per megapixel of each kind of work per :class:`SpeedKey` (see the module
    docstring). Plain data: made and used on one thread (the app's GUI thread)."""

    def __init__(self) -> None:
        self._figures: Dict[Tuple[SpeedKey, str], _Figure] = {}

    def __len__(self) -> int:
        return len(self._figures)

    def rate(self, key: SpeedKey, kind: str) -> Optional[float]:
        """Seconds per megapixel of ``kind`` for ``key`` (None: never measured)."""
        f = self._figures.get((key, kind))
        return None if f is None else f.seconds_per_mp

    def basis(self, key: SpeedKey, kind: str = DECODE) -> Optional[str]:
        """What measured the figure (:data:`EXPORT`, :data:`VIEW`, :data:`PROBE`; None: nothing)."""
        f = self._figures.get((key, kind))
        return None if f is None else f.basis

    def learn(self, key: SpeedKey, cost: RenderCost, basis: str) -> None:
        """Take in what ``cost`` measured for ``key``, measured by ``basis``."""
        if basis == VIEW and cost.out_pixels < MIN_VIEW_PIXELS:
            return
        for kind, measured in cost.rates().items():
            self._put(key, kind, measured, basis)

    def _put(self, key: SpeedKey, kind: str, measured: float, basis: str) -> None:
        if not (math.isfinite(measured) and measured > 0):
            return
        old = self._figures.pop((key, kind), None)
        if old is not None and _RANK[old.basis] > _RANK[basis]:
            self._figures[(key, kind)] = old          # a stronger basis stands (still the newest)
            return
        stored = old.seconds_per_mp if old is not None and old.basis == basis else None
        self._figures[(key, kind)] = _Figure(learn_rate(stored, measured, LEARN_WEIGHTS[basis]), basis)
        self._trim()

    def estimate_seconds(self, key: SpeedKey, out_pixels: int, uncached_pixels: int) -> Optional[float]:
        """Seconds to decode ``out_pixels`` and encode ``uncached_pixels`` input pixels with
        ``key`` (None: its decoding speed was never measured; an unknown encoding costs 0)."""
        decode = self.rate(key, DECODE)
        if decode is None:
            return None
        encode = self.rate(key, ENCODE) or 0.0
        return decode * out_pixels / 1e6 + encode * uncached_pixels / 1e6

    # -- storage -------------------------------------------------------------------------
    def to_records(self) -> List[dict]:
        """The figures as JSON-ready records, the least recently learnt first."""
        return [{"model": k.model, "device": k.device, "precision": k.precision, "kind": kind,
                 "seconds_per_mp": f.seconds_per_mp, "basis": f.basis}
                for (k, kind), f in self._figures.items()]

    @classmethod
    def from_records(cls, records: Iterable) -> "SpeedBook":
        """A book of ``records`` (:meth:`to_records`); records that are not well formed are
        skipped (the book is a cache: a lost figure only costs a new measurement)."""
        book = cls()
        for r in records if isinstance(records, list) else []:
            try:
                key = SpeedKey(*(r[n] for n in ("model", "device", "precision")))
                kind, value, basis = r["kind"], r["seconds_per_mp"], r["basis"]
            except (KeyError, TypeError):
                continue
            if (all(isinstance(v, str) and len(v) <= 4096 for v in (key.model, key.device, key.precision))
                    and kind in (ENCODE, DECODE) and basis in _RANK and isinstance(value, (int, float))
                    and not isinstance(value, bool) and math.isfinite(value) and 0 < value < 1e9):
                book._figures.pop((key, kind), None)
                book._figures[(key, kind)] = _Figure(float(value), basis)
        book._trim()
        return book

    def _trim(self) -> None:
        while len(self._figures) > MAX_FIGURES:
            del self._figures[next(iter(self._figures))]


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
