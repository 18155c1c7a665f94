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
from cisr_zoom.core.imagewrite.formats import JPEG_MAX_PIXELS
from cisr_zoom.core.render.export import EXPORT_CHUNK_PIXELS, export_image, export_steps
from cisr_zoom.core.render.session import RenderCancelled, RenderSession
from cisr_zoom.core.coords import sub_region


class FakeSession:
    """A cheap stand-in: a smooth gradient, recording the size of every render call."""

    alpha = None
    lr_size = (50, 50)

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

    encode_seconds = 0.0

    def encode_step(self, region, within=None, should_stop=None):
        return False

    def uncached_pixels(self, region):
        return 0


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
    from cisr_zoom.core.imagewrite.formats import EXPORT_FORMATS, export_format_of, format_for
    assert [f.name for f in EXPORT_FORMATS] == ["png", "jpeg", "tiff", "webp"]
    for f in EXPORT_FORMATS:
        for suffix in f.suffixes:
            assert export_format_of("out" + suffix.upper()) is f
        assert format_for("ignored.png", f.label) == format_for("x", f.suffixes[-1]) == f.name
    assert EXPORT_FORMATS[1].file_filter == "JPEG image (*.jpg *.jpeg)"
    with pytest.raises(CisrError, match="unsupported export format"):
        format_for("x.png", "gif")
    with pytest.raises(CisrError, match=r"use \.png, \.jpg/\.jpeg, \.tif/\.tiff, \.webp"):
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


class LoggedSession:
    """A render session whose every encoder box, render call and the export's progress land
    in one event log, in order (stands in for a slow model: what matters is how much work
    lies between two progress events, not how long it takes here)."""

    def __init__(self, session, events):
        self.s, self.events = session, events
        self.lr_size, self.alpha, self.precision = session.lr_size, session.alpha, session.precision

    @property
    def encode_seconds(self):
        return self.s.encode_seconds

    def encode_step(self, region, within=None, should_stop=None):
        did = self.s.encode_step(region, within, should_stop)
        if did:
            self.events.append(("encode",))
        return did

    def render(self, region, out_size, should_stop=None):
        calls = self.s.tiles.encode_calls
        out = self.s.render(region, out_size, should_stop)
        self.events.append(("render", out_size[0] * out_size[1], self.s.tiles.encode_calls - calls))
        return out

    def render_alpha(self, region, out_size):
        return self.s.render_alpha(region, out_size)

    def uncached_pixels(self, region):
        return self.s.uncached_pixels(region)

    def prefetch(self, region, should_stop=None, max_fraction=0.5):
        return self.s.prefetch(region, should_stop, max_fraction)


