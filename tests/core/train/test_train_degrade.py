"""Real-photo degradations of the LR synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cisr_zoom.core.train.config import TrainConfigError, from_dict
from cisr_zoom.core.train.degrade import Degrader, DegradeConfigError, DegradeSpec, gaussian_blur, jpeg_roundtrip


def _img(seed=0, size=32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, size, size, generator=g)


def test_inactive_spec_returns_the_input_and_draws_nothing():
    rng = np.random.default_rng(0)
    x = _img()
    assert Degrader(DegradeSpec())(x, rng) is x
    assert rng.random() == np.random.default_rng(0).random()


def test_blur_keeps_the_mean_and_removes_high_frequencies():
    x = _img()
    y = gaussian_blur(x, 1.0)
    assert y.shape == x.shape
    assert abs(float(y.mean() - x.mean())) < 0.01
    hf = lambda t: float((t[:, :, 1:] - t[:, :, :-1]).abs().mean())  # noqa: E731
    assert hf(y) < 0.5 * hf(x)


def test_jpeg_roundtrip_changes_pixels_less_at_higher_quality():
    x = gaussian_blur(_img(1, 64), 1.5)
    e60 = float((jpeg_roundtrip(x, 60) - x).abs().mean())
    e95 = float((jpeg_roundtrip(x, 95) - x).abs().mean())
    assert 0 < e95 < e60 < 0.05


def test_noise_has_the_requested_strength_and_stays_in_range():
    spec = DegradeSpec(noise_prob=1.0, noise_sigma=(8.0, 8.0), poisson_prob=0.0, gray_noise_prob=0.0)
    x = torch.full((3, 64, 64), 0.5)
    y = Degrader(spec)(x, np.random.default_rng(3))
    assert float((y - x).std()) == pytest.approx(8 / 255, rel=0.1)
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_same_generator_state_gives_the_same_degradation():
    spec = DegradeSpec(blur_prob=0.5, noise_prob=0.5, jpeg_prob=0.5)
    x = _img(2)
    a = Degrader(spec)(x, np.random.default_rng(7))
    b = Degrader(spec)(x, np.random.default_rng(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("raw, text", [
    ({"blur": 1}, "unknown key"),
    ({"blur_prob": 1.5}, "probability"),
    ({"noise_sigma": [5, 2]}, "range"),
    ({"jpeg_quality": [50, 120]}, r"\[1, 100\]"),
])
def test_bad_degrade_tables_are_refused(raw, text):
    with pytest.raises(DegradeConfigError, match=text):
        DegradeSpec.from_dict(raw)


def test_config_validates_the_degrade_table():
    with pytest.raises((TrainConfigError, DegradeConfigError)):
        from_dict({"datasets": {"train": {"degrade": {"jpeg_prob": -1}}}})
    cfg = from_dict({"datasets": {"train": {"degrade": {"jpeg_prob": 0.7}}}})
    assert DegradeSpec.from_dict(cfg["datasets"]["train"]["degrade"]).jpeg_prob == 0.7


def test_sampler_degrades_only_the_lr_input(train_images):
    from cisr_zoom.core.train.data import ImageBank, PairSampler
    bank = ImageBank.from_dirs([train_images])
    clean = PairSampler(bank, lr_patch=16, n_points=64, scale_max=2.0)
    noisy = PairSampler(bank, lr_patch=16, n_points=64, scale_max=2.0,
                        degrade=DegradeSpec(noise_prob=1.0, noise_sigma=(20.0, 20.0), poisson_prob=0.0))
    a = clean.sample_one(np.random.default_rng(5))
    b = noisy.sample_one(np.random.default_rng(5))
    assert float((a[0] - b[0]).abs().mean()) > 0.02     # the LR input got noise
    assert a[4] == b[4]                                 # same scale drawn before the degradation
    gt = b[3] * 255.0                                   # targets are untouched 8-bit HR pixels
    assert torch.allclose(gt, gt.round(), atol=1e-3)
