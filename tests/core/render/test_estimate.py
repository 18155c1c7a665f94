"""The speed book (one figure per model, device, precision and kind of work; what measured it
ranks) and the export ETA, without Qt."""

from __future__ import annotations

import json

import pytest

from cisr_zoom.core.render.estimate import (DECODE, ENCODE, EXPORT, MAX_FIGURES, PROBE, VIEW, ExportEta,
                                            RenderCost, SpeedBook, SpeedKey, learn_rate)

CPU = SpeedKey("m.pth", "CPU", "bfloat16")


def test_eta_leans_on_the_stored_figure_then_on_the_export_itself():
    eta = ExportEta(4_000_000, prior=10.0)           # 4 MP, the last export ran at 10 s/MP
    assert eta.remaining_seconds() == pytest.approx(40.0)
    eta.update(0.0, 5.0)
    assert eta.remaining_seconds() == pytest.approx(35.0)
    eta.update(0.5, 40.0)                             # this one runs at 20 s/MP
    assert 10.0 < eta.seconds_per_mp() < 20.0 and eta.seconds_per_mp() > 18.0
    eta.update(0.9, 72.0)
    assert eta.remaining_seconds() == pytest.approx(0.4 * eta.seconds_per_mp(), rel=1e-6)
    assert ExportEta(1000).remaining_seconds() is None
    assert learn_rate(None, 12.0) == 12.0 and 10.0 < learn_rate(10.0, 12.0) < 12.0


def test_the_book_splits_decoding_from_encoding():
    """A first export pays the encoder, a second of the same image does not: the estimate
    counts encoding only for the input pixels not cached yet."""
    book = SpeedBook()
    assert book.estimate_seconds(CPU, 10**6, 0) is None
    book.learn(CPU, RenderCost(seconds=30.0, encode_seconds=10.0, out_pixels=2 * 10**6, encoded_pixels=250_000),
               EXPORT)
    assert book.rate(CPU, DECODE) == pytest.approx(10.0)      # 20 s for 2 MP
    assert book.rate(CPU, ENCODE) == pytest.approx(40.0)      # 10 s for 0.25 MP
    assert book.estimate_seconds(CPU, 2 * 10**6, 250_000) == pytest.approx(30.0)
    assert book.estimate_seconds(CPU, 2 * 10**6, 0) == pytest.approx(20.0)
    assert book.estimate_seconds(SpeedKey("m.pth", "CPU", "float32"), 10**6, 0) is None   # another precision


def test_a_device_switch_never_reuses_the_old_device_speed():
    book = SpeedBook()
    book.learn(CPU, RenderCost(2.0, 0.0, 10**6), VIEW)
    cuda = SpeedKey("m.pth", "CUDA (H100)", "bfloat16")
    assert book.rate(CPU, DECODE) == pytest.approx(2.0)
    assert book.rate(cuda, DECODE) is None and book.estimate_seconds(cuda, 10**6, 0) is None
    book.learn(cuda, RenderCost(0.1, 0.0, 10**6), VIEW)
    assert book.rate(cuda, DECODE) == pytest.approx(0.1) and book.rate(CPU, DECODE) == pytest.approx(2.0)


def test_a_stronger_basis_stands_and_the_same_basis_is_smoothed():
    book = SpeedBook()
    book.learn(CPU, RenderCost(1.0, 0.0, 10**6), PROBE)
    assert book.basis(CPU) == PROBE and book.rate(CPU, DECODE) == pytest.approx(1.0)
    book.learn(CPU, RenderCost(3.0, 0.0, 10**6), PROBE)                    # a probe replaces a probe
    assert book.rate(CPU, DECODE) == pytest.approx(3.0)
    book.learn(CPU, RenderCost(2.0, 0.0, 10**6), VIEW)                     # tiles replace a probe ...
    assert book.basis(CPU) == VIEW and book.rate(CPU, DECODE) == pytest.approx(2.0)
    book.learn(CPU, RenderCost(4.0, 0.0, 10**6), VIEW)                     # ... and are smoothed
    assert book.rate(CPU, DECODE) == pytest.approx(0.7 * 2.0 + 0.3 * 4.0)
    book.learn(CPU, RenderCost(10.0, 0.0, 10**6), EXPORT)                  # an export replaces them
    assert book.basis(CPU) == EXPORT and book.rate(CPU, DECODE) == pytest.approx(10.0)
    book.learn(CPU, RenderCost(1.0, 0.0, 10**6), VIEW)                     # and tiles no longer move it
    book.learn(CPU, RenderCost(1.0, 0.0, 10**6), PROBE)
    assert book.rate(CPU, DECODE) == pytest.approx(10.0)
    book.learn(CPU, RenderCost(12.0, 0.0, 10**6), EXPORT)
    assert book.rate(CPU, DECODE) == pytest.approx(learn_rate(10.0, 12.0))


def test_tiles_teach_decoding_only_and_slivers_nothing():
    book = SpeedBook()
    book.learn(CPU, RenderCost(0.5, 0.4, 128 * 8), VIEW)                   # a sliver: overheads dominate
    assert len(book) == 0
    book.learn(CPU, RenderCost(0.5, 0.4, 256 * 128), VIEW)                 # encoded pixels unknown
    assert book.rate(CPU, DECODE) == pytest.approx(0.1 / (256 * 128 / 1e6)) and book.rate(CPU, ENCODE) is None


def test_the_book_round_trips_through_json_and_skips_bad_records():
    book = SpeedBook()
    book.learn(CPU, RenderCost(30.0, 10.0, 2 * 10**6, 250_000), EXPORT)
    book.learn(SpeedKey("b", "CPU", "float32"), RenderCost(1.0, 0.0, 10**6), PROBE)
    records = json.loads(json.dumps(book.to_records()))
    again = SpeedBook.from_records(records + [{"model": "x"}, {"model": "x", "device": "CPU", "precision": "p",
                                              "kind": DECODE, "seconds_per_mp": -1, "basis": VIEW}, 7])
    assert again.to_records() == book.to_records()
    assert again.basis(CPU, ENCODE) == EXPORT
    assert len(SpeedBook.from_records({"CPU|m.pth": 3.0})) == 0           # the old cache file: ignored


def test_the_book_keeps_the_most_recently_learnt_figures():
    book = SpeedBook()
    for i in range(MAX_FIGURES + 5):
        book.learn(SpeedKey(f"m{i}", "CPU", "float32"), RenderCost(1.0, 0.0, 10**6), VIEW)
    assert len(book) == MAX_FIGURES
    assert book.rate(SpeedKey("m0", "CPU", "float32"), DECODE) is None
    assert book.rate(SpeedKey(f"m{MAX_FIGURES + 4}", "CPU", "float32"), DECODE) == pytest.approx(1.0)
