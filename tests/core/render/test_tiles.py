"""Tile plans cover the view exactly, centre first, with consistent sub-regions."""

from __future__ import annotations

import numpy as np
import pytest

from cisr_zoom.core.render.tiles import plan_tiles


@pytest.mark.parametrize("out_size,tile", [((800, 1280), 256), ((37, 53), 16), ((1, 1), 256), ((300, 5), 7)])
def test_tiles_cover_view_once(out_size, tile):
    H, W = out_size
    cover = np.zeros((H, W), dtype=int)
    for t in plan_tiles((-1, -1, 1, 1), out_size, tile):
        assert 1 <= t.height <= tile and 1 <= t.width <= tile
        cover[t.top:t.top + t.height, t.left:t.left + t.width] += 1
    assert (cover == 1).all()


def test_centre_first_and_regions():
    region = (-0.5, -0.25, 0.5, 0.75)
    tiles = plan_tiles(region, (800, 1280), 256)
    first = tiles[0]
    assert first.top <= 400 < first.top + first.height and first.left <= 640 < first.left + first.width
    d = [abs(t.top + t.height / 2 - 400) + abs(t.left + t.width / 2 - 640) for t in tiles]
    assert d[0] == min(d) and d[-1] == max(d)
    for t in tiles:
        y0, x0, y1, x1 = t.region
        assert y0 == pytest.approx(-0.5 + t.top / 800) and y1 == pytest.approx(-0.5 + (t.top + t.height) / 800)
        assert x0 == pytest.approx(-0.25 + t.left / 1280) and x1 == pytest.approx(-0.25 + (t.left + t.width) / 1280)


def test_bad_sizes():
    with pytest.raises(ValueError):
        plan_tiles((-1, -1, 1, 1), (0, 10))
