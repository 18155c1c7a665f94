"""``cisr upscale`` on many images: folders, globs, names, stdin/stdout, overwrite policy,
per-file errors that do not stop the batch, and the progress bar on a non-terminal stderr."""

from __future__ import annotations

import io
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cisr_zoom.core.cli import main


@pytest.fixture
def shots(tmp_path, rng):
    """A folder of mixed images (PNG, JPEG, grey TIFF, RGBA WebP, BMP), one damaged file and
    one file that is not an image by its suffix."""
    d = tmp_path / "shots"
    d.mkdir()
    def pic(h, w, c=3):
        return (rng.random((h, w, c)) * 255).astype(np.uint8)
    Image.fromarray(pic(9, 11)).save(d / "a.png")
    Image.fromarray(pic(8, 10)).save(d / "b.jpg", quality=90)
    Image.fromarray(pic(7, 6, 1)[..., 0]).save(d / "c.tif")
    Image.fromarray(pic(6, 8, 4), "RGBA").save(d / "d.webp", lossless=True)
    Image.fromarray(pic(5, 5)).save(d / "e.bmp")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (d / "notes.txt").write_text("not an image")
    return d


def _run(capsys, *argv):
    code = main(["upscale", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_folder_of_mixed_images_one_output_each_and_a_failure_reported(tmp_path, capsys, model_ckpt, shots):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, shots, "-o", out, "--scale", "2", "--model", model_ckpt)
    assert code == 1                                      # one file failed
    assert sorted(os.listdir(out)) == ["a_x2.png", "b_x2.jpg", "c_x2.tif", "d_x2.webp", "e_x2.png"]
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "broken.png" in errors[0]
    assert "5 written, 0 skipped, 1 failed (6 inputs)" in err
    assert stdout.count("wrote ") == 5
    with Image.open(out / "a_x2.png") as im:
        assert im.size == (22, 18) and im.mode == "RGB"
    with Image.open(out / "c_x2.tif") as im:
        assert im.size == (12, 14) and im.mode == "L"      # grey stays grey
    with Image.open(out / "d_x2.webp") as im:
        assert im.size == (16, 12) and im.mode == "RGBA"   # WebP keeps alpha


def test_glob_suffix_and_format_name_the_outputs(tmp_path, capsys, model_ckpt, shots):
    out = tmp_path / "out"
    code, _, err = _run(capsys, str(shots / "*.png"), "-o", out, "--scale", "1.5,2", "--model", model_ckpt,
                        "--suffix=-{model}-{scale}-{width}w", "--format", "tiff", "-q")
    # broken.png matches the glob too: reported, the other PNG written
    assert code == 1 and err.count("\n") == 1 and "broken.png" in err
    assert sorted(os.listdir(out)) == ["a-tiny-1.5x2-22w.tif"]


def test_size_default_suffix_and_several_files(tmp_path, capsys, model_ckpt, shots):
    out = tmp_path / "out"
    code, _, err = _run(capsys, shots / "a.png", shots / "e.bmp", "-o", out, "--size", "20x10",
                        "--model", model_ckpt, "-q")
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["a_20x10.png", "e_20x10.png"]


def test_overwrite_policy(tmp_path, capsys, model_ckpt, shots):
    target = tmp_path / "one.png"
    target.write_bytes(b"keep me")
    code, _, err = _run(capsys, shots / "a.png", "-o", target, "--scale", "2", "--model", model_ckpt, "-q")
    assert code == 1 and err.count("\n") == 1 and "exists" in err and "--overwrite" in err
    assert target.read_bytes() == b"keep me"
    code, _, err = _run(capsys, shots / "a.png", "-o", target, "--scale", "2", "--model", model_ckpt, "-q",
                        "--skip-existing")
    assert code == 0 and target.read_bytes() == b"keep me"
    code, _, err = _run(capsys, shots / "a.png", "-o", target, "--scale", "2", "--model", model_ckpt, "-q",
                        "--overwrite")
    assert code == 0, err
    with Image.open(target) as im:
        assert im.size == (22, 18)
    # in a folder: existing outputs are refused one by one (and counted), the others written
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_x2.png").write_bytes(b"old")
    code, _, err = _run(capsys, shots / "a.png", shots / "e.bmp", "-o", out, "--scale", "2", "--model", model_ckpt)
    assert code == 1 and (out / "a_x2.png").read_bytes() == b"old" and (out / "e_x2.png").exists()
    assert "1 written, 0 skipped, 1 failed" in err
    code, stdout, err = _run(capsys, shots / "a.png", shots / "e.bmp", "-o", out, "--scale", "2", "--model", model_ckpt,
                             "--skip-existing")
    assert code == 0 and "0 written, 2 skipped, 0 failed" in stdout and (out / "a_x2.png").read_bytes() == b"old"
    # -o both --overwrite and --skip-existing: a usage error
    code, _, err = _run(capsys, shots / "a.png", "-o", target, "--scale", "2", "--overwrite", "--skip-existing")
    assert code == 1 and err.count("\n") == 1


def test_two_inputs_with_one_output_name_are_refused_not_overwritten(tmp_path, capsys, model_ckpt, shots):
    Image.open(shots / "e.bmp").save(shots / "a.jpg")      # a.png and a.jpg -> a_x2.png
    out = tmp_path / "out"
    code, _, err = _run(capsys, shots / "a.png", shots / "a.jpg", "-o", out, "--scale", "2", "--model", model_ckpt,
                        "--format", "png", "-q")
    assert code == 1 and "would both be written" in err and sorted(os.listdir(out)) == ["a_x2.png"]


def test_stdin_to_stdout_round_trip(tmp_path, capsys, model_ckpt, shots, monkeypatch):
    data = (shots / "a.png").read_bytes()
    stdout = io.BytesIO()
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data), isatty=lambda: False))
    monkeypatch.setattr(sys, "stdout", SimpleNamespace(buffer=stdout, write=lambda s: None, flush=lambda: None))
    code = main(["upscale", "-", "-o", "-", "--scale", "3", "--model", str(model_ckpt)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "wrote stdout" in err                         # messages go to stderr, the image to stdout
    with Image.open(io.BytesIO(stdout.getvalue())) as im:
        assert im.format == "PNG" and im.size == (33, 27)
    assert sorted(os.listdir(tmp_path)) == ["model", "shots"]     # no temporary file left anywhere here
    # the format follows --format (or the input's), and a failure writes nothing to stdout
    stdout.seek(0)
    stdout.truncate()
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(data), isatty=lambda: False))
    assert main(["upscale", "-", "-o", "-", "--scale", "2", "--model", str(model_ckpt), "--format", "jpeg", "-q"]) == 0
    assert stdout.getvalue()[:2] == b"\xff\xd8"
    stdout.seek(0)
    stdout.truncate()
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(b"junk"), isatty=lambda: False))
    code = main(["upscale", "-", "-o", "-", "--scale", "2", "--model", str(model_ckpt), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "<stdin>" in err and stdout.getvalue() == b""


def test_stdin_into_a_folder_and_stdout_needs_one_input(tmp_path, capsys, model_ckpt, shots, monkeypatch):
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO((shots / "b.jpg").read_bytes()),
                                                      isatty=lambda: False))
    out = tmp_path / "out"
    code, _, err = _run(capsys, "-", "-o", f"{out}/", "--scale", "2", "--model", model_ckpt, "-q")   # '/': a folder
    assert code == 0, err
    assert os.listdir(out) == ["stdin_x2.jpg"]
    code, _, err = _run(capsys, shots, "-o", "-", "--scale", "2", "--model", model_ckpt)
    assert code == 1 and err.count("\n") == 1 and "exactly one input" in err
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(b""), isatty=lambda: True))
    code, _, err = _run(capsys, "-", "-o", tmp_path / "x.png", "--scale", "2", "--model", model_ckpt)
    assert code == 1 and "terminal" in err and err.count("\n") == 1


