"""Tiled encoding with a halo matches whole-image encoding; the cache is bounded in bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cisr_zoom.core.render.encoder import EncoderPlan
from cisr_zoom.core.render.session import RenderSession


def _whole_projection(session):
    """First-layer feature part of every LR pixel, from one encoder pass over the whole image."""
    with torch.no_grad():
        img = torch.from_numpy(np.ascontiguousarray(session._image.numpy()))[None]
        feat = session.model.encode(img).feat
        return session.decoder.precompute(feat)[0].permute(1, 2, 0)


def test_halo_is_receptive_radius_plus_unfold(liif_factory, image):
    s = RenderSession(liif_factory(), image)
    assert s.halo == s.descriptor.receptive_radius == s.model.encoder.receptive_radius + 1 == 2 * 2 + 2 + 1


@pytest.mark.parametrize("lr_tile,box", [(8, 8), (8, 24), (13, 13)])
def test_tiled_features_equal_whole_image_features(liif_factory, image, lr_tile, box):
    s = RenderSession(liif_factory(), image, lr_tile=lr_tile, max_encode_box=box)
    h, w = s.lr_size
    tiled, r0, c0 = s.tiles.window(0, h, 0, w)
    assert (r0, c0) == (0, 0) and s.tiles.encode_calls > 1
    whole = _whole_projection(s)
    assert torch.abs(tiled - whole).max().item() < 1e-5


def test_too_small_halo_would_show_seams(liif_factory, image):
    """Control: with a halo one pixel short, tiles differ from the whole image (so the test
    above can fail)."""
    s = RenderSession(liif_factory(), image, lr_tile=8, max_encode_box=8)
    s.halo -= 1
    h, w = s.lr_size
    tiled, _, _ = s.tiles.window(0, h, 0, w)
    assert torch.abs(tiled - _whole_projection(s)).max().item() > 1e-4


def test_seam_error_on_rgb_output(liif_factory, image):
    """Rendered RGB from tiled features vs the reference (whole image encoded at once)."""
    s = RenderSession(liif_factory(image_skip=True), image, lr_tile=8, max_encode_box=8)
    for region, size in [((-1, -1, 1, 1), (148, 212)), ((-0.4, -0.2, 0.3, 0.5), (90, 77))]:
        err = np.abs(s.render(region, size) - s.render_reference(region, size)).max()
        assert err < 1e-3


def test_missing_tiles_are_encoded_in_one_box(liif_factory, image):
    s = RenderSession(liif_factory(), image, lr_tile=8, max_encode_box=64)
    s.render((-1, -1, 1, 1), (20, 20))          # needs every tile of the 37x53 image
    assert s.tiles.encode_calls == 1 and len(s.tiles) == 5 * 7


def test_cache_is_bounded_in_bytes_and_results_stable(liif_factory, image):
    budget = 3 * 8 * 8 * 16 * 4                 # three 8x8 tiles of 16 float32 channels
    s = RenderSession(liif_factory(), image, lr_tile=8, max_encode_box=8, feature_cache_bytes=budget)
    first = s.render((-1, -1, 1, 1), (60, 70))
    assert s.tiles.nbytes <= budget and len(s.tiles) < 5 * 7 // 2
    again = s.render((-1, -1, 1, 1), (60, 70))  # recomputes evicted tiles
    assert np.abs(first - again).max() < 1e-6
    unbounded = RenderSession(liif_factory(), image, lr_tile=8)
    assert np.abs(first - unbounded.render((-1, -1, 1, 1), (60, 70))).max() < 1e-5


def test_only_needed_tiles_are_encoded(liif_factory, image):
    s = RenderSession(liif_factory(), image, lr_tile=8)
    s.render((-1, -1, -0.8, -0.8), (16, 16))    # the top-left corner
    assert set(s.tiles._tiles) <= {(0, 0), (0, 1), (1, 0), (1, 1)}



def _ahead_all(s, focus=None):
    steps = 0
    while s.encode_ahead(focus):
        steps += 1
        assert steps < 1000
    return steps


def test_encode_ahead_goes_nearest_the_focus_first(liif_factory, image):
    """Each step encodes one box around the missing tile nearest the focus: with one-tile
    boxes the tiles appear in order of distance, and in the end every tile is cached."""
    s = RenderSession(liif_factory(), image, lr_tile=8)
    s.encoder_plan = EncoderPlan(torch.float32, False, 8, "avx2")   # one tile per step
    focus = (30.0, 45.0)                          # near the bottom-right corner of the 37x53 image
    order = []
    while True:
        before = set(s.tiles._tiles)
        if not s.encode_ahead(focus):
            break
        new = set(s.tiles._tiles) - before
        assert len(new) == 1
        order.append(new.pop())
    assert len(order) == 5 * 7 and order[0] == (3, 5)
    dist = [s.tiles._distance(k, focus) for k in order]
    assert dist == sorted(dist)


def test_encode_ahead_stays_within_the_budget_and_evicts_the_farthest(liif_factory, image):
    budget = 6 * 8 * 8 * 16 * 4                 # six 8x8 tiles of 16 float32 channels
    s = RenderSession(liif_factory(), image, lr_tile=8, feature_cache_bytes=budget)
    assert s.decoder.channels == 16
    s.encoder_plan = EncoderPlan(torch.float32, False, 16, "avx2")  # 2x2 tiles per step
    _ahead_all(s, (0.0, 0.0))
    assert s.tiles.nbytes <= budget
    kept = set(s.tiles._tiles)
    assert (0, 0) in kept and (4, 6) not in kept
    far = max(s.tiles._distance(k, (0.0, 0.0)) for k in kept)
    missing = [(a, b) for a in range(5) for b in range(7) if (a, b) not in kept]
    assert all(s.tiles._distance(k, (0.0, 0.0)) >= far for k in missing)   # only nearer tiles kept
    # the user moves to the other corner: the far tiles go first, those nearest the new focus come in
    _ahead_all(s, (36.0, 52.0))
    kept = set(s.tiles._tiles)
    assert (4, 6) in kept and (0, 0) not in kept and s.tiles.nbytes <= budget


def test_a_view_render_reuses_features_encoded_ahead(liif_factory, image):
    s = RenderSession(liif_factory(), image, lr_tile=8)
    _ahead_all(s)
    calls = s.tiles.encode_calls
    out = s.render((-1, -1, 1, 1), (74, 106))
    assert s.tiles.encode_calls == calls       # the decoder only
    fresh = RenderSession(liif_factory(), image, lr_tile=8)
    assert np.abs(out - fresh.render((-1, -1, 1, 1), (74, 106))).max() < 1e-5
