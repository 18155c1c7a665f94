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


# -- second order (Real-ESRGAN) ---------------------------------------------------------------

from cisr_zoom.core.train.degrade import (KERNELS, SecondOrderSpec, filter2d, gaussian_noise,  # noqa: E402
                                          mixed_kernel, poisson_noise, random_kernel, separable_blur,
                                          sinc_kernel, unsharp_mask)


def _photo(seed=0, size=96):
    """Smooth, non-periodic content with mild texture (uint8 levels, as training crops are)."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(size)
    low = np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / (2 * 0.06 ** 2))
    tex = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((3, size, size))) * low))
    x = np.clip(0.5 + 0.25 * tex / tex.std(), 0, 1)
    return torch.from_numpy(np.round(x * 255) / 255).float()


def _second(**kw):
    return Degrader(DegradeSpec.from_dict({"second_order": True, **kw}))


def test_second_order_is_reproducible_from_the_generator_and_sized_to_the_lr():
    hr = _photo()
    for kw in ({}, {"shuffle_prob": 1.0, "usm_gt": True}):
        d = _second(**kw)
        a, ta = d.pair(hr, 24, np.random.default_rng(3))
        b, tb = d.pair(hr, 24, np.random.default_rng(3))
        c, _ = d.pair(hr, 24, np.random.default_rng(4))
        assert a.shape == (3, 24, 24) and torch.equal(a, b) and torch.equal(ta, tb)
        assert not torch.equal(a, c)
        assert float(a.min()) >= 0 and float(a.max()) <= 1
    with pytest.raises(RuntimeError):
        _second()(hr, np.random.default_rng(0))                      # first-order call on a second-order spec


def test_every_blur_kernel_sums_to_one_and_has_its_shape():
    for kind in KERNELS:
        k = mixed_kernel(kind, 21, 2.0, 1.0 if "aniso" in kind else 2.0, 0.0, 1.5 if kind != "iso" else 1.0)
        assert k.shape == (21, 21) and k.sum() == pytest.approx(1.0) and k.min() >= 0
        assert np.allclose(k, k[::-1, ::-1])                          # point-symmetric
    iso = mixed_kernel("iso", 21, 2.0, 2.0, 0.0)
    assert np.allclose(iso, iso.T)
    aniso = mixed_kernel("aniso", 21, 3.0, 1.0, 0.0)                # sigma_x 3 along x, 1 along y
    r = np.arange(21) - 10
    var_x, var_y = (aniso.sum(0) * r ** 2).sum(), (aniso.sum(1) * r ** 2).sum()
    assert var_x == pytest.approx(9.0, rel=0.05) and var_y == pytest.approx(1.0, rel=0.05)
    s = sinc_kernel(13, np.pi / 3)
    assert s.sum() == pytest.approx(1.0) and s.min() < 0                 # ringing lobes
    spec = SecondOrderSpec()
    for i in range(30):
        k = random_kernel(spec.stage(1), np.random.default_rng(i))
        assert k.shape[0] % 2 == 1 and 7 <= k.shape[0] <= 21 and k.sum() == pytest.approx(1.0)


def test_noise_strength_matches_its_settings():
    x = torch.full((3, 128, 128), 0.5)
    g = gaussian_noise(x, 10 / 255, False, np.random.default_rng(0)) - x
    assert float(g.std()) == pytest.approx(10 / 255, rel=0.03)
    grey = gaussian_noise(x, 10 / 255, True, np.random.default_rng(0)) - x
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert float((g[0] - g[1]).std()) > 0.01                            # colour noise differs per channel
    p = poisson_noise(x, 2.0, False, np.random.default_rng(1)) - x
    assert float(p.std()) == pytest.approx(2.0 * np.sqrt(0.5 * 255) / 255, rel=0.05)   # shot noise x scale
    # the pipeline's noise stage alone (no blur, keep size, JPEG 100): the residual is that noise
    # (grey, so that JPEG's 4:2:0 chroma leaves it whole)
    d = _second(kernel_probs=[1, 0, 0, 0, 0, 0], blur_sigma=[0.01, 0.01], sinc_prob=0, second_blur_prob=0,
                resize_probs=[0, 0, 1], resize_probs2=[0, 0, 1], gaussian_noise_prob=1, noise_range=[12, 12],
                gray_noise_prob=1, gaussian_noise_prob2=1, noise_range2=[0, 0], jpeg_range=[100, 100],
                jpeg_range2=[100, 100], final_sinc_prob=0, kernel_size=[3, 3])
    flat = torch.full((3, 64, 64), 0.5)
    lr, _ = d.pair(flat, 64, np.random.default_rng(2))
    assert float((lr - flat).std()) == pytest.approx(12 / 255, rel=0.15)


def test_jpeg_stages_raise_the_8x8_blocking_energy():
    from cisr_zoom.core.eval.artifacts import blocking_energy
    quiet = dict(kernel_probs=[1, 0, 0, 0, 0, 0], blur_sigma=[0.01, 0.01], sinc_prob=0, second_blur_prob=0,
                 resize_probs=[0, 0, 1], resize_probs2=[0, 0, 1], gaussian_noise_prob=1, noise_range=[0, 0],
                 gaussian_noise_prob2=1, noise_range2=[0, 0], final_sinc_prob=0, kernel_size=[3, 3])
    hr = _photo(5, 96)
    img = lambda t: t.permute(1, 2, 0).numpy()  # noqa: E731
    e = {}
    for q in (100, 25):
        lr, _ = _second(jpeg_range=[q, q], jpeg_range2=[q, q], **quiet).pair(hr, 96, np.random.default_rng(0))
        e[q] = blocking_energy(img(lr), 1)
    assert e[25] > 3 * e[100]


def test_resize_and_blur_stages_remove_detail():
    hr = _photo(6, 96)
    hf = lambda t: float((t[:, :, 1:] - t[:, :, :-1]).abs().mean())  # noqa: E731
    lr, _ = _second(noise_range=[0, 0], noise_range2=[0, 0], gaussian_noise_prob=1, gaussian_noise_prob2=1,
                    jpeg_range=[100, 100], jpeg_range2=[100, 100], blur_sigma=[2.5, 3.0],
                    sinc_prob=0).pair(hr, 96, np.random.default_rng(1))
    assert hf(lr) < 0.7 * hf(hr)


def test_unsharp_mask_sharpens_the_target_only_when_asked():
    hr = _photo(7, 64)
    _, same = _second().pair(hr, 16, np.random.default_rng(0))
    _, sharp = _second(usm_gt=True).pair(hr, 16, np.random.default_rng(0))
    assert torch.equal(same, hr)
    hf = lambda t: float((t[:, :, 1:] - t[:, :, :-1]).pow(2).mean())  # noqa: E731
    assert hf(sharp) > 1.1 * hf(hr) and torch.equal(sharp, unsharp_mask(hr, 0.5))
    assert abs(float(sharp.mean() - hr.mean())) < 0.01


@pytest.mark.parametrize("raw, text", [
    ({"second_order": "yes"}, "true or false"),
    ({"second_order": True, "blur_prob": 0.5}, "first-order key"),
    ({"second_order": True, "kernel_probs": [0.5, 0.5, 0, 0, 0, 0.1]}, "summing to 1"),
    ({"second_order": True, "resize_probs": [1, 0]}, "3 probabilities"),
    ({"second_order": True, "resize_range": [0, 1]}, "above 0"),
    ({"second_order": True, "jpeg_range2": [20, 120]}, r"\[1, 100\]"),
    ({"second_order": True, "kernel_size": [8, 8]}, "odd size"),
    ({"second_order": True, "usm_gt": 1}, "true or false"),
    ({"second_order": True, "sinc_prob2": 2}, "probability"),
    ({"jpeg_range": [30, 95]}, "second-order key"),
])
def test_bad_second_order_tables_are_one_line_errors(raw, text):
    with pytest.raises(DegradeConfigError, match=text) as e:
        DegradeSpec.from_dict(raw)
    assert "\n" not in str(e.value)


def test_sampler_uses_the_second_order_pipeline_and_its_sharpened_target(train_images):
    from cisr_zoom.core.train.data import ImageBank, PairSampler
    from cisr_zoom.core.train.config import from_dict
    cfg = from_dict({"datasets": {"train": {"degrade": {"second_order": True, "usm_gt": True}}}})
    spec = DegradeSpec.from_dict(cfg["datasets"]["train"]["degrade"])
    assert spec.active and "second-order" in spec.describe() and "unsharp" in spec.describe()
    bank = ImageBank.from_dirs([train_images])
    s = PairSampler(bank, lr_patch=16, sample="patches", patch_size=16, scale_max=3.0, degrade=spec)
    a = s.sample_one(np.random.default_rng(5))
    b = s.sample_one(np.random.default_rng(5))
    assert a[0].shape == (3, 16, 16) and all(torch.equal(x, y) for x, y in zip(a[:4], b[:4]))
    gt = a[3] * 255.0
    assert not torch.allclose(gt, gt.round(), atol=1e-3)             # the unsharp-masked target, not 8-bit HR
    lr = a[0] * 255.0
    assert torch.allclose(lr, lr.round(), atol=1e-4)                  # the LR is still rounded to 8 bits


def test_fast_filters_equal_a_direct_convolution():
    import torch.nn.functional as F
    x = _img(9, 40)[:, :, :37]
    k = mixed_kernel("aniso", 15, 2.5, 1.0, 0.7)
    direct = F.conv2d(F.pad(x[None], (7, 7, 7, 7), mode="reflect"),
                      torch.from_numpy(k.astype(np.float32)).view(1, 1, 15, 15).expand(3, 1, 15, 15), groups=3)[0]
    assert torch.allclose(filter2d(x, k), direct, atol=1e-5)
    assert torch.allclose(separable_blur(x, 1.5), gaussian_blur(x, 1.5), atol=1e-5)
    tiny = _img(10, 6)                                     # smaller than the kernel: replicate padding
    assert filter2d(tiny, k).shape == tiny.shape and separable_blur(tiny, 3.0).shape == tiny.shape
