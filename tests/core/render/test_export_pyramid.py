"""Tiled pyramidal BigTIFF: readable by tifffile with the expected levels (SubIFDs, OME-XML),
each level the 2 x 2 mean of the one above, written in strips with bounded memory, atomic."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
import tifffile

from cisr_zoom.core.errors import CisrError
from cisr_zoom.core.imageio import ImageMetadata, LoadedImage
from cisr_zoom.core.imagewrite.pyramid import PYRAMID_TILE, pyramid_sizes
from cisr_zoom.core.render.export import export_image
from cisr_zoom.core.render.session import RenderCancelled


class StripSource:
    """A stand-in render source: a smooth pattern, recording every request's size, and failing
    if it is ever asked for more than ``max_rows`` rows at once (the whole image, say)."""

    def __init__(self, max_rows, alpha=None, fail_at_call=None):
        self.max_rows, self.alpha, self.fail_at_call = max_rows, alpha, fail_at_call
        self.calls = []

    def render(self, region, out_size, should_stop=None):
        self.calls.append(tuple(out_size))
        assert out_size[0] <= self.max_rows, f"asked for {out_size[0]} rows at once"
        if self.fail_at_call is not None and len(self.calls) == self.fail_at_call:
            raise ValueError("render failed")
        H, W = out_size
        y0, x0, y1, x1 = region
        ys = np.linspace(y0, y1, H, dtype=np.float32)[:, None]
        xs = np.linspace(x0, x1, W, dtype=np.float32)[None, :]
        v = 0.5 + 0.25 * np.sin(7 * ys) * np.cos(5 * xs)
        return np.stack([v, 1 - v, np.broadcast_to(0.5 + 0.4 * xs, v.shape)], axis=2)

    def render_alpha(self, region, out_size):
        return np.full(tuple(out_size), 0.75, np.float32) if self.alpha is not None else None

    def prefetch(self, region, should_stop=None, max_fraction=0.5):
        return True

    lr_size = (50, 50)
    encode_seconds = 0.0

    def encode_step(self, region, within=None, should_stop=None):
        return False


def _mean2(a: np.ndarray) -> np.ndarray:
    """2 x 2 mean with an odd last row/column repeated, rounded half up (the test's own)."""
    a = a.astype(np.float64)
    if a.shape[0] % 2:
        a = np.concatenate([a, a[-1:]], 0)
    if a.shape[1] % 2:
        a = np.concatenate([a, a[:, -1:]], 1)
    return np.floor((a[0::2, 0::2] + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2]) / 4 + 0.5)


def test_pyramid_levels_tiles_and_metadata(tmp_path):
    src = StripSource(max_rows=512)
    image = LoadedImage(rgb=np.zeros((100, 150, 3), np.float32), alpha=None,
                        metadata=ImageMetadata(icc_profile=b"\x00" * 16 + b"RGB " + b"\x00" * 108, dpi=(72.0, 72.0)))
    out = tmp_path / "poster.tif"
    export_image(src, out, (1000, 1500), pyramid=True, image=image, strip_rows=300)
    assert os.listdir(tmp_path) == ["poster.tif"]
    assert pyramid_sizes(1000, 1500) == [(1000, 1500), (500, 750), (250, 375), (125, 188)]
    with tifffile.TiffFile(out) as t:
        assert t.is_bigtiff and t.is_ome and len(t.pages) == 1     # one image; the rest are SubIFDs
        page = t.pages[0]
        assert page.is_tiled and (page.tilelength, page.tilewidth) == (PYRAMID_TILE, PYRAMID_TILE)
        assert len(page.subifds) == 3
        levels = t.series[0].levels
        assert [lv.shape for lv in levels] == [(1000, 1500, 3), (500, 750, 3), (250, 375, 3), (125, 188, 3)]
        assert page.tags[282].value == (720, 1) and page.tags[34675].value[16:20] == b"RGB "   # 72 dpi x 10
        arrays = [lv.asarray() for lv in levels]
        assert all(a.dtype == np.uint8 for a in arrays)
    for big, small in zip(arrays, arrays[1:]):
        np.testing.assert_array_equal(small, _mean2(big).astype(np.uint8))
    # bands of the rows asked (the writer gathers tile-high strips itself), never the whole image
    assert max(h for h, _ in src.calls) == 300 and sum(h * w for h, w in src.calls) == 1000 * 1500


