"""The cell-pattern measure: energy at the harmonics of the LR pixel period."""

from __future__ import annotations

import numpy as np
import pytest

from cisr_zoom.core.eval.artifacts import cell_energy, cell_pattern_score, mean_cell
from cisr_zoom.core.eval.bicubic import imresize


def _smooth(seed: int, side: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lr = (rng.random((side // 8, side // 8, 3)) * 255).astype(np.uint8)
    return imresize(lr, size=(side, side))


def test_a_periodic_cell_texture_is_measured_and_smooth_content_is_not():
    s = 6
    img = _smooth(0, 240).astype(np.float64) / 255.0
    cell = np.random.default_rng(1).standard_normal((s, s)) * 0.02
    cell -= cell.mean()
    tex = img + np.tile(cell, (240 // s, 240 // s))[..., None]
    e_clean, e_tex = cell_energy(img, s), cell_energy(tex, s)
    assert e_tex > 50 * e_clean
    # the folded cell recovers the added pattern (up to the box filter's removal of its mean)
    got = mean_cell(tex[..., 0] * 0.299 + tex[..., 1] * 0.587 + tex[..., 2] * 0.114, s)
    assert np.corrcoef(got.ravel(), cell.ravel())[0, 1] > 0.95


def test_score_is_relative_to_bicubic_on_the_same_input():
    s = 4
    rng = np.random.default_rng(2)
    lr = (rng.random((40, 40, 3)) * 255).astype(np.uint8)         # a noisy "photo" at its own pixels
    bic = imresize(lr, size=(160, 160))
    assert cell_pattern_score(bic, bic, s) == pytest.approx(1.0)
    cell = np.zeros((s, s))
    cell[0, :] = 0.08                                             # a grid line every LR pixel
    grid = np.clip(bic / 255.0 + np.tile(cell, (40, 40))[..., None], 0, 1)
    assert cell_pattern_score(grid, bic, s) > 2.0
    with pytest.raises(ValueError):
        cell_energy(bic, 1)


# -- known energies, JPEG blocking, masks -----------------------------------------------------

from cisr_zoom.core.eval.artifacts import blocking_energy, smooth_mask  # noqa: E402


def _grey(y: np.ndarray) -> np.ndarray:
    return np.repeat(y[..., None], 3, axis=2)        # luma of (v, v, v) is v


@pytest.mark.parametrize("s", [2, 4, 6])
def test_a_synthetic_cell_pattern_has_exactly_its_energy(s):
    cell = np.random.default_rng(s).standard_normal((s, s)) * 0.03
    cell -= cell.mean()
    img = _grey(0.5 + np.tile(cell, (20, 24)))
    assert cell_energy(img, s) == pytest.approx(float(np.mean(cell ** 2)), rel=1e-9)
    # it is a pattern at the LR period, not JPEG blocking
    assert blocking_energy(img, s) < 1e-20


def _steps(n_blocks: int, p: int, a: float, b: float, seed: int) -> np.ndarray:
    """A 1-D signal whose squared steps are ``a`` at every position but the last of each period
    ``p`` (between blocks), where they are ``b``; random signs (as JPEG block edges have)."""
    rng = np.random.default_rng(seed)
    d2 = np.tile(np.r_[np.full(p - 1, a), b], n_blocks)
    return np.r_[0.0, np.cumsum(np.sqrt(d2) * rng.choice([-1.0, 1.0], d2.size))]


@pytest.mark.parametrize("s", [1, 2, 3])
def test_blocking_of_a_synthetic_step_pattern_has_its_known_energy(s):
    p, a, b = 8 * s, 1e-4, 9e-4
    n = 12
    x = _steps(n, p, a, b, 0)[:n * p]                 # differences 0 .. n p - 2: the profile
    y = _steps(n, p, a, b, 1)[:n * p]                 # sees every phase n - 1 or n times
    img = _grey(0.5 + 0.01 * (x[None, :] + y[:, None]))
    prof = np.r_[np.full(p - 1, a), b] * 1e-4
    # the known answer: the profile less its period-s fold, relative to its mean (both axes alike)
    resid = prof - np.tile(prof.reshape(8, s).mean(axis=0), 8)
    want = np.mean(resid ** 2) / np.mean(prof) ** 2
    assert blocking_energy(img, s) == pytest.approx(want, rel=0.05)
    assert blocking_energy(_grey(0.5 + 0.01 * (_steps(n, p, a, a, 0)[:n * p][None, :] +
                                               _steps(n, p, a, a, 1)[:n * p][:, None])), s) < 1e-3 * want


def test_jpeg_raises_the_blocking_energy_of_an_image():
    from cisr_zoom.core.eval.degrade_lr import parse_degrade
    rng = np.random.default_rng(4)
    f = np.fft.fftfreq(128)
    lowpass = np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / (2 * 0.05 ** 2))[..., None]   # no period
    tex = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((128, 128, 3)), axes=(0, 1)) * lowpass, axes=(0, 1)))
    lr = np.clip(128 + 60 * tex / tex.std() + rng.normal(0, 2, tex.shape), 0, 255).astype(np.uint8)
    clean = blocking_energy(lr, 1)
    q = {k: blocking_energy(parse_degrade(f"jpeg:{k}").apply(lr, "a.png", 4), 1) for k in (20, 50)}
    assert q[20] > 3 * clean and q[50] > clean


def test_masks_select_the_cells_folded():
    s = 4
    rng = np.random.default_rng(5)
    cell = rng.standard_normal((s, s)) * 0.02
    cell -= cell.mean()
    y = np.full((120, 160), 0.5)
    y[:, 80:] += np.tile(cell, (30, 20))               # the pattern only on the right half
    img = _grey(y)
    full = np.ones((30, 40), bool)
    right, left = np.zeros((30, 40), bool), np.zeros((30, 40), bool)
    right[:, 21:], left[:, :19] = True, True            # one cell off the seam the box filter sees
    assert cell_energy(img, s, full) == pytest.approx(cell_energy(img, s))
    assert cell_energy(img, s, right) == pytest.approx(float(np.mean(cell ** 2)), rel=1e-9)
    assert cell_energy(img, s, left) < 1e-20
    assert np.isnan(cell_energy(img, s, np.zeros((30, 40), bool)))
    with pytest.raises(ValueError):
        cell_energy(img, s, np.ones((3, 3), bool))


def test_smooth_mask_picks_the_flat_half():
    lr = np.full((40, 40, 3), 128, np.uint8)
    lr[:, 24:] = (np.random.default_rng(6).random((40, 16, 3)) * 255).astype(np.uint8)   # 60 % flat
    m = smooth_mask(lr)
    assert m.shape == (40, 40) and m.sum() >= 0.5 * m.size
    assert m[:, :20].all() and not m[:, 26:].any()
