"""Features encoded ahead (issue 26 item 3): float16 storage within a bound, the render
thread's idle job on a real session (outside the view, preempted by a visible request,
reused by later zooms and by exports). Qt-free; orders of events and encoder call counts,
never times."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from cisr_zoom.core.coords import region_of_rect
from cisr_zoom.core.render.encoder import EncoderPlan
from cisr_zoom.core.render.export import export_image
from cisr_zoom.core.render.session import RenderSession, feature_storage_dtype
from cisr_zoom.core.render.sources import SessionPool, max_feature_cache_bytes
from cisr_zoom.core.render.worker import RenderRequest, RenderWorker

#: float16 features against float32 ones: at most a quarter of an 8-bit level on the output
FLOAT16_BOUND = 1.0 / 255 / 4


@pytest.fixture
def worker():
    w = RenderWorker(name="test-ahead")
    yield w
    assert w.close(timeout=10)


@pytest.fixture
def big_image(rng):
    """64x96: room for a view and a good deal outside it (8x12 tiles of 8)."""
    h, w = 64, 96
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(x / 5.0), 0.5 + 0.4 * np.cos(y / 4.0), (x + y) / (h + w)], axis=2)
    return np.clip(base * 0.8 + rng.random((h, w, 3), dtype=np.float32) * 0.2, 0, 1).astype(np.float32)


def _session(model, image, **kw) -> RenderSession:
    s = RenderSession(model, image, lr_tile=8, precision="auto", **kw)
    s.encoder_plan = EncoderPlan(torch.float32, False, 16, "avx2")     # 2x2 tiles per idle step
    return s


# -- float16 storage ----------------------------------------------------------------------------
def test_storage_dtype_is_float16_unless_float32_is_asked_for():
    assert feature_storage_dtype("auto") == torch.float16
    assert feature_storage_dtype("bfloat16") == torch.float16
    assert feature_storage_dtype("float32") == torch.float32


@pytest.mark.parametrize("skip", [False, True])
def test_float16_features_change_the_output_by_less_than_the_bound(liif_factory, image, skip):
    model = liif_factory(image_skip=skip)
    region, size = (-1, -1, 1, 1), (148, 212)
    exact = RenderSession(model, image, precision="float32")
    half = RenderSession(model, image, precision="float32", feature_dtype=torch.float16)
    a, b = exact.render(region, size), half.render(region, size)
    assert {v.dtype for v in half.tiles._tiles.values()} == {torch.float16}
    assert {v.dtype for v in exact.tiles._tiles.values()} == {torch.float32}
    assert half.tiles.nbytes * 2 == exact.tiles.nbytes             # half the memory
    assert 0 < np.abs(a - b).max() < FLOAT16_BOUND
    # control: a coarser storage (bfloat16, 8 bits of mantissa) breaks the bound, so it can fail
    coarse = RenderSession(model, image, precision="float32", feature_dtype=torch.bfloat16)
    assert np.abs(a - coarse.render(region, size)).max() > FLOAT16_BOUND


def test_values_beyond_float16_stay_in_the_decoders_dtype(liif_factory, image):
    model = liif_factory()
    with torch.no_grad():
        model.imnet.layers[0].weight.mul_(1e5)           # precomputed values far beyond 65504
    exact = RenderSession(model, image, precision="float32")
    half = RenderSession(model, image, precision="float32", feature_dtype=torch.float16)
    a = exact.render((-1, -1, 1, 1), (40, 50))
    b = half.render((-1, -1, 1, 1), (40, 50))
    assert {v.dtype for v in half.tiles._tiles.values()} == {torch.float32}
    assert np.array_equal(a, b)


def test_a_session_in_auto_precision_keeps_float16_features(liif_factory, image):
    s = RenderSession(liif_factory(), image, precision="auto")
    s.render((-1, -1, 1, 1), (20, 20))
    assert s.feature_dtype == torch.float16
    assert {v.dtype for v in s.tiles._tiles.values()} == {torch.float16}
    assert s.tiles.bytes_per_pixel == s.decoder.channels * 2
    assert s.compute_label.endswith(", features float16")        # the status bar says so
    assert RenderSession(liif_factory(), image, precision="float32").compute_label.endswith(", features float32")


def test_the_pools_budget_is_clamped_to_half_the_memory():
    assert max_feature_cache_bytes(8 * 2 ** 30) == 4 * 2 ** 30
    assert SessionPool(2 ** 62).feature_cache_bytes <= max_feature_cache_bytes()
    assert SessionPool(64 * 2 ** 20).feature_cache_bytes == 64 * 2 ** 20


# -- the idle job on the render thread --------------------------------------------------------------
def _ahead(worker, s, focus):
    done, finished = [], threading.Event()
    worker.encode_ahead(s, key=("ahead", id(s)), focus=focus, on_done=lambda ok: (done.append(ok), finished.set()))
    return done, finished


def _view_request(s, generation, rows, cols, scale, key="view"):
    """A request for LR rows ``rows`` and columns ``cols`` at ``scale`` output pixels per LR pixel."""
    region = region_of_rect(s.lr_size, rows[0], cols[0], rows[1], cols[1])
    size = ((rows[1] - rows[0]) * scale, (cols[1] - cols[0]) * scale)
    return RenderRequest(generation, key, region, size, tile_size=32)


def test_after_a_view_and_idle_the_features_outside_the_view_are_cached(worker, liif_factory, big_image):
    s = _session(liif_factory(), big_image)
    tiles, ended = [], threading.Event()
    worker.submit(s, _view_request(s, 1, (24, 40), (40, 56), 2), tiles.append, lambda *a: ended.set())
    done, finished = _ahead(worker, s, (32.0, 48.0))
    assert finished.wait(60) and done == [True] and ended.is_set() and tiles
    assert len(s.tiles) == 8 * 12                                   # the whole image, the view's and the rest
    assert (0, 0) in s.tiles._tiles and (7, 11) in s.tiles._tiles   # far outside the view


def test_a_visible_request_is_served_before_the_idle_job_goes_on(worker, liif_factory, big_image):
    """A view request arriving while the idle job encodes a box: that box is given up within
    one encoder layer, every tile of the request is delivered, and only then does the job
    encode again."""
    s = _session(liif_factory(), big_image)
    view = _view_request(s, 1, (0, 16), (0, 16), 2)
    s.render(view.region, view.out_size)                           # the view's own features are there
    events = []
    real = s.tiles.compute

    def compute(*box):
        out = real(*box)
        events.append("box")
        return out
    s.tiles.compute = compute
    first_conv = next(m for m in s.encoder_module.modules() if isinstance(m, torch.nn.Conv2d))
    view_done = threading.Event()

    def arrive(_module, _inputs):                                 # the user zooms mid-box
        if "submitted" not in events:
            events.append("submitted")
            worker.submit(s, view, lambda t: events.append("tile"),
                          lambda *a: (events.append("view done"), view_done.set()))
    hook = first_conv.register_forward_pre_hook(arrive)
    job_done, finished = _ahead(worker, s, (60.0, 90.0))
    assert finished.wait(60) and job_done == [True] and view_done.is_set()
    hook.remove()
    i, j = events.index("submitted"), events.index("view done")
    assert events[:i] == []                        # the box in progress when the request came ...
    assert set(events[i + 1:j]) == {"tile"}        # ... never completed before the request's tiles
    assert events.count("tile") == len(view.tiles)
    assert "box" in events[j:]                     # then the job went on, to the end
    assert len(s.tiles) == 8 * 12


def test_a_zoom_after_the_warm_up_calls_no_encoder(worker, liif_factory, big_image):
    s = _session(liif_factory(), big_image)
    done, finished = _ahead(worker, s, (32.0, 48.0))
    assert finished.wait(60) and done == [True]
    calls = s.tiles.encode_calls
    ended, tiles = threading.Event(), []
    worker.submit(s, _view_request(s, 2, (0, 20), (70, 96), 4), tiles.append, lambda *a: ended.set())
    assert ended.wait(60) and tiles
    assert s.tiles.encode_calls == calls                           # the decoder only
    cold = _session(liif_factory(), big_image)
    req = _view_request(cold, 2, (0, 20), (70, 96), 4)
    out = cold.render(req.region, req.out_size)
    assert cold.tiles.encode_calls > 0                             # control: cold, it encodes
    warm = s.render(req.region, req.out_size)
    assert np.abs(out - warm).max() == 0


def test_an_export_reuses_the_features_encoded_ahead(worker, liif_factory, big_image, tmp_path):
    s = _session(liif_factory(), big_image)
    done, finished = _ahead(worker, s, (32.0, 48.0))
    assert finished.wait(60) and done == [True]
    calls = s.tiles.encode_calls
    export_image(s, tmp_path / "warm.png", (128, 192))
    assert s.tiles.encode_calls == calls
    cold = _session(liif_factory(), big_image)
    export_image(cold, tmp_path / "cold.png", (128, 192))
    assert cold.tiles.encode_calls > 0                             # control
    from PIL import Image
    assert np.array_equal(np.asarray(Image.open(tmp_path / "warm.png")), np.asarray(Image.open(tmp_path / "cold.png")))


def test_the_idle_job_keeps_within_the_budget_nearest_the_view(worker, liif_factory, big_image):
    per_tile = 8 * 8 * 16 * 2                      # 8x8 LR pixels of 16 float16 channels
    s = _session(liif_factory(), big_image, feature_cache_bytes=20 * per_tile)
    done, finished = _ahead(worker, s, (0.0, 0.0))
    assert finished.wait(60) and done == [True]
    assert s.tiles.nbytes <= 20 * per_tile and (0, 0) in s.tiles._tiles and (7, 11) not in s.tiles._tiles
    # the view settles in the other corner: the job started there evicts the farthest first
    done, finished = _ahead(worker, s, (63.0, 95.0))
    assert finished.wait(60) and done == [True]
    assert s.tiles.nbytes <= 20 * per_tile and (7, 11) in s.tiles._tiles and (0, 0) not in s.tiles._tiles
