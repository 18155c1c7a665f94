"""Render sources: the protocol, bicubic interpolation, and the pool of sources per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cisr_zoom.core.checkpoint import save_checkpoint
from cisr_zoom.core.errors import CisrError
from cisr_zoom.core.imageio import LoadedImage
from cisr_zoom.core.render.session import RenderCancelled, RenderSession
from cisr_zoom.core.render.sources import BICUBIC, BicubicSession, RenderSource, SessionPool


def _loaded(rgb, alpha=None):
    return LoadedImage(rgb=rgb, alpha=alpha)


def test_both_kinds_of_source_satisfy_the_protocol(image, liif_factory):
    assert isinstance(BicubicSession(image), RenderSource)
    assert isinstance(RenderSession(liif_factory(), image), RenderSource)
    assert not isinstance(object(), RenderSource)


def test_bicubic_whole_image_at_twice_the_size_is_torch_bicubic(image):
    s = BicubicSession(image)
    h, w = image.shape[:2]
    out = s.render((-1.0, -1.0, 1.0, 1.0), (2 * h, 2 * w))
    t = torch.from_numpy(image).permute(2, 0, 1)[None]
    ref = F.interpolate(t, size=(2 * h, 2 * w), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).clamp(0, 1)
    # grid_sample clamps the border; interpolate does too: the two agree everywhere
    assert out.shape == (2 * h, 2 * w, 3) and out.dtype == np.float32
    assert np.abs(out - ref.numpy()).max() < 1e-4


def test_bicubic_chunks_agree_with_one_call_and_stop_between_chunks(image, monkeypatch):
    import cisr_zoom.core.render.sources as sources
    s = BicubicSession(image)
    region = (-0.5, -0.8, 0.7, 0.9)
    whole = s.render(region, (40, 30))
    monkeypatch.setattr(sources, "BICUBIC_CHUNK_PIXELS", 30 * 7)   # 7 rows per chunk
    assert np.abs(s.render(region, (40, 30)) - whole).max() < 1e-5   # float rounding of chunk edges
    calls = []
    with pytest.raises(RenderCancelled):
        s.render(region, (40, 30), should_stop=lambda: calls.append(1) or len(calls) > 2)
    assert len(calls) == 3


def test_bicubic_alpha_and_prefetch(image):
    alpha = np.linspace(0, 1, image.shape[0] * image.shape[1], dtype=np.float32).reshape(image.shape[:2])
    s = BicubicSession(_loaded(image, alpha))
    a = s.render_alpha((-1.0, -1.0, 1.0, 1.0), image.shape[:2])
    assert a.shape == image.shape[:2] and np.abs(a - alpha).max() < 1e-5
    assert BicubicSession(image).render_alpha((-1.0, -1.0, 1.0, 1.0), (4, 4)) is None
    assert s.prefetch((-1.0, -1.0, 1.0, 1.0)) is True


def test_pool_makes_each_source_once_per_image_and_device(tmp_path, image, tiny_liif_spec):
    torch.manual_seed(0)
    from cisr_zoom.core import models
    path = tmp_path / "tiny.pth"
    save_checkpoint(path, models.make(tiny_liif_spec).eval(), tiny_liif_spec)
    pool = SessionPool(feature_cache_bytes=2 ** 20)
    with pytest.raises(RenderCancelled):
        pool.source(BICUBIC, 0)                    # no image yet
    pool.model_paths = {"tiny": path}
    pool.set_device("cpu")
    pool.set_image(_loaded(image), epoch=1)
    bic = pool.source(BICUBIC, 1)
    model = pool.source("tiny", 1)
    assert isinstance(bic, BicubicSession) and isinstance(model, RenderSession)
    assert pool.source("tiny", 1) is model and pool.source(BICUBIC, 1) is bic
    assert pool.source("tiny", 1, "auto") is not model           # another precision, another session
    with pytest.raises(RenderCancelled):
        pool.source("tiny", 0)                     # asked for a previous image
    with pytest.raises(CisrError, match="unknown model"):
        pool.source("nope", 1)
    pool.set_image(_loaded(image[:20]), epoch=2)
    assert pool.source(BICUBIC, 2).lr_size == (20, image.shape[1])
    pool.set_device("cpu")
    assert pool.source("tiny", 2) is not model
