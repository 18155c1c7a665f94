import pytest
import torch

from cisr_zoom.core.coords import (make_cell, make_coord, pixel_centers, region_of_pixels, region_of_rect,
                                   scale_to_size, sub_region)


def test_pixel_centers_by_hand():
    # 4 pixels over [-1, 1]: width 0.5, centres at -0.75, -0.25, 0.25, 0.75
    assert pixel_centers(4).tolist() == pytest.approx([-0.75, -0.25, 0.25, 0.75])
    # 1 pixel: centre 0
    assert pixel_centers(1).tolist() == [0.0]
    # 3 pixels: -1 + (2i+1)/3
    assert pixel_centers(3).tolist() == pytest.approx([-2 / 3, 0.0, 2 / 3])
    with pytest.raises(ValueError):
        pixel_centers(0)


def test_make_coord_layout_is_y_then_x():
    c = make_coord((2, 4), flatten=False)
    assert c.shape == (2, 4, 2)
    assert c[0, 0].tolist() == pytest.approx([-0.5, -0.75])   # top-left: y=-0.5, x=-0.75
    assert c[1, 3].tolist() == pytest.approx([0.5, 0.75])     # bottom-right
    assert make_coord((2, 4)).shape == (8, 2)
    # row-major flattening: second entry is one step right
    assert make_coord((2, 4))[1].tolist() == pytest.approx([-0.5, -0.25])


def test_make_coord_region():
    # 2x2 grid over the top-left quadrant (y0,x0,y1,x1) = (-1,-1,0,0): centres at -0.75, -0.25
    c = make_coord((2, 2), region=(-1, -1, 0, 0), flatten=False)
    assert c[0, 0].tolist() == pytest.approx([-0.75, -0.75])
    assert c[1, 1].tolist() == pytest.approx([-0.25, -0.25])


def test_cells():
    assert make_cell((100, 50)).tolist() == pytest.approx([0.02, 0.04])
    assert make_cell((2, 2), region=(-1, -1, 0, 0)).tolist() == pytest.approx([0.5, 0.5])
    cells = make_cell((10, 20), n=7)
    assert cells.shape == (7, 2) and torch.allclose(cells[3], torch.tensor([0.2, 0.1]))


def test_sub_regions_tile_the_full_grid():
    # the pixel-centre coordinates of a sub-block equal the corresponding block of the full grid
    full = make_coord((12, 20), flatten=False)
    reg = region_of_pixels((12, 20), top=3, left=5, height=4, width=6)
    sub = make_coord((4, 6), region=reg, flatten=False)
    assert torch.allclose(sub, full[3:7, 5:11], atol=1e-6)
    assert make_cell((4, 6), region=reg).tolist() == pytest.approx(make_cell((12, 20)).tolist())


def test_scale_to_size():
    assert scale_to_size((10, 20), (3.5, 3.5)) == (35, 70)
    assert scale_to_size((3, 3), (2.7, 13)) == (8, 39)
    assert scale_to_size((1, 1), (0.1, 0.1)) == (1, 1)


def test_pixel_rectangles_to_regions():
    # pixels [2, 6) x [0, 3) of an 8 x 6 grid: y from -1 + 4/8 to -1 + 12/8, x from -1 to 0
    assert region_of_rect((8, 6), 2, 0, 6, 3) == pytest.approx((-0.5, -1.0, 0.5, 0.0))
    assert region_of_pixels((8, 6), 2, 0, 4, 3) == region_of_rect((8, 6), 2, 0, 6, 3)
    assert region_of_rect((3, 7), 0, 0, 3, 7) == (-1.0, -1.0, 1.0, 1.0)          # exact at the edges
    assert region_of_rect((10, 10), -2.5, 0, 12.5, 5) == pytest.approx((-1.5, -1.0, 1.5, 0.0))  # outside, fractional
    region = (-0.3, -0.7, 0.9, 0.1)
    assert sub_region(region, (7, 9), 0, 0, 7, 9) == region                         # whole grid: exactly the region
    top = sub_region(region, (7, 9), 0, 0, 3, 9)
    bottom = sub_region(region, (7, 9), 3, 0, 4, 9)
    assert top[2] == bottom[0] and top[0] == region[0] and bottom[2] == region[2]   # pieces tile it exactly
    assert top[2] == pytest.approx(-0.3 + 1.2 * 3 / 7)


def test_lr_pixels_under_a_region_with_its_margin():
    from cisr_zoom.core.coords import lr_pixels_under
    assert lr_pixels_under((-1.0, -1.0, 1.0, 1.0), (10, 20)) == (0, 10, 0, 20)        # clipped
    assert lr_pixels_under((0.0, 0.0, 0.2, 0.1), (10, 20), margin=0) == (5, 6, 10, 11)
    assert lr_pixels_under((0.0, 0.0, 0.2, 0.1), (10, 20)) == (4, 7, 9, 12)
    r0, r1, c0, c1 = lr_pixels_under((0.999, 0.999, 1.0, 1.0), (10, 20), margin=0)
    assert r1 > r0 and c1 > c0                                                         # never empty
