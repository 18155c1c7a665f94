"""What an export keeps of its input: ICC profile, EXIF (orientation applied and reset), DPI
scaled with the image, 16 bits, grey; in PNG, TIFF, JPEG and WebP, through the CLI and
through export_image (the app's path)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from cisr_zoom.core.checkpoint import save_checkpoint
from cisr_zoom.core.cli import main
from cisr_zoom.core.imageio import load_image
from cisr_zoom.core.imagewrite.formats import output_style
from cisr_zoom.core.render.export import export_image
from cisr_zoom.core.render.sources import BicubicSession

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def camera_exif(orientation=6) -> bytes:
    e = Image.Exif()
    e[271], e[272], e[274] = "TestCam", "Model 1", orientation
    e[282], e[283], e[296] = 300.0, 300.0, 2
    e[0x8769] = {0x9003: "2026:01:02 03:04:05", 0xA002: 10, 0xA003: 8}
    return e.tobytes()


def png16(path, samples: np.ndarray) -> None:
    """A 16-bit PNG written by hand (filter 0), independent of the code under test."""
    h, w = samples.shape[:2]
    c = 1 if samples.ndim == 2 else samples.shape[2]
    raw = b"".join(b"\x00" + samples[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def ckpt(tmp_path, tiny_liif, tiny_liif_spec):
    path = tmp_path / "tiny.pth"
    save_checkpoint(path, tiny_liif, tiny_liif_spec, meta={"note": "test"})
    return path


@pytest.fixture
def camera_jpeg(tmp_path, rng):
    """10 x 8 pixels stored, orientation 6 (shown 8 wide, 10 high), sRGB profile, 300 dpi."""
    path = tmp_path / "cam.jpg"
    Image.fromarray((rng.random((8, 10, 3)) * 255).astype(np.uint8)).save(
        path, quality=95, icc_profile=SRGB, exif=camera_exif(), dpi=(300, 300))
    return path


def _exif(im) -> Image.Exif:
    return im.getexif()


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg", ".webp"])
def test_icc_exif_and_dpi_survive_the_cli(tmp_path, capsys, ckpt, camera_jpeg, suffix):
    out = tmp_path / ("out" + suffix)
    assert main(["upscale", str(camera_jpeg), "-o", str(out), "--scale", "2", "--model", str(ckpt), "-q"]) == 0, \
        capsys.readouterr().err
    with Image.open(out) as im:
        assert im.size == (16, 20)                         # orientation applied: 8 x 10 shown, times 2
        assert im.info.get("icc_profile") == SRGB
        if suffix == ".tif":
            assert im.tag_v2[271] == "TestCam" and im.tag_v2[272] == "Model 1"
            assert im.tag_v2.get(274, 1) == 1
        else:
            e = _exif(im)
            assert e[271] == "TestCam" and e.get(274) == 1   # orientation reset, since it was applied
            sub = e.get_ifd(0x8769)
            assert sub[0x9003] == "2026:01:02 03:04:05" and (sub[0xA002], sub[0xA003]) == (16, 20)
            assert float(e[282]) == pytest.approx(600)
        if suffix == ".webp":
            return                                         # WebP's only resolution is EXIF's (checked above)
        dpi = im.info["dpi"]
        assert dpi[0] == pytest.approx(600, rel=1e-3) and dpi[1] == pytest.approx(600, rel=1e-3)


def test_metadata_can_be_dropped(tmp_path, capsys, ckpt, camera_jpeg):
    out = tmp_path / "bare.png"
    assert main(["upscale", str(camera_jpeg), "-o", str(out), "--scale", "2", "--model", str(ckpt), "-q",
                 "--no-metadata"]) == 0
    with Image.open(out) as im:
        assert "icc_profile" not in im.info and "dpi" not in im.info and not len(im.getexif())


def test_dpi_scales_with_anisotropic_factors_and_a_view_region(rng):
    img = load_image_from_array(rng, dpi=(100.0, 200.0))
    st = output_style("png", (30, 80), image=img)                     # 10 x 20 -> 80 x 30: x4 wide, x3 high
    assert st.metadata.dpi == pytest.approx((400.0, 600.0))
    st = output_style("png", (30, 80), region=(-1, -1, 0, 0), image=img)  # the top-left quarter
    assert st.metadata.dpi == pytest.approx((800.0, 1200.0))


def load_image_from_array(rng, dpi):
    from cisr_zoom.core.imageio import ImageMetadata, LoadedImage
    return LoadedImage(rgb=rng.random((10, 20, 3), dtype=np.float32), alpha=None,
                       metadata=ImageMetadata(dpi=dpi))


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_inputs_export_as_16_bit_without_8_bit_steps(tmp_path, rng, channels, suffix):
    """Bicubic at the input's own pixel centres returns the input: a 16-bit round trip must be
    exact, which no 8-bit step on the way allows."""
    samples = (rng.random((9, 7, channels) if channels > 1 else (9, 7)) * 65535).astype(np.uint16)
    src = tmp_path / f"in{channels}.png"
    png16(src, samples)
    img = load_image(src)
    assert img.bit_depth == 16
    out = tmp_path / f"out{channels}{suffix}"
    style = export_image(BicubicSession(img), out, (9, 7), image=img)
    assert style.bits == 16 and style.grey == (channels == 1) and style.alpha == (channels == 4)
    if suffix == ".tif":
        back = tifffile.imread(out)
    else:
        import pyspng
        back = pyspng.load(out.read_bytes())           # 16-bit: with an added alpha channel
        back = back[..., 0] if channels == 1 else back[..., :channels]
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back.reshape(samples.shape), samples)
    # the same file read back by the loader is the same image again
    again = load_image(out)
    assert again.bit_depth == 16 and np.array_equal(again.rgb, img.rgb)


def test_16_bit_through_the_cli_and_8_bit_formats_say_so(tmp_path, capsys, ckpt, rng):
    samples = (rng.random((8, 9, 3)) * 65535).astype(np.uint16)
    src = tmp_path / "deep.png"
    png16(src, samples)
    out = tmp_path / "deep_x2.tif"
    assert main(["upscale", str(src), "-o", str(out), "--scale", "2", "--model", str(ckpt), "-q"]) == 0
    back = tifffile.imread(out)
    assert back.dtype == np.uint16 and back.shape == (16, 18, 3)
    assert np.any(back % 257 != 0)                        # not 8-bit values stretched to 16 bits
    assert main(["upscale", str(src), "-o", str(tmp_path / "deep.jpg"), "--scale", "2", "--model", str(ckpt)]) == 0
    assert "8 bits" in capsys.readouterr().err
    assert main(["upscale", str(src), "-o", str(tmp_path / "eight.png"), "--scale", "2", "--model", str(ckpt),
                 "-q", "--bits", "8"]) == 0
    with Image.open(tmp_path / "eight.png") as im:
        assert im.mode == "RGB"


def test_16_bit_tiff_input(tmp_path, rng):
    samples = (rng.random((6, 5, 3)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", samples, photometric="rgb")
    img = load_image(tmp_path / "in.tif")
    assert img.bit_depth == 16 and not img.grey
    np.testing.assert_allclose(img.rgb, samples / 65535.0, atol=1e-7)


def test_grey_stays_grey_unless_asked(tmp_path, capsys, ckpt, rng):
    src = tmp_path / "grey.png"
    Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8), "L").save(src)
    for suffix, mode in ((".png", "L"), (".jpg", "L"), (".tif", "L"), (".webp", "RGB")):
        out = tmp_path / ("g" + suffix)
        assert main(["upscale", str(src), "-o", str(out), "--scale", "2", "--model", str(ckpt), "-q"]) == 0
        with Image.open(out) as im:
            assert im.mode == mode, suffix                # WebP has no grey
    out = tmp_path / "c.png"
    assert main(["upscale", str(src), "-o", str(out), "--scale", "2", "--model", str(ckpt), "-q", "--color"]) == 0
    with Image.open(out) as im:
        assert im.mode == "RGB"


def test_grey_profile_only_on_grey_outputs_and_cmyk_profile_dropped(rng):
    from cisr_zoom.core.imageio import ImageMetadata
    grey_icc = b"\x00" * 16 + b"GRAY" + b"\x00" * 108
    m = ImageMetadata(icc_profile=grey_icc)
    assert m.icc_profile_for(grey=True) == grey_icc and m.icc_profile_for(grey=False) is None
    cmyk_icc = b"\x00" * 16 + b"CMYK" + b"\x00" * 108
    assert ImageMetadata(icc_profile=cmyk_icc).icc_profile_for(grey=False) is None
    assert ImageMetadata(icc_profile=SRGB).icc_profile_for(grey=False) == SRGB


def test_webp_lossless_and_quality(tmp_path, capsys, ckpt, rng):
    src = tmp_path / "p.png"
    Image.fromarray((rng.random((12, 12, 3)) * 255).astype(np.uint8)).save(src)
    img = load_image(src)
    session = BicubicSession(img)
    export_image(session, tmp_path / "l.webp", (12, 12), image=img, lossless=True)
    with Image.open(tmp_path / "l.webp") as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(Image.open(src)))   # exact
    export_image(session, tmp_path / "q.webp", (12, 12), image=img, jpeg_quality=20)
    with Image.open(tmp_path / "q.webp") as im:
        lossy = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(lossy - np.asarray(Image.open(src)).astype(int)).max() > 0
    assert main(["upscale", str(src), "-o", str(tmp_path / "c.webp"), "--scale", "2", "--model", str(ckpt),
                 "-q", "--lossless"]) == 0
    with Image.open(tmp_path / "c.webp") as im:
        assert im.format == "WEBP" and im.size == (24, 24)


def test_the_export_path_keeps_metadata_too(tmp_path, camera_jpeg):
    """export_image with the source image (what the app's export passes) writes the same."""
    img = load_image(camera_jpeg)
    export_image(BicubicSession(img), tmp_path / "app.png", (30, 24), image=img)
    with Image.open(tmp_path / "app.png") as im:
        assert im.info["icc_profile"] == SRGB and im.getexif()[271] == "TestCam"
        assert im.info["dpi"][0] == pytest.approx(900, rel=1e-3)


def test_16_bit_png_without_pyspng_is_read_at_8_bits_with_a_note(tmp_path, rng, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pyspng(name, *a, **k):
        if name == "pyspng":
            raise ImportError("no pyspng")
        return real_import(name, *a, **k)
    samples = (rng.random((4, 5, 3)) * 65535).astype(np.uint16)
    png16(tmp_path / "d.png", samples)
    monkeypatch.setattr(builtins, "__import__", no_pyspng)
    img = load_image(tmp_path / "d.png")
    assert img.bit_depth == 8 and len(img.notes) == 1 and "pyspng" in img.notes[0]
    np.testing.assert_allclose(img.rgb, (samples >> 8) / 255.0, atol=1e-6)
