"""The one image loader: every mode converts, EXIF orientation applies, bad files get one-line errors."""

import io

import numpy as np
import pytest
from PIL import Image

from cisr_zoom.core.errors import ImageLoadError
from cisr_zoom.core.imageio import load_image, save_image


def _gradient(w=12, h=8):
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None].repeat(w, 1)
    return np.stack([x, y, 255 - x], axis=2).astype(np.uint8)


def test_rgb_png(tmp_path):
    arr = _gradient()
    Image.fromarray(arr).save(tmp_path / "a.png")
    im = load_image(tmp_path / "a.png")
    assert im.rgb.dtype == np.float32 and im.rgb.shape == (8, 12, 3) and im.alpha is None
    assert np.allclose(im.rgb * 255, arr, atol=1e-3)


def test_grey_16bit(tmp_path):
    a = (np.arange(6 * 5, dtype=np.uint16).reshape(6, 5) * 2000)
    Image.fromarray(a).save(tmp_path / "g16.png")
    im = load_image(tmp_path / "g16.png")
    assert im.bit_depth == 16 and im.rgb.shape == (6, 5, 3)
    assert np.allclose(im.rgb[..., 0], a / 65535.0, atol=1e-6)
    assert np.array_equal(im.rgb[..., 0], im.rgb[..., 2])


def test_grey_palette_cmyk_bilevel(tmp_path):
    arr = _gradient()
    Image.fromarray(arr[..., 0]).save(tmp_path / "l.png")
    assert np.allclose(load_image(tmp_path / "l.png").rgb[..., 1] * 255, arr[..., 0], atol=1e-3)
    Image.fromarray(arr).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").rgb.shape == (8, 12, 3)
    Image.fromarray(arr).convert("CMYK").save(tmp_path / "c.jpg")
    im = load_image(tmp_path / "c.jpg")
    assert im.rgb.shape == (8, 12, 3) and im.source_mode == "CMYK"
    Image.fromarray(arr[..., 0] > 128).save(tmp_path / "b.png")
    assert set(np.unique(load_image(tmp_path / "b.png").rgb)) <= {0.0, 1.0}


def test_rgba_keeps_alpha_separate(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 200
    arr[..., 3] = 0
    arr[:2, :, 3] = 255
    Image.fromarray(arr, "RGBA").save(tmp_path / "t.png")
    im = load_image(tmp_path / "t.png")
    assert im.alpha is not None and im.alpha[0, 0] == 1.0 and im.alpha[3, 3] == 0.0
    # colour is not premultiplied: transparent pixels keep their colour
    assert im.rgb[3, 3, 0] == pytest.approx(200 / 255)
    # palette with transparency
    Image.fromarray(arr, "RGBA").convert("P").save(tmp_path / "tp.png", transparency=0)
    assert load_image(tmp_path / "tp.png").rgb.shape == (4, 4, 3)


def test_exif_orientation_applied(tmp_path):
    arr = _gradient(w=12, h=8)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    img.save(tmp_path / "o.jpg", exif=exif, quality=95)
    im = load_image(tmp_path / "o.jpg")
    assert im.size == (12, 8)


def test_animated_first_frame(tmp_path):
    frames = [Image.new("RGB", (5, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    im = load_image(tmp_path / "a.gif")
    assert im.rgb[0, 0, 0] > 0.9 and im.rgb[0, 0, 1] < 0.1


@pytest.mark.parametrize("name,make,reason", [
    ("missing.png", None, "no such file"),
    ("empty.png", lambda p: p.write_bytes(b""), "empty"),
    ("text.png", lambda p: p.write_text("hello, not an image"), "not an image"),
])
def test_bad_inputs(tmp_path, name, make, reason):
    p = tmp_path / name
    if make:
        make(p)
    with pytest.raises(ImageLoadError, match=reason) as e:
        load_image(p)
    assert name in str(e.value) and "\n" not in str(e.value)


def test_truncated(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated|damaged"):
        load_image(tmp_path / "cut.png")


#: words of the image library that mean nothing to a user
LIBRARY_WORDS = ("Pillow", "PIL", "bytes not processed", "cannot identify", "broken data stream", "IOError",
                 "OSError", "SyntaxError")


def _plain(message: str) -> None:
    assert "\n" not in message and not any(w.lower() in message.lower() for w in LIBRARY_WORDS), message


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_image_is_explained_in_plain_words(tmp_path, cut):
    """What happened (the file ends too early: an unfinished download or copy) and what to do
    (open a complete copy), without the decoder's own text."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (tmp_path / "photo.jpg").write_bytes(buf.getvalue()[: int(len(buf.getvalue()) * cut)])
    with pytest.raises(ImageLoadError) as e:
        load_image(tmp_path / "photo.jpg")
    msg = str(e.value)
    _plain(msg)
    assert "photo.jpg" in msg and "truncated" in msg and "open a complete copy" in msg


def test_an_unsupported_file_is_explained_in_plain_words(tmp_path):
    """A file that is no image the app can open: say so and name the formats it opens."""
    (tmp_path / "drawing.xcf").write_bytes(b"gimp xcf v011\0" + bytes(200))
    with pytest.raises(ImageLoadError) as e:
        load_image(tmp_path / "drawing.xcf")
    msg = str(e.value)
    _plain(msg)
    assert "drawing.xcf" in msg and "not an image" in msg and "PNG, JPEG" in msg


def test_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_decompression_bomb_refused_before_decoding(tmp_path):
    # a 1-bit 30000 x 30000 PNG is tiny on disk but would decode to 900 MP
    Image.new("1", (30000, 30000)).save(tmp_path / "bomb.png")
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(tmp_path / "bomb.png")


def test_save_is_atomic_and_roundtrips(tmp_path):
    rgb = _gradient().astype(np.float32) / 255
    save_image(tmp_path / "o.png", rgb)
    assert np.allclose(load_image(tmp_path / "o.png").rgb, rgb, atol=1 / 255)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
    with pytest.raises(ImageLoadError, match="unknown image format"):
        save_image(tmp_path / "o.xyz", rgb)
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_written_files_get_normal_permissions(tmp_path):
    import os
    old = os.umask(0o022)
    try:
        save_image(tmp_path / "p.png", np.zeros((2, 2, 3), np.float32))
    finally:
        os.umask(old)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o644


def test_to_uint8_rounds_half_up_exactly_and_clips():
    from cisr_zoom.core.imageio import to_uint8
    v = np.array([-0.2, 0.0, 0.5 / 255, 0.49 / 255, 127.5 / 255, 1.0, 1.7], dtype=np.float32)
    assert to_uint8(v).tolist() == [0, 0, 1, 0, 128, 255, 255]
    x = np.random.default_rng(0).random(10000).astype(np.float32)
    assert np.array_equal(to_uint8(x), np.round(x.astype(np.float64) * 255 + 1e-12).astype(np.uint8))
