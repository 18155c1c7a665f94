"""The crop figure: columns of one size, labelled, written atomically; bad input in one line."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cisr_zoom.core.eval.figure import GAP, LABEL_HEIGHT, crop_at, main, side_by_side


def test_crop_is_clipped_to_the_image_and_centred_by_default():
    img = np.arange(10 * 12 * 3, dtype=np.uint8).reshape(10, 12, 3)
    assert crop_at(img, 4).shape == (4, 4, 3) and (crop_at(img, 4) == img[3:7, 4:8]).all()
    assert (crop_at(img, 4, (100, -5)) == img[6:10, 0:4]).all()
    assert crop_at(img, 50).shape == (10, 10, 3)


def test_columns_are_placed_side_by_side_under_their_labels():
    a = np.full((8, 5, 3), 10, np.uint8)
    b = np.full((8, 5, 3), 200, np.uint8)
    fig = side_by_side([("a", a), ("b", b)])
    assert fig.shape == (8 + LABEL_HEIGHT, 2 * 5 + GAP, 3)
    assert (fig[LABEL_HEIGHT:, :5] == 10).all() and (fig[LABEL_HEIGHT:, 5 + GAP:] == 200).all()
    assert (fig[LABEL_HEIGHT:, 5:5 + GAP] == 255).all()


def test_cli_writes_the_figure_and_refuses_a_bad_image(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = tmp_path / "photo.png"
    Image.fromarray((rng.random((40, 50, 3)) * 255).astype(np.uint8)).save(src)
    out = tmp_path / "fig.png"
    assert main([str(src), "-o", str(out), "--scale", "3", "--crop", "16"]) == 0
    fig = np.asarray(Image.open(out))
    assert fig.shape == (16 * 3 + LABEL_HEIGHT, 16 * 3, 3)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main([str(bad), "-o", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and not (tmp_path / "x.png").exists()
