"""MATLAB bicubic imresize: kernel values and weights derived by hand from the kernel definition."""

import numpy as np
import pytest
import torch

from cisr_zoom.core.eval.bicubic import contributions, cubic, downscale, imresize, modcrop, output_size


def test_cubic_kernel_values():
    # a = -0.5: 1.5|x|^3 - 2.5|x|^2 + 1 on [0, 1]; -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2 on (1, 2]
    x = np.array([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.5, -0.5])
    want = [1, 0.8671875, 0.5625, 0.2265625, 0, -0.0703125, -0.0625, -0.0234375, 0, 0, 0.5625]
    np.testing.assert_allclose(cubic(x), want, atol=1e-15)


def test_upscale_x2_of_an_impulse_gives_the_kernel_taps():
    # output pixel j (1-based) samples the input at u = j/2 + 1/4; the impulse sits at input 3,
    # so the outputs see it at distances 2.75, 2.25, 1.75, ..., i.e. k(1.75), k(1.25), k(0.75), k(0.25)
    f = np.zeros((6, 6))
    f[2, 2] = 1.0
    taps = np.array([0, -0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625,
                     -0.0703125, -0.0234375, 0, 0, 0])
    out = imresize(f, 2)
    assert out.shape == (12, 12)
    np.testing.assert_allclose(out, np.outer(taps, taps), atol=1e-14)


def test_upscale_border_uses_symmetric_padding():
    # first output pixel: u = 0.75, inputs -2..3 (1-based) mirror to 3, 2, 1, 1, 2, 3:
    # k(0.75) f1 + k(0.25) f1 + k(1.75) f2 + k(1.25) f2 = 1.09375 f1 - 0.09375 f2
    f = np.array([[1.0, 0.0, 0.0, 0.0]])
    out = imresize(f, size=(1, 8))
    assert out[0, 0] == pytest.approx(1.09375, abs=1e-14)
    # second: u = 1.25, inputs -1..4 mirror to 2, 1, 1, 2, 3, 4: f1 gets k(1.25) + k(0.25)
    assert out[0, 1] == pytest.approx(-0.0703125 + 0.8671875, abs=1e-14)
    w, idx = contributions(4, 8, 2.0)
    np.testing.assert_allclose(w[0], [0, -0.0234375, 0.2265625, 0.8671875, -0.0703125, 0], atol=1e-15)
    assert idx[0].tolist() == [2, 1, 0, 0, 1, 2]


def test_antialiased_x2_downscale_weights():
    # shrinking by 2: kernel 0.5 k(0.5 d) at d = +-0.5, +-1.5, +-2.5, +-3.5
    w, idx = contributions(32, 16, 0.5)
    row = w[8]  # an interior output pixel
    nz = row[np.abs(row) > 0]
    half = [-0.01171875, -0.03515625, 0.11328125, 0.43359375]
    np.testing.assert_allclose(nz, half + half[::-1], atol=1e-15)
    assert np.allclose(w.sum(axis=1), 1.0)


def test_downscale_x2_of_a_ramp_averages_pixel_pairs():
    ramp = np.tile(np.arange(32, dtype=np.float64), (32, 1))      # value = column index
    out = imresize(ramp, 0.5)
    assert out.shape == (16, 16)
    # output column j (0-based) is centred between input columns 2j and 2j+1; the cubic
    # kernel reproduces linear functions, so away from the border it is their mean
    np.testing.assert_allclose(out[:, 2:-2], np.tile(2 * np.arange(2, 14) + 0.5, (16, 1)), atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 0.5, 1 / 3, 1 / 4, 1 / 30, 0.7, 30])
def test_constant_images_stay_constant(scale):
    img = np.full((60, 45, 3), 0.37)
    out = imresize(img, scale)
    np.testing.assert_allclose(out, 0.37, atol=1e-12)


def test_output_size_rule():
    assert output_size((255, 120), 1 / 3) == (85, 40)   # not 86 from float noise
    assert output_size((5, 7), 0.5) == (3, 4)           # ceil
    assert imresize(np.zeros((5, 7)), 0.5).shape == (3, 4)
    assert imresize(np.zeros((10, 10, 3)), size=(7, 23)).shape == (7, 23, 3)


def test_torch_matches_numpy_and_uint8_rounds(rng):
    img = rng.random((3, 24, 20))
    t = imresize(torch.from_numpy(img), 1 / 3)
    n = imresize(img.transpose(1, 2, 0), 1 / 3).transpose(2, 0, 1)
    assert t.dtype == torch.float64 and tuple(t.shape) == (3, 8, 7)
    np.testing.assert_allclose(t.numpy(), n, atol=1e-12)
    t32 = imresize(torch.from_numpy(img).float(), 2)
    assert t32.dtype == torch.float32
    u8 = (img.transpose(1, 2, 0) * 255).round().astype(np.uint8)
    out8 = imresize(u8, 1 / 2)
    assert out8.dtype == np.uint8
    np.testing.assert_array_equal(imresize(torch.from_numpy(u8).permute(2, 0, 1), 1 / 2).permute(1, 2, 0).numpy(), out8)
    assert np.abs(out8.astype(float) - imresize(u8.astype(float), 1 / 2)).max() <= 1.0


def test_modcrop_and_downscale():
    hr = np.zeros((50, 37, 3))
    c = modcrop(hr, 4)
    assert c.shape == (48, 36, 3)
    assert downscale(c, 4).shape == (12, 9, 3)
    with pytest.raises(ValueError):
        downscale(hr, 4)
    with pytest.raises(ValueError):
        modcrop(hr, 2.5)
