"""Which checkpoint renders a chosen model: its bundled LM twin within the bound, or itself."""

from __future__ import annotations

import numpy as np
import pytest

from cisr_zoom.core.imageio import LoadedImage
from cisr_zoom.core.models.lmf import LMF
from cisr_zoom.core.models.liif import LIIF
from cisr_zoom.core.twins import find_twin, is_twin, render_path


@pytest.fixture
def pair(twin_pair):
    return twin_pair


def test_a_model_renders_through_its_bundled_twin(pair):
    teacher, twin = pair
    bundled = {"liif-x": teacher, "liif-x-lm": twin}
    assert is_twin(twin) and not is_twin(teacher)
    assert find_twin(teacher, bundled) == twin
    assert render_path(teacher, False, bundled) == twin
    assert render_path(twin, False, bundled) == twin          # a twin has no twin of its own


def test_exact_decoder_renders_the_model_itself(pair):
    teacher, twin = pair
    assert render_path(teacher, True, {"liif-x": teacher, "liif-x-lm": twin}) == teacher


def test_no_twin_without_a_bundled_twin_of_that_very_file(tmp_path, pair, twin_files):
    teacher, twin = pair
    _teacher, _ = twin_files
    assert render_path(teacher, False, {"liif-x": teacher}) == teacher               # none bundled
    other = _teacher(tmp_path / "other.pth", seed=1)                                # another file
    assert render_path(other, False, {"liif-x": teacher, "liif-x-lm": twin}) == other


@pytest.mark.parametrize("gap,within", [(0.25, False), (None, None), (0.25, True)])
def test_a_twin_outside_the_bound_or_unmeasured_is_not_used(tmp_path, twin_files, gap, within):
    _teacher, _twin = twin_files
    teacher = _teacher(tmp_path / "t.pth")
    twin = _twin(tmp_path / "t-lm.pth", teacher, gap=gap, within=within)
    assert render_path(teacher, False, {"t": teacher, "t-lm": twin}) == teacher


def test_the_session_pool_chooses_the_twin_unless_exact(monkeypatch, pair):
    import cisr_zoom.core.checkpoint as checkpoint
    from cisr_zoom.core.render.sources import SessionPool
    teacher, twin = pair
    monkeypatch.setattr(checkpoint, "bundled_models", lambda: {"liif-x": teacher, "liif-x-lm": twin})
    pool = SessionPool(feature_cache_bytes=2 ** 20)
    pool.model_paths = {"m": teacher}
    pool.set_device("cpu")
    pool.set_image(LoadedImage(rgb=np.random.default_rng(0).random((12, 10, 3), dtype=np.float32), alpha=None), epoch=0)
    assert isinstance(pool.source("m", 0).model, LMF)
    pool.set_device("cpu", exact_decoder=True)
    assert pool.exact_decoder and isinstance(pool.source("m", 0).model, LIIF)
    pool.set_device("cpu")                                    # the choice stays until changed
    assert isinstance(pool.source("m", 0).model, LIIF)
    pool.set_device("cpu", exact_decoder=False)
    assert isinstance(pool.source("m", 0).model, LMF)