def test_one_input_into_a_folder_needs_the_slash(tmp_path, capsys, model_ckpt, shots):
    (tmp_path / "dir").mkdir()
    code, _, err = _run(capsys, shots / "a.png", "-o", tmp_path / "dir", "--scale", "2", "--model", model_ckpt, "-q")
    assert code == 1 and err.count("\n") == 1 and os.listdir(tmp_path / "dir") == []
    code, _, err = _run(capsys, shots / "a.png", "-o", f"{tmp_path / 'dir'}/", "--scale", "2", "--model", model_ckpt, "-q")
    assert code == 0 and os.listdir(tmp_path / "dir") == ["a_x2.png"]


def test_format_must_agree_with_the_output_name(tmp_path, capsys, model_ckpt, shots):
    code, _, err = _run(capsys, shots / "a.png", "-o", tmp_path / "x.png", "--format", "jpeg", "--scale", "2",
                        "--model", model_ckpt, "-q")
    assert code == 1 and err.count("\n") == 1 and "--format" in err and not (tmp_path / "x.png").exists()


def test_nothing_written_leaves_no_output_folder(tmp_path, capsys, model_ckpt, shots):
    code, _, err = _run(capsys, shots / "broken.png", shots / "nope.png", "-o", tmp_path / "new", "--scale", "2",
                        "--model", model_ckpt, "-q")
    assert code == 1 and err.count("error:") == 2 and not (tmp_path / "new").exists()


def test_empty_folder_unmatched_glob_and_output_that_is_a_file(tmp_path, capsys, model_ckpt, shots):
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, tmp_path / "empty", str(tmp_path / "nothing*.png"), shots / "a.png",
                        "-o", tmp_path / "out", "--scale", "2", "--model", model_ckpt, "-q")
    assert code == 1 and "has no images" in err and "no files match" in err
    assert os.listdir(tmp_path / "out") == ["a_x2.png"]
    code, _, err = _run(capsys, shots, "-o", shots / "a.png", "--scale", "2", "--model", model_ckpt)
    assert code == 1 and err.count("\n") == 1 and "must be a folder" in err


def test_progress_bar_on_stderr_when_not_a_terminal_and_quiet(tmp_path, capsys, model_ckpt, shots):
    code, _, err = _run(capsys, shots / "a.png", "-o", tmp_path / "p.png", "--scale", "4", "--model", model_ckpt)
    assert code == 0
    # tqdm's bar: output pixels done/total (36 x 44 = 1584), rate and ETA ([elapsed<remaining, rate])
    assert "a.png" in err and "1.58k/1.58k" in err and "px/s]" in err and "<" in err
    code, out, err = _run(capsys, shots / "a.png", "-o", tmp_path / "q.png", "--scale", "4", "--model", model_ckpt, "-q")
    assert code == 0 and err == "" and out == ""
