"""Hostile and unusual input images for ``cisr upscale``."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fuzzkit import expect_error, listing, run_cli


def png_header(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose header claims ``width x height`` RGB pixels, with ``idat`` as its only data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _truncated_png(tmp_path):
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    img.save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "full.png").unlink()
    return data[: len(data) // 2]


BAD = {
    "empty": (lambda t: b"", "empty"),
    "random bytes": (lambda t: np.random.default_rng(2).bytes(4096), "not an image"),
    "text": (lambda t: b"hello, I am not a picture\n" * 10, "not an image"),
    "truncated png": (_truncated_png, "truncated"),
    "png bomb 100000x100000": (lambda t: png_header(100000, 100000, zlib.compress(b"\0" * 1000)), "too large"),
    "png 300 MP": (lambda t: png_header(20000, 15000, zlib.compress(b"\0" * 1000)), "too large"),
    "png zero width": (lambda t: png_header(0, 10), ""),
    "png bad crc": (lambda t: png_header(8, 8)[:20] + b"\xff\xff\xff\xff" + png_header(8, 8)[24:], ""),
    "jpeg header only": (lambda t: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", ""),
    "tiff garbage": (lambda t: b"II*\x00" + b"\xff" * 200, ""),
    "bmp garbage": (lambda t: b"BM" + b"\x00" * 60, ""),
    "gif garbage": (lambda t: b"GIF89a" + b"\xff" * 50, ""),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_image_one_line_and_no_output(tmp_path, assets, case):
    build, fragment = BAD[case]
    src = tmp_path / "in.png"
    src.write_bytes(build(tmp_path))
    before = listing(tmp_path)
    r = run_cli("upscale", src, "-o", tmp_path / "out.png", "--scale", "2", "--model", assets / "tiny.pth")
    expect_error(r, "cannot read image", fragment)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_missing_or_folder_input(tmp_path, assets, kind):
    src = tmp_path / "in.png"
    if kind == "folder":
        src.mkdir()
    before = listing(tmp_path)
    r = run_cli("upscale", src, "-o", tmp_path / "out.png", "--scale", "2", "--model", assets / "tiny.pth")
    expect_error(r, "cannot read image" if kind == "missing" else "has no images")   # a folder is a batch
    assert listing(tmp_path) == before


def test_legal_images_above_pillows_default_limit_pass_the_size_check(tmp_path, assets):
    """150 MP (Pillow's default bomb warning fires at 89.5 MP; the documented limit is 200 MP):
    the header passes the size check, so this truncated file fails as truncated, not as a bomb."""
    src = tmp_path / "in.png"
    src.write_bytes(png_header(15000, 10000, zlib.compress(b"\0" * 100)))
    r = run_cli("upscale", src, "-o", tmp_path / "out.png", "--scale", "0.01", "--model", assets / "tiny.pth")
    expect_error(r, "truncated")
    assert "too large" not in r.stderr


def _rgb(seed=3, shape=(12, 16, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


GOOD = {
    "1x1 png": lambda p: Image.fromarray(_rgb(shape=(1, 1, 3))).save(p.with_suffix(".png")),
    "16-bit grey png": lambda p: Image.fromarray((_rgb()[..., 0].astype(np.uint16) * 257)).save(p.with_suffix(".png")),
    "palette with transparency": lambda p: Image.fromarray(_rgb()).convert("P").save(p.with_suffix(".png"), transparency=0),
    "cmyk jpeg": lambda p: Image.fromarray(_rgb()).convert("CMYK").save(p.with_suffix(".jpg")),
    "grey + alpha": lambda p: Image.fromarray(_rgb(shape=(12, 16, 2)), "LA").save(p.with_suffix(".png")),
    "animated gif": lambda p: Image.fromarray(_rgb()).save(p.with_suffix(".gif"), save_all=True,
                                                          append_images=[Image.fromarray(_rgb(4))]),
}


@pytest.mark.parametrize("case", sorted(GOOD))
def test_unusual_but_valid_images_work(tmp_path, assets, case):
    GOOD[case](tmp_path / "in")
    src = next(tmp_path.glob("in.*"))
    r = run_cli("upscale", src, "-o", tmp_path / "out.png", "--scale", "2", "--model", assets / "tiny.pth", "-q")
    assert r.rc == 0 and r.stderr == "", r.stderr
    with Image.open(tmp_path / "out.png") as out:
        assert out.size[0] == 2 * Image.open(src).size[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_symlink_loop_as_input(tmp_path, assets):
    """An input folder that is a loop of symbolic links: one line, status 1."""
    from fuzzkit import expect_error, run_cli
    (tmp_path / "L1").symlink_to(tmp_path / "L2")
    (tmp_path / "L2").symlink_to(tmp_path / "L1")
    for source in (tmp_path / "L1", tmp_path / "L1" / "x.png"):
        r = run_cli("upscale", source, "-o", tmp_path / "out.png", "--scale", "2", "--model", assets / "tiny.pth", "-q")
        expect_error(r, "symbolic link")
    assert not (tmp_path / "out.png").exists()


def test_an_output_below_the_input_size_runs_no_network(tmp_path, assets, monkeypatch):
    """A big picture reduced to 64x64 (CLI, and the export path the application uses): an
    antialiased resample, the encoder never runs, and the summary says so."""
    from cisr_zoom.core.fixed_scale import load_model
    from cisr_zoom.core.imageio import load_image
    from cisr_zoom.core.render.export import export_image
    from cisr_zoom.core.render.session import RenderSession

    def no_encoder(*a, **k):
        raise AssertionError("the encoder ran for an output smaller than its input")
    monkeypatch.setattr(RenderSession, "_compute_precomputed", no_encoder)
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png", compress_level=1)
    r = run_cli("upscale", tmp_path / "big.png", "-o", tmp_path / "small.png", "--size", "64x64",
                "--model", assets / "tiny.pth")
    assert r.rc == 0, r.stderr
    assert "resampled" in r.stdout and "no model" in r.stdout, r.stdout
    ref = np.asarray(Image.fromarray(big).resize((64, 64), Image.BICUBIC), dtype=np.float64)
    with Image.open(tmp_path / "small.png") as im:
        assert im.size == (64, 64)
        assert np.abs(np.asarray(im, dtype=np.float64) - ref).max() <= 1.0    # antialiased, as Pillow's
    # the application's export: a model session of the image, a reduced region of it
    image = load_image(tmp_path / "big.png")
    session = RenderSession(load_model(assets / "tiny.pth").model, image)
    export_image(session, tmp_path / "view.png", (100, 120), region=(-0.5, -0.5, 0.5, 0.5), image=image)
    with Image.open(tmp_path / "view.png") as im:
        assert im.size == (120, 100)
