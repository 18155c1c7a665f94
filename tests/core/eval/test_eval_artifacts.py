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