def test_pyramid_grey_16_bit_and_alpha(tmp_path):
    grey16 = LoadedImage(rgb=np.zeros((10, 10, 3), np.float32), alpha=None, bit_depth=16, grey=True)
    export_image(StripSource(max_rows=512), tmp_path / "g.tif", (300, 520), pyramid=True, image=grey16)
    with tifffile.TiffFile(tmp_path / "g.tif") as t:
        levels = t.series[0].levels
        assert [lv.shape for lv in levels] == [(300, 520), (150, 260), (75, 130)]
        assert levels[0].dtype == np.uint16 and t.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
    rgba = StripSource(max_rows=512, alpha=True)
    export_image(rgba, tmp_path / "a.tif", (257, 300), pyramid=True)
    with tifffile.TiffFile(tmp_path / "a.tif") as t:
        full = t.series[0].levels[0].asarray()
        assert full.shape == (257, 300, 4) and np.all(full[..., 3] == 191)
        assert [lv.shape for lv in t.series[0].levels] == [(257, 300, 4), (129, 150, 4)]


def _peak_bytes(path, size) -> int:
    src = StripSource(max_rows=256)
    tracemalloc.start()
    try:
        export_image(src, path, size, pyramid=True, strip_rows=256, compress_level=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(h <= 256 for h, _ in src.calls)
    return peak


def test_pyramid_memory_is_bounded(tmp_path):
    """The peak (tracemalloc) of an 16384 x 1024 export is that of a 1024 x 1024 one: it does
    not grow with the image (48 MiB of 8-bit RGB here), it is a few strips."""
    small = _peak_bytes(tmp_path / "small.tif", (1024, 1024))
    big = _peak_bytes(tmp_path / "big.tif", (16384, 1024))
    assert big < 1.25 * small + 2**20, (big, small)
    assert big < 16384 * 1024 * 3 / 2, big
    with tifffile.TiffFile(tmp_path / "big.tif") as t:
        assert [lv.shape[:2] for lv in t.series[0].levels] == pyramid_sizes(16384, 1024)


def test_pyramid_failure_or_cancel_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        export_image(StripSource(max_rows=512, fail_at_call=3), tmp_path / "x.tif", (1200, 300), pyramid=True)
    stops = []
    with pytest.raises(RenderCancelled):
        export_image(StripSource(max_rows=512), tmp_path / "y.tif", (1200, 300), pyramid=True,
                     should_stop=lambda: len(stops.append(1) or stops) > 2)
    assert os.listdir(tmp_path) == []
    with pytest.raises(CisrError, match="TIFF"):
        export_image(StripSource(max_rows=512), tmp_path / "z.png", (10, 10), pyramid=True)
    assert os.listdir(tmp_path) == []


def test_cli_pyramid(tmp_path, capsys, tiny_liif, tiny_liif_spec, rng):
    from PIL import Image

    from cisr_zoom.core.checkpoint import save_checkpoint
    from cisr_zoom.core.cli import main
    save_checkpoint(tmp_path / "m.pth", tiny_liif, tiny_liif_spec, meta={})
    Image.fromarray((rng.random((20, 30, 3)) * 255).astype(np.uint8)).save(tmp_path / "in.png")
    out = tmp_path / "in.tif"
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(out), "--scale", "10", "--model",
                 str(tmp_path / "m.pth"), "--pyramid", "-q"]) == 0
    with tifffile.TiffFile(out) as t:
        assert [lv.shape for lv in t.series[0].levels] == [(200, 300, 3), (100, 150, 3)]
    code = main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "x.png"), "--scale", "2", "--model",
                 str(tmp_path / "m.pth"), "--pyramid", "-q"])
    assert code == 1 and "--pyramid makes a TIFF" in capsys.readouterr().err
