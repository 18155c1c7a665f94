import pytest
import torch

from cisr_zoom.core.coords import make_cell, make_coord, pixel_centers, region_of_pixels, scale_to_size


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
