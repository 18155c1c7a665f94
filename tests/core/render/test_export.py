"""Export: exact size and pixels, PNG/TIFF/BigTIFF/JPEG, alpha, strips, atomic and cancellable."""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from cisr_zoom.core.errors import CisrError
from cisr_zoom.core.imageio import LoadedImage
from cisr_zoom.core.imageio import to_uint8
from cisr_zoom.core.render.export import JPEG_MAX_PIXELS, export_image
from cisr_zoom.core.render.session import RenderCancelled, RenderSession
from cisr_zoom.core.coords import sub_region


class FakeSession:
    """A cheap stand-in: a smooth gradient, recording the size of every render call."""

    alpha = None

    def __init__(self, fail_at_call=None):
        self.calls = []
        self.fail_at_call = fail_at_call

    def render(self, region, out_size, should_stop=None):
        self.calls.append(tuple(out_size))
        if self.fail_at_call is not None and len(self.calls) == self.fail_at_call:
            raise ValueError("render failed")
        if should_stop is not None and should_stop():
            raise RenderCancelled()
        H, W = out_size
        y0, x0, y1, x1 = region
        ys = np.linspace(y0, y1, H, dtype=np.float32)[:, None]
        xs = np.linspace(x0, x1, W, dtype=np.float32)[None, :]
        v = (ys * 0.25 + xs * 0.25 + 0.5)
        return np.stack([v, 1 - v, np.full_like(v, 0.3)], axis=2)

    def render_alpha(self, region, out_size):
        return None

    def prefetch(self, region, should_stop=None, max_fraction=0.5):
        return True


def _listing(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("name,kw", [("out.png", {}), ("out.tif", {}), ("out.tiff", {"bigtiff": True}),
                                     ("out.jpg", {})])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_exact_size_and_pixels(tmp_path, liif_factory, image, rng, name, kw, with_alpha):
    alpha = rng.random(image.shape[:2], dtype=np.float32) if with_alpha else None
    s = RenderSession(liif_factory(), LoadedImage(rgb=image, alpha=alpha))
    size = (83, 121)
    region = (-0.9, -0.8, 0.7, 1.0)
    seen = []
    export_image(s, tmp_path / name, size, region=region, strip_rows=13, progress=lambda d, t: seen.append((d, t)), **kw)
    assert _listing(tmp_path) == [name]
    with Image.open(tmp_path / name) as im:
        im.load()
        assert im.size == (121, 83)
        arr = np.asarray(im)
    expected = to_uint8(s.render(region, size))
    if name.endswith(".jpg"):
        assert im.mode == "RGB" and np.abs(arr.astype(int) - expected).mean() < 6
    else:
        assert im.mode == ("RGBA" if with_alpha else "RGB")
        # strips and one whole render differ by float rounding only: at most one level, rarely
        diff = np.abs(arr[..., :3].astype(int) - expected)
        assert diff.max() <= 1 and diff.mean() < 0.01
        if with_alpha:
            diff = np.abs(arr[..., 3].astype(int) - to_uint8(s.render_alpha(region, size)))
            assert diff.max() <= 1 and diff.mean() < 0.01
    assert seen[-1] == (83, 83) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert oct(os.stat(tmp_path / name).st_mode & 0o777) != oct(0o600)   # not mkstemp's private mode


def test_bigtiff_header_and_classic_header(tmp_path):
    export_image(FakeSession(), tmp_path / "a.tif", (10, 20))
    export_image(FakeSession(), tmp_path / "b.tif", (10, 20), bigtiff=True)
    assert (tmp_path / "a.tif").read_bytes()[:4] == b"II*\x00"
    assert (tmp_path / "b.tif").read_bytes()[:4] == b"II+\x00"


def test_export_streams_in_strips_with_bounded_memory(tmp_path):
    s = FakeSession()
    H, W = 2000, 3000            # 18 MB as uint8 RGB, 72 MB as float32
    tracemalloc.start()
    try:
        export_image(s, tmp_path / "big.png", (H, W), strip_rows=32, compress_level=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(h <= 32 and w <= 2048 for h, w in s.calls) and sum(h * w for h, w in s.calls) == H * W
    assert peak < 10 * 2**20, peak
    with Image.open(tmp_path / "big.png") as im:
        assert im.size == (W, H)
        im.load()
        top = (H // 32) * 32
        last = s.render(sub_region((-1, -1, 1, 1), (H, W), top, 2048, H - top, W - 2048), (H - top, W - 2048))
        assert np.array_equal(np.asarray(im)[-1, 2048:], to_uint8(last)[-1])


def test_cancelled_export_leaves_nothing_and_keeps_old_file(tmp_path):
    target = tmp_path / "keep.png"
    target.write_bytes(b"old contents")
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(RenderCancelled):
        export_image(FakeSession(), target, (100, 50), strip_rows=10, should_stop=stop)
    assert _listing(tmp_path) == ["keep.png"] and target.read_bytes() == b"old contents"


@pytest.mark.parametrize("name", ["x.png", "x.tif", "x.jpg"])
def test_failed_export_leaves_nothing(tmp_path, name):
    with pytest.raises(ValueError):
        export_image(FakeSession(fail_at_call=3), tmp_path / name, (100, 50), strip_rows=10)
    assert _listing(tmp_path) == []


def test_refusals_before_any_work(tmp_path):
    s = FakeSession()
    side = int(np.sqrt(JPEG_MAX_PIXELS)) + 10
    with pytest.raises(CisrError, match="JPEG export is limited"):
        export_image(s, tmp_path / "huge.jpg", (side, side))
    with pytest.raises(CisrError, match="unknown image format"):
        export_image(s, tmp_path / "x.gif2", (10, 10))
    with pytest.raises(CisrError, match="does not exist"):
        export_image(s, tmp_path / "no" / "x.png", (10, 10))
    with pytest.raises(CisrError):
        export_image(s, tmp_path / "x.png", (0, 10))
    assert s.calls == [] and _listing(tmp_path) == []


def test_one_table_of_export_formats():
    from cisr_zoom.core.render.export import EXPORT_FORMATS, export_format_of, format_for
    assert [f.name for f in EXPORT_FORMATS] == ["png", "jpeg", "tiff"]
    for f in EXPORT_FORMATS:
        for suffix in f.suffixes:
            assert export_format_of("out" + suffix.upper()) is f
        assert format_for("ignored.png", f.label) == format_for("x", f.suffixes[-1]) == f.name
    assert EXPORT_FORMATS[1].file_filter == "JPEG image (*.jpg *.jpeg)"
    with pytest.raises(CisrError, match="unsupported export format"):
        format_for("x.png", "webp")
    with pytest.raises(CisrError, match=r"use \.png, \.jpg/\.jpeg, \.tif/\.tiff"):
        format_for("x.bmp")


def test_output_ceiling_needs_force_and_a_streamed_format():
    from cisr_zoom.core.errors import CisrError
    from cisr_zoom.core.render.export import MAX_OUTPUT_PIXELS, MAX_OUTPUT_SIDE, check_output_ceiling
    check_output_ceiling((MAX_OUTPUT_PIXELS // 10_000, 10_000), "png")
    for size in [(MAX_OUTPUT_PIXELS // 10_000 + 1, 10_000), (MAX_OUTPUT_SIDE + 1, 2)]:
        with pytest.raises(CisrError, match="--force"):
            check_output_ceiling(size, "png")
        check_output_ceiling(size, "png", force=True)
        check_output_ceiling(size, "tiff", force=True)
        with pytest.raises(CisrError):
            check_output_ceiling(size, "jpeg", force=True)
