"""Render levels and rectangles on a level's grid: pure math."""

import numpy as np
import pytest

from cisr_zoom.core.render.levels import (ImageRect, PixelRect, level_for_scale, level_rect_region,
                                          level_rect_to_image, level_size, order_centre_first, subtract_all,
                                          visible_level_rect)


def test_levels():
    assert level_for_scale(0.5) == 0 and level_for_scale(1.0) == 0
    assert level_for_scale(2.0) == 4 and level_for_scale(2.0 ** 0.25) == 1
    assert level_for_scale(2.0 ** 1.1) == 4  # nearest in log scale
    assert level_size((400, 600), 4) == (800, 1200)


def test_visible_level_rect_covers_exactly_the_visible_pixels():
    vis = ImageRect(10.3, 20.0, 50.7, 30.5)
    r = visible_level_rect((400, 600), 4, vis)  # 2x
    assert r == PixelRect(40, 20, 61, 102)
    back = level_rect_to_image((400, 600), 4, r)
    assert back.contains(vis) and back.x0 > vis.x0 - 0.5 and back.x1 < vis.x1 + 0.5
    assert visible_level_rect((400, 600), 4, ImageRect(-50, -50, 10000, 10000)) == PixelRect(0, 0, 800, 1200)
    y0, x0, y1, x1 = level_rect_region((400, 600), 4, PixelRect(0, 0, 400, 600))
    assert (y0, x0, y1, x1) == pytest.approx((-1, -1, 0, 0))


def test_rect_subtraction_is_exact():
    outer = PixelRect(0, 0, 100, 100)
    holes = [PixelRect(10, 10, 40, 60), PixelRect(30, 50, 120, 70), PixelRect(-5, 90, 5, 200)]
    pieces = subtract_all(outer, holes)
    covered = set()
    for p in pieces:
        for y in range(p.top, p.bottom):
            for x in range(p.left, p.right):
                assert (y, x) not in covered
                covered.add((y, x))
    expect = {(y, x) for y in range(100) for x in range(100)
              if not any(h.top <= y < h.bottom and h.left <= x < h.right for h in holes)}
    assert covered == expect


def test_centre_first_order():
    rs = [PixelRect(0, 0, 10, 10), PixelRect(45, 45, 55, 55), PixelRect(90, 90, 100, 100)]
    assert order_centre_first(rs, 50, 50)[0] == rs[1]


def test_rect_subtraction_random_cases(rng):
    for _ in range(30):
        outer = PixelRect(0, 0, int(rng.integers(5, 40)), int(rng.integers(5, 40)))
        holes = []
        for _ in range(int(rng.integers(0, 12))):
            t, l = int(rng.integers(-5, 40)), int(rng.integers(-5, 40))
            holes.append(PixelRect(t, l, t + int(rng.integers(1, 20)), l + int(rng.integers(1, 20))))
        pieces = subtract_all(outer, holes)
        mask = np.zeros((outer.bottom, outer.right), int)
        for p in pieces:
            assert outer.contains(p) and not p.is_empty()
            mask[p.top:p.bottom, p.left:p.right] += 1
        want = np.ones_like(mask)
        for h in holes:
            want[max(h.top, 0):max(h.bottom, 0), max(h.left, 0):max(h.right, 0)] = 0
        assert (mask == want).all()


def test_subtracting_a_grid_of_tiles():
    tiles = [PixelRect(y, x, y + 128, x + 128) for y in range(0, 1400, 128) for x in range(0, 2200, 128)]
    view = PixelRect(37, 51, 1300, 2100)
    assert subtract_all(view, tiles) == []
    assert subtract_all(view, tiles[1:]) == [PixelRect(37, 51, 128, 128)]
