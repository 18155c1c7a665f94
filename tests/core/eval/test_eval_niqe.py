"""NIQE: AGGD fits on samples of known distributions, ordering on distorted images, the shipped model."""

import math

import numpy as np
import pytest

from cisr_zoom.core.eval import niqe as N
from cisr_zoom.core.eval.bicubic import imresize
from cisr_zoom.core.imageio import load_image
from cisr_zoom.resources import RESOURCES_DIR


def test_aggd_fit_recovers_gaussian_and_laplacian(rng):
    # Gaussian: shape 2, both scales sigma * sqrt(Gamma(1/2) / Gamma(3/2)) = sigma * sqrt(2)
    a, bl, br = N.aggd_fit(rng.normal(0, 3.0, 200_000))
    assert a == pytest.approx(2.0, abs=0.03)
    assert bl == pytest.approx(3 * math.sqrt(2), rel=0.02) and br == pytest.approx(3 * math.sqrt(2), rel=0.02)
    # Laplacian with scale b: GGD shape 1, scale b
    a, bl, br = N.aggd_fit(rng.laplace(0, 0.5, 200_000))
    assert a == pytest.approx(1.0, abs=0.03)
    assert bl == pytest.approx(0.5, rel=0.03) and br == pytest.approx(0.5, rel=0.03)
    # a flat patch has no negative/positive side: undefined, not an error
    assert all(math.isnan(v) for v in N.aggd_fit(np.zeros(100)))


def test_mscn_of_constant_image_is_zero():
    c, s = N.mscn(np.full((20, 20), 80.0))
    assert np.allclose(c, 0) and np.allclose(s, 0, atol=1e-4)  # sqrt of rounding noise


def _natural_crop():
    img = load_image(RESOURCES_DIR / "sample.jpg").rgb.astype(np.float64)
    return img[:192, :288]          # 2 x 3 patches of 96x96


def test_shipped_model_loads():
    m = N.load_pristine()
    assert m.mu.shape == (36,) and m.cov.shape == (36, 36)
    assert np.allclose(m.cov, m.cov.T)
    assert m.info["patch"] == 96 and m.info["patches_used"] > 36


def test_niqe_orders_pristine_blurred_noisy(rng):
    img = _natural_crop()
    clean = N.niqe(img)
    blurred = N.niqe(np.clip(imresize(imresize(img, 1 / 4), size=img.shape[:2]), 0, 1))
    noisy = N.niqe(np.clip(img + rng.normal(0, 0.08, img.shape), 0, 1))
    assert math.isfinite(clean)
    assert clean < blurred and clean < noisy
    assert N.niqe(img) == clean                      # deterministic


def test_niqe_needs_a_full_patch():
    assert math.isnan(N.niqe(np.random.default_rng(0).random((90, 200, 3))))


def test_fit_save_load_roundtrip(tmp_path, rng):
    img = _natural_crop()
    imgs = [("a", img), ("b", img[:, ::-1]), ("c", img[::-1]), ("d", img.transpose(1, 0, 2)),
            ("e", np.clip(img * 0.9 + 0.05, 0, 1)), ("f", img[::-1, ::-1]), ("tiny", img[:50, :50])]
    m = N.fit_pristine(imgs * 3, threshold=0.0)        # keep every patch
    assert m.info["images"] == 18 and m.info["patches_total"] == 18 * 6 == m.info["patches_used"]
    p = tmp_path / "p.npz"
    m.save(p)
    back = N.load_pristine(p)
    np.testing.assert_array_equal(back.mu, m.mu)
    np.testing.assert_array_equal(back.cov, m.cov)
    assert back.info["patch"] == 96
    # a pristine model makes its own images look more natural than a noisy copy
    assert N.niqe(img, back) < N.niqe(np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1), back)


def test_fit_keeps_only_the_sharp_patches():
    orig = _natural_crop()
    img = orig.copy()
    img[:, 192:] = np.clip(imresize(imresize(img[:, 192:], 1 / 8), 8), 0, 1)   # last patch column blurred
    feats, sharp = N.image_features(img)
    assert feats.shape == (6, 36) and sharp.shape == (6,)
    _, sharp_orig = N.image_features(orig)
    sharp, sharp_orig = sharp.reshape(2, 3), sharp_orig.reshape(2, 3)   # patches in row-major order
    assert np.all(sharp[:, 2] < 0.8 * sharp_orig[:, 2])
    np.testing.assert_allclose(sharp[:, 0], sharp_orig[:, 0])
    m = N.fit_pristine([("x", img)] * 20, threshold=0.4)
    used = int((sharp > 0.4 * sharp.max()).sum())
    assert 2 <= used <= 4
    assert m.info["patches_total"] == 20 * 6
    assert m.info["patches_used"] == 20 * used < 20 * 6


def test_bad_model_files(tmp_path):
    with pytest.raises(N.NiqeModelError):
        N.load_pristine(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(N.NiqeModelError):
        N.load_pristine(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mu=np.zeros(3), cov=np.eye(3))
    with pytest.raises(N.NiqeModelError):
        N.load_pristine(wrong)


def test_niqe_on_a_benchmark_image(shared_dir):
    img = load_image(shared_dir / "data" / "benchmark" / "Set14" / "HR" / "baboon.png").rgb.astype(np.float64)
    img = img[:192, :192]
    assert N.niqe(img) < N.niqe(np.clip(imresize(imresize(img, 1 / 4), 4), 0, 1))