def test_export_progress_comes_after_every_band_of_bounded_work(tmp_path, liif_factory, rng):
    """Progress is reported by rows written, once per band; a band is one chunk of at most
    ``chunk_pixels`` output pixels, and past the first row of encoder boxes at most one box is
    encoded between two progress events (the boxes of the rows ahead are spread over the bands
    before them), so the gap between two events is bounded by one chunk and one box."""
    lr = rng.random((48, 48, 3), dtype=np.float32)
    session = RenderSession(liif_factory(), lr, lr_tile=8, max_encode_box=16)     # boxes of 2x2 tiles
    events = []
    H = W = 192                                                                 # x4
    chunk = 2048
    export_image(LoggedSession(session, events), tmp_path / "out.png", (H, W), chunk_pixels=chunk,
                 progress=lambda done, total: events.append(("progress", done, total)))
    rows = chunk // W
    progress = [e for e in events if e[0] == "progress"]
    assert [e[1] for e in progress] == list(range(rows, H, rows)) + [H] and all(e[2] == H for e in progress)
    renders = [e for e in events if e[0] == "render"]
    assert sum(e[1] for e in renders) == H * W and max(e[1] for e in renders) <= chunk
    assert all(e[2] == 0 for e in renders)                 # renders never wait for the encoder inside
    cuts = [i for i, e in enumerate(events) if e[0] == "progress"]
    spans = [events[a + 1:b] for a, b in zip([-1] + cuts, cuts)]
    boxes_per_row = 48 // 16
    box_rows = 16 * 4                                                          # output rows of one box
    encodes = [sum(e[0] == "encode" for e in span) for span in spans]
    assert max(encodes) <= boxes_per_row                                       # never a whole row more
    tops = [0] + [e[1] for e in progress[:-1]]
    assert max(n for n, top in zip(encodes, tops) if top >= box_rows) <= 1     # past the first box row: one
    assert sum(encodes) <= 2 * (48 // 8) ** 2 // 4 + boxes_per_row              # no feature encoded twice over
    assert all(sum(e[1] for e in span if e[0] == "render") <= rows * W for span in spans)
    with Image.open(tmp_path / "out.png") as im:
        assert im.size == (W, H)


def test_export_steps_yield_between_bounded_pieces(tmp_path):
    """The generator form hands the render thread back after every chunk and encoder box;
    closing it early removes the temporary file."""
    s = FakeSession()
    steps = export_steps(s, tmp_path / "x.png", (64, 100), chunk_pixels=1000)
    next(steps)
    assert len(s.calls) == 1 and s.calls[0][0] * s.calls[0][1] <= 1000
    steps.close()
    assert _listing(tmp_path) == []
    assert EXPORT_CHUNK_PIXELS <= 65536      # about a second of the bundled models on one CPU core


def test_a_cold_export_reports_every_encoder_box_it_waits_for(tmp_path, liif_factory, rng):
    """The first band cannot be written before the first row of encoder boxes exists; with
    ``encoded`` each encoder box is an event too, so no two events (rows written or boxes
    encoded) have more than one box and one chunk of work between them."""
    lr = rng.random((48, 48, 3), dtype=np.float32)
    session = RenderSession(liif_factory(), lr, lr_tile=8, max_encode_box=16)
    events = []
    H = W = 192
    export_image(LoggedSession(session, events), tmp_path / "out.png", (H, W), chunk_pixels=2048,
                 progress=lambda done, total: events.append(("progress", done, total)),
                 encoded=lambda boxes: events.append(("encoded", boxes)))
    marks = [i for i, e in enumerate(events) if e[0] in ("progress", "encoded")]
    spans = [events[a + 1:b] for a, b in zip([-1] + marks, marks)]
    assert max(sum(e[0] == "encode" for e in span) for span in spans) <= 1
    assert max(sum(e[0] == "render" for e in span) for span in spans) <= 1
    first_rows = next(i for i, e in enumerate(events) if e[0] == "progress")
    waited = [e[1] for e in events[:first_rows] if e[0] == "encoded"]
    assert waited == list(range(1, 48 // 16 + 1))          # the first row of boxes, one event each
    assert [e[1] for e in events if e[0] == "encoded"] == list(range(1, sum(e[0] == "encode" for e in events) + 1))
    assert events[-1] == ("progress", H, H)


def test_an_exports_cost_is_its_own_steps_not_the_work_between_them(tmp_path, liif_factory, image):
    """What an export teaches the speed book is the time of its own steps and the encoder time
    of those steps: the views' work between its steps (here a pause and another render of the
    same source, which encodes features) is not counted, however long it takes."""
    import time

    from cisr_zoom.core.render.export import measured_export_steps
    s = RenderSession(liif_factory(), image, lr_tile=8)
    h, w = s.lr_size
    steps = measured_export_steps(s, tmp_path / "o.png", (3 * h, 3 * w), chunk_pixels=256)
    t0, between, n = time.perf_counter(), 0.0, 0
    try:
        while True:
            next(steps)
            n += 1
            if n == 2:                       # another job of the render thread, between two steps
                b0, e0 = time.perf_counter(), s.encode_seconds
                time.sleep(0.5)
                s.render((0.5, 0.5, 1.0, 1.0), (16, 16))     # encodes the corner's features
                assert s.encode_seconds > e0
                between = time.perf_counter() - b0
                other_encode = s.encode_seconds - e0
    except StopIteration as done:
        cost = done.value
    wall = time.perf_counter() - t0
    assert n > 3 and (tmp_path / "o.png").is_file()
    assert cost.out_pixels == 9 * h * w and cost.encoded_pixels == h * w
    assert cost.seconds <= wall - between + 1e-6
    assert 0 < cost.encode_seconds <= s.encode_seconds - other_encode + 1e-9
