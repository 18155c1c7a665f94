"""PSNR / SSIM against values that follow from their definitions."""

import math

import numpy as np
import pytest

from cisr_zoom.core.eval import metrics as M


def test_rgb_to_y_range():
    assert M.rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16.0)
    assert M.rgb_to_y(np.ones((1, 1, 3)))[0, 0] == pytest.approx(235.0)
    assert M.rgb_to_y(np.array([[[1.0, 0, 0]]]))[0, 0] == pytest.approx(16 + 65.481)
    u8 = np.full((2, 2, 3), 255, np.uint8)
    assert M.rgb_to_y(u8)[0, 0] == pytest.approx(235.0)


def test_psnr_identical_is_infinite_and_known_mse(rng):
    hr = rng.random((20, 24, 3)) * 0.8
    assert M.psnr_rgb(hr, hr) == math.inf
    # a uniform offset of 0.01 on every channel: MSE 1e-4 -> exactly 40 dB on RGB
    assert M.psnr_rgb(hr + 0.01, hr) == pytest.approx(40.0, abs=1e-9)
    # on Y the offset becomes 0.01 * (65.481 + 128.553 + 24.966) = 2.19 grey levels
    assert M.psnr_y(hr + 0.01, hr) == pytest.approx(20 * math.log10(255 / 2.19), abs=1e-9)


def test_shave_ignores_the_border(rng):
    hr = rng.random((30, 30, 3))
    sr = hr.copy()
    sr[:4] = 0.0
    sr[:, -4:] = 1.0
    assert M.psnr_y(sr, hr, border=4) == math.inf
    assert M.psnr_y(sr, hr, border=3) < 40
    half = hr.copy()
    half[10:20, 10:20] += 0.1          # MSE over the 20x20 shaved image: 0.01 * 100 / 400
    assert M.psnr_rgb(half, hr, border=5) == pytest.approx(10 * math.log10(1 / (0.01 * 100 / 400)), abs=1e-9)


def test_protocols():
    p = M.protocol("benchmark", 4)
    assert (p.border, p.psnr_on) == (4, "y")
    p = M.protocol("div2k", 3)
    assert (p.border, p.psnr_on) == (9, "rgb")
    assert M.guess_kind("DIV2K_valid_HR") == "div2k"
    assert M.guess_kind("Set5") == "benchmark"
    with pytest.raises(ValueError):
        M.protocol("kodak", 2)


def test_ssim_identical_and_constant_shift():
    a = np.full((16, 16), 100.0)
    assert M.ssim(a, a) == pytest.approx(1.0)
    # constant images: no variance, so SSIM is the luminance term (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    b = np.full((16, 16), 120.0)
    c1 = (0.01 * 255) ** 2
    assert M.ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1), rel=1e-12)


def test_ssim_map_matches_a_direct_window_sum(rng):
    a = rng.random((20, 23)) * 255
    b = np.clip(a + rng.normal(0, 15, a.shape), 0, 255)
    smap = M.ssim_map(a, b)
    assert smap.shape == (10, 13)
    r = np.arange(11) - 5.0
    w = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5 ** 2))
    w /= w.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    for (i, j) in [(0, 0), (4, 7), (9, 12)]:
        pa, pb = a[i:i + 11, j:j + 11], b[i:i + 11, j:j + 11]
        ma, mb = (w * pa).sum(), (w * pb).sum()
        va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
        cov = (w * (pa - ma) * (pb - mb)).sum()
        want = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
        assert smap[i, j] == pytest.approx(want, rel=1e-10)
    assert 0 < M.ssim(a, b) < 1


def test_ssim_y_worse_for_noise(rng):
    hr = rng.random((32, 32, 3))
    noisy = np.clip(hr + rng.normal(0, 0.1, hr.shape), 0, 1)
    assert M.ssim_y(hr, hr, border=2) == pytest.approx(1.0)
    assert M.ssim_y(noisy, hr, border=2) < 0.99


def test_errors():
    with pytest.raises(ValueError):
        M.psnr(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        M.shave(np.zeros((6, 6)), 3)
    with pytest.raises(ValueError):
        M.ssim(np.zeros((8, 8)), np.zeros((8, 8)))


def test_grey_images_are_scored_on_grey_levels(rng):
    g = rng.random((20, 20))
    hr = np.repeat(g[..., None], 3, axis=2)
    sr = np.clip(hr + 0.01, 0, 1)
    np.testing.assert_allclose(M.rgb_to_grey(hr), 255 * g, atol=1e-9)
    want = M.psnr(255 * sr[..., 0], 255 * g, 255.0)
    assert M.psnr_y(sr, hr, grey=True) == pytest.approx(want, abs=1e-9)
    # studio-range Y shrinks the errors by 219/255: +1.32 dB
    assert M.psnr_y(sr, hr) - M.psnr_y(sr, hr, grey=True) == pytest.approx(20 * math.log10(255 / 219), abs=1e-6)
    assert M.protocol("benchmark", 2).psnr(sr, hr, grey=True) == pytest.approx(M.psnr_y(sr, hr, 2, grey=True))
