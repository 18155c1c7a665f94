"""``cisr upscale``: exact output sizes for any scale, alpha, clear one-line errors, no partial files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from cisr_zoom.core.checkpoint import load_checkpoint, save_checkpoint
from cisr_zoom.core.cli import main
from cisr_zoom.core.coords import scale_to_size
from cisr_zoom.core.imageio import load_image
from cisr_zoom.core.imageio import to_uint8
from cisr_zoom.core.render.session import RenderSession


@pytest.fixture
def ckpt(tmp_path, tiny_liif, tiny_liif_spec):
    path = tmp_path / "tiny.pth"
    save_checkpoint(path, tiny_liif, tiny_liif_spec, meta={"note": "test"})
    return path


@pytest.fixture
def photo(tmp_path, rng):
    path = tmp_path / "in.png"
    Image.fromarray((rng.random((23, 31, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _run(capsys, *argv):
    code = main(["upscale", *map(str, argv), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("scale", ["2.7", "13", "2,3.5", "0.5"])
def test_scales_give_exact_sizes(tmp_path, capsys, ckpt, photo, scale):
    out = tmp_path / "out.png"
    code, _, err = _run(capsys, photo, "-o", out, "--scale", scale, "--model", ckpt)
    assert code == 0, err
    parts = [float(v) for v in scale.split(",")]
    sy, sx = (parts * 2)[:2]
    H, W = scale_to_size((23, 31), (sy, sx))
    with Image.open(out) as im:
        assert im.size == (W, H) and im.mode == "RGB"


def test_size_option_and_pixels_match_the_renderer(tmp_path, capsys, ckpt, photo):
    out = tmp_path / "out.tif"
    code, _, err = _run(capsys, photo, "-o", out, "--size", "50x40", "--model", ckpt, "--tile", "16")
    assert code == 0, err
    with Image.open(out) as im:
        arr = np.asarray(im)
    assert arr.shape == (40, 50, 3)
    s = RenderSession(load_checkpoint(ckpt).model, load_image(photo))
    expected = to_uint8(s.render((-1, -1, 1, 1), (40, 50)))
    assert np.abs(arr.astype(int) - expected).max() <= 1


def test_alpha_is_kept_for_png_and_dropped_for_jpeg(tmp_path, capsys, ckpt, rng):
    src = tmp_path / "rgba.png"
    rgba = (rng.random((12, 10, 4)) * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(src)
    code, _, err = _run(capsys, src, "-o", tmp_path / "a.png", "--scale", "3", "--model", ckpt)
    assert code == 0, err
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "RGBA" and im.size == (30, 36)
        a = np.asarray(im)[..., 3].astype(int)
    assert a.min() < 128 < a.max()
    code, _, err = _run(capsys, src, "-o", tmp_path / "a.jpg", "--scale", "3", "--model", ckpt)
    assert code == 0, err
    with Image.open(tmp_path / "a.jpg") as im:
        assert im.mode == "RGB" and im.size == (30, 36)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00"])
def test_bad_input_one_line_error_and_no_output(tmp_path, capsys, ckpt, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    out = tmp_path / "out.png"
    code, _, err = _run(capsys, bad, "-o", out, "--scale", "2", "--model", ckpt)
    assert code == 1 and str(bad) in err and err.count("\n") == 1
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["bad.png", "tiny.pth"]


def test_missing_input(tmp_path, capsys, ckpt):
    code, _, err = _run(capsys, tmp_path / "nope.png", "-o", tmp_path / "o.png", "--scale", "2", "--model", ckpt)
    assert code == 1 and "nope.png" in err and err.count("\n") == 1


def test_no_model_available(tmp_path, capsys, photo, monkeypatch):
    import cisr_zoom.core.checkpoint as checkpoint
    monkeypatch.setattr(checkpoint, "bundled_models", lambda: {})
    code, _, err = _run(capsys, photo, "-o", tmp_path / "o.png", "--scale", "2")
    assert code == 1 and "no model available" in err and "--model" in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("args", [["--scale", "0"], ["--scale", "abc"], ["--scale", "-2"], ["--size", "10"],
                                  ["--size", "0x5"], ["--scale", "2", "--tile", "0"]])
def test_bad_options(tmp_path, capsys, ckpt, photo, args):
    code, _, err = _run(capsys, photo, "-o", tmp_path / "o.png", "--model", ckpt, *args)
    assert code == 1 and err.count("\n") == 1 and not (tmp_path / "o.png").exists()


def test_bad_output_and_bad_model(tmp_path, capsys, ckpt, photo):
    code, _, err = _run(capsys, photo, "-o", tmp_path / "o.xyz", "--scale", "2", "--model", ckpt)
    assert code == 1 and "unknown image format" in err
    code, _, err = _run(capsys, photo, "-o", tmp_path / "missing" / "o.png", "--scale", "2", "--model", ckpt)
    assert code == 1 and "does not exist" in err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"garbage")
    code, _, err = _run(capsys, photo, "-o", tmp_path / "o.png", "--scale", "2", "--model", junk)
    assert code == 1 and "junk.pth" in err and err.count("\n") == 1
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.xyz").exists()


def test_precision_is_auto_by_default_and_exact_is_one_flag(tmp_path, capsys, ckpt, photo, monkeypatch):
    from cisr_zoom.core import precision
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)    # as on AVX512-BF16 / AMX CPUs
    out = tmp_path / "auto.png"
    assert main(["upscale", str(photo), "-o", str(out), "--scale", "2", "--model", str(ckpt), "--device", "cpu"]) == 0
    assert "(bfloat16)" in capsys.readouterr().out          # the final line names the precision that ran
    out2 = tmp_path / "exact.png"
    assert main(["upscale", str(photo), "-o", str(out2), "--scale", "2", "--model", str(ckpt), "--device", "cpu",
                 "--exact"]) == 0
    assert "(float32)" in capsys.readouterr().out
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)   # e.g. AVX2 only: exact float32
    assert main(["upscale", str(photo), "-o", str(out2), "--scale", "2", "--model", str(ckpt), "--device", "cpu",
                 "--overwrite"]) == 0
    assert "(float32)" in capsys.readouterr().out


def test_the_model_renders_through_its_bundled_twin_unless_exact_decoder(tmp_path, capsys, photo, twin_pair,
                                                                          monkeypatch):
    import cisr_zoom.core.checkpoint as checkpoint
    teacher, twin = twin_pair
    monkeypatch.setattr(checkpoint, "bundled_models", lambda: {"liif-x": teacher, "liif-x-lm": twin})
    expected = {}
    for name, path in (("twin", twin), ("teacher", teacher)):
        s = RenderSession(load_checkpoint(path).model, load_image(photo), precision="float32")
        expected[name] = to_uint8(s.render((-1, -1, 1, 1), (46, 62)))
    assert np.abs(expected["twin"].astype(int) - expected["teacher"]).max() > 1    # told apart
    for flags, which in (((), "twin"), (("--exact-decoder",), "teacher")):
        out = tmp_path / f"{which}.png"
        code = main(["upscale", str(photo), "-o", str(out), "--scale", "2", "--model", str(teacher), "--exact",
                     *flags])
        msg, err = capsys.readouterr()
        assert code == 0, err
        assert ("through its LM twin liif-x-lm" in msg) == (which == "twin") and "with model liif-x" in msg
        with Image.open(out) as im:
            assert np.abs(np.asarray(im).astype(int) - expected[which]).max() <= 1
