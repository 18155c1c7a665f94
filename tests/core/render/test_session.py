"""RenderSession: pieces equal the whole, cancellation, out-of-memory retries, alpha, inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cisr_zoom.core.imageio import LoadedImage
from cisr_zoom.core.render.session import RenderCancelled, RenderSession, split_blocks
from cisr_zoom.core.render.tiles import plan_tiles


def test_render_in_pieces_equals_render_at_once(liif_factory, image):
    s = RenderSession(liif_factory(), image, chunk_size=500)
    region, size = (-0.9, -0.7, 0.8, 0.95), (143, 171)
    whole = s.render(region, size)
    canvas = np.full(size + (3,), -1.0, dtype=np.float32)
    for t in plan_tiles(region, size, 40):
        canvas[t.top:t.top + t.height, t.left:t.left + t.width] = s.render(t.region, (t.height, t.width))
    assert np.abs(canvas - whole).max() < 1e-4
    assert whole.dtype == np.float32 and whole.min() >= 0 and whole.max() <= 1


def test_chunk_size_does_not_change_pixels(liif_factory, image):
    a = RenderSession(liif_factory(), image, chunk_size=256).render((-1, -1, 1, 1), (90, 70))
    b = RenderSession(liif_factory(), image, chunk_size=100000).render((-1, -1, 1, 1), (90, 70))
    assert np.abs(a - b).max() < 1e-5


def test_split_blocks_cover_and_respect_chunk():
    for H, W, chunk in [(96, 96, 8192), (200, 2000, 4096), (1, 7, 3), (100, 3, 50)]:
        cover = np.zeros((H, W), dtype=int)
        for r0, r1, c0, c1 in split_blocks(H, W, chunk):
            assert (r1 - r0) * (c1 - c0) <= chunk
            cover[r0:r1, c0:c1] += 1
        assert (cover == 1).all()


def test_cancel_stops_within_one_chunk(liif_factory, image):
    s = RenderSession(liif_factory(), image, chunk_size=256)
    s.render((-1, -1, 1, 1), (8, 8))            # features cached: only INN chunks remain
    calls = []
    decode = s.decoder.decode
    s.decoder.decode = lambda *a, **k: (calls.append(1), decode(*a, **k))[1]
    flag = {"stop": False}

    def should_stop():
        if len(calls) == 3:
            flag["stop"] = True
        return flag["stop"]
    with pytest.raises(RenderCancelled):
        s.render((-1, -1, 1, 1), (100, 100), should_stop=should_stop)   # 40 chunks
    assert len(calls) == 3


def test_cancel_interrupts_the_encoder(liif_factory, image):
    s = RenderSession(liif_factory(), image, max_encode_box=64)
    convs = []
    for m in s.encoder_module.modules():        # the encoder as this CPU runs it
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda *a: convs.append(1))
    with pytest.raises(RenderCancelled):
        s.render((-1, -1, 1, 1), (50, 50), should_stop=lambda: len(convs) >= 2)
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in s.encoder_module.modules())
    assert len(convs) == 2 < n_convs
    assert len(s.tiles) == 0
    # the session stays usable, and a later stop function of another thread is not confused
    assert s.render((-1, -1, 1, 1), (10, 10)).shape == (10, 10, 3)


def _oom():
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test)")


def test_out_of_memory_halves_chunk_and_retries(liif_factory, image):
    s = RenderSession(liif_factory(), image, chunk_size=4096)
    expected = RenderSession(liif_factory(), image).render((-1, -1, 1, 1), (64, 64))
    decode = s.decoder.decode

    def picky(window, r0, c0, rows, cols, cell):
        if len(rows) * len(cols) > 1000:
            raise _oom()
        return decode(window, r0, c0, rows, cols, cell)
    s.decoder.decode = picky
    got = s.render((-1, -1, 1, 1), (64, 64))
    assert np.abs(got - expected).max() < 1e-5
    assert s.chunk_size <= 1000


def test_out_of_memory_in_encoder_splits_the_box(liif_factory, image):
    s = RenderSession(liif_factory(), image, lr_tile=8, max_encode_box=64)
    expected = RenderSession(liif_factory(), image).render((-1, -1, 1, 1), (40, 40))
    encode = s._encode_crop

    def picky(y0, y1, x0, x1):
        if (y1 - y0) * (x1 - x0) > 300:
            raise _oom()
        return encode(y0, y1, x0, x1)
    s._encode_crop = picky
    assert np.abs(s.render((-1, -1, 1, 1), (40, 40)) - expected).max() < 1e-5
    assert s.tiles.max_box < 64


def test_other_errors_are_not_retried(liif_factory, image):
    s = RenderSession(liif_factory(), image)
    s.decoder.decode = lambda *a: (_ for _ in ()).throw(ValueError("boom"))
    with pytest.raises(ValueError):
        s.render((-1, -1, 1, 1), (10, 10))


def test_alpha_is_bilinear_and_optional(liif_factory, image, rng):
    alpha = rng.random(image.shape[:2], dtype=np.float32)
    s = RenderSession(liif_factory(), LoadedImage(rgb=image, alpha=alpha))
    assert s.alpha is not None and s.lr_size == image.shape[:2]
    same = s.render_alpha((-1, -1, 1, 1), image.shape[:2])
    assert np.abs(same - alpha).max() < 2e-5                    # scale 1: the pixels themselves
    up = s.render_alpha((-1, -1, 1, 1), (74, 106))
    assert up.shape == (74, 106) and up.min() >= alpha.min() - 1e-6 and up.max() <= alpha.max() + 1e-6
    # output pixel (1, 1) of a 2x upscale sits a quarter pixel from LR (0, 0) towards (1, 1)
    expect = 0.75 * 0.75 * alpha[0, 0] + 0.75 * 0.25 * (alpha[0, 1] + alpha[1, 0]) + 0.0625 * alpha[1, 1]
    assert up[1, 1] == pytest.approx(expect, abs=1e-5)
    assert RenderSession(liif_factory(), image).render_alpha((-1, -1, 1, 1), (5, 5)) is None


def test_inputs_are_validated(liif_factory, image):
    s = RenderSession(liif_factory(), image)
    for bad in [(0, 5), (5, -1), "ab"]:
        with pytest.raises(ValueError):
            s.render((-1, -1, 1, 1), bad)
    with pytest.raises(ValueError):
        s.render((1, -1, -1, 1), (5, 5))
    with pytest.raises(ValueError):
        RenderSession(liif_factory(), image[..., :2])
    u8 = RenderSession(liif_factory(), (image * 255).astype(np.uint8))
    assert u8.render((-1, -1, 1, 1), (4, 4)).shape == (4, 4, 3)


def test_session_does_not_modify_the_callers_model(liif_factory, image):
    model = liif_factory()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    RenderSession(model, image, device="auto").render((-1, -1, 1, 1), (8, 8))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any(m._forward_pre_hooks for m in model.modules())
