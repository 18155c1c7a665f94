"""Bad numbers and usage errors on the command line: one line, status 1, nothing written."""

import pytest

from fuzzkit import expect_error, listing, run_cli

UPSCALE = {
    "scale nan": (["--scale", "nan"], "--scale"),
    "scale inf": (["--scale", "inf"], "--scale"),
    "scale -2": (["--scale", "-2"], "--scale"),
    "scale 0": (["--scale", "0"], "--scale"),
    "scale 1e5": (["--scale", "1e5"], "--scale"),
    "scale three numbers": (["--scale", "2,3,4"], "--scale"),
    "scale words": (["--scale", "big"], "--scale"),
    "scale petapixels": (["--scale", "900"], "--force"),
    "size 99999999x2": (["--size", "99999999x2"], "--force"),
    "size 0x5": (["--size", "0x5"], "--size"),
    "size words": (["--size", "wide"], "--size"),
    "size negative": (["--size", "-5x5"], ""),
    "jpeg above its limit": (["--size", "70000x10", "-o", "{tmp}/o.jpg"], "jpeg"),
    "tile 0": (["--scale", "2", "--tile", "0"], "--tile"),
    "tile -1": (["--scale", "2", "--tile", "-1"], "--tile"),
    "tile nan": (["--scale", "2", "--tile", "nan"], "--tile"),
    "jpeg quality 101": (["--scale", "2", "--jpeg-quality", "101"], "--jpeg-quality"),
    "unknown output format": (["--scale", "2", "-o", "{tmp}/o.xyz"], "unknown image format"),
    "output folder missing": (["--scale", "2", "-o", "{tmp}/nope/o.png"], "does not exist"),
    "no size": ([], "required"),
}


@pytest.mark.parametrize("case", sorted(UPSCALE))
def test_bad_upscale_numbers(tmp_path, assets, case):
    argv, fragment = UPSCALE[case]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    out = [] if "-o" in argv else ["-o", tmp_path / "out.png"]
    before = listing(tmp_path)
    expect_error(run_cli("upscale", assets / "photo.png", *out, *argv, "--model", assets / "tiny.pth"), fragment)
    assert listing(tmp_path) == before


EVAL = {
    "scales nan": (["--scales", "nan"], "--scales"),
    "scales inf": (["--scales", "inf"], "--scales"),
    "scales 2.5": (["--scales", "2.5"], "--scales"),
    "scales 0": (["--scales", "0"], "--scales"),
    "scales empty": (["--scales", ","], "no scales"),
    "limit 0": (["--limit", "0"], "--limit"),
    "chunk-size -1": (["--chunk-size", "-1"], "--chunk-size"),
}


@pytest.mark.parametrize("case", sorted(EVAL))
def test_bad_eval_numbers(tmp_path, assets, case):
    argv, fragment = EVAL[case]
    before = listing(tmp_path)
    expect_error(run_cli("eval", "--data", assets / "images", "--model", "bicubic", "--metrics", "psnr",
                         "-o", tmp_path / "r.md", *argv), fragment)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("argv, fragment", [
    (["bench", "--threads", "-3"], "--threads"),
    (["bench", "--export-size", "0x0"], "--size"),
    ([], "command"),
    (["frobnicate"], "invalid choice"),
    (["upscale", "--no-such-option"], ""),
])
def test_usage_errors(argv, fragment):
    expect_error(run_cli(*argv), fragment)


def test_a_file_name_starting_with_a_dash(tmp_path, assets, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-photo.png").write_bytes((assets / "photo.png").read_bytes())
    before = listing(tmp_path)
    r = run_cli("upscale", "-photo.png", "-o", "out.png", "--scale", "2", "--model", assets / "tiny.pth")
    expect_error(r, "./-photo.png", "'--'")
    assert listing(tmp_path) == before
    r = run_cli("upscale", "-o", "out.png", "--scale", "2", "--model", assets / "tiny.pth", "-q", "--", "-photo.png")
    assert r.rc == 0, r.stderr


# -- issue 29 -------------------------------------------------------------------------------

def test_eval_on_images_too_small_for_the_scale(tmp_path):
    """Every image too small for x30: one line naming them (no table of n/a), status 1."""
    import numpy as np
    from PIL import Image
    data = tmp_path / "tiny"
    data.mkdir()
    for i, side in enumerate((20, 24)):
        Image.fromarray(np.full((side, side, 3), 100 + i, np.uint8)).save(data / f"small{i}.png")
    before = listing(tmp_path)
    r = run_cli("eval", "--data", data, "--model", "bicubic", "--metrics", "psnr", "--scales", "2,30", "-q",
                "-o", tmp_path / "r.md")
    expect_error(r, "small0.png", "small1.png", "x30")
    assert r.stdout == "" and listing(tmp_path) == before


def test_eval_and_upscale_follow_one_rule_for_a_missing_output_folder(tmp_path, assets):
    before = listing(tmp_path)
    expect_error(run_cli("eval", "--data", assets / "images", "--model", "bicubic", "--metrics", "psnr",
                         "--scales", "2", "-q", "-o", tmp_path / "no" / "such" / "res.json"), "does not exist")
    expect_error(run_cli("upscale", assets / "photo.png", "-o", tmp_path / "no" / "such" / "o.png", "--scale", "2",
                         "--model", assets / "tiny.pth", "-q"), "does not exist")
    expect_error(run_cli("export-model", assets / "tiny.pth", tmp_path / "no" / "such" / "m.pth"), "does not exist")
    assert listing(tmp_path) == before


def test_a_refused_size_states_the_rule_it_breaks_with_true_numbers(tmp_path, assets):
    """1 x 100000 at x2 breaks the side-length rule, not the megapixel one (0.4 MP)."""
    import numpy as np
    from PIL import Image
    Image.fromarray(np.zeros((100000, 1, 3), np.uint8)).save(tmp_path / "thin.png")
    r = run_cli("upscale", tmp_path / "thin.png", "-o", tmp_path / "o.png", "--scale", "2",
                "--model", assets / "tiny.pth", "-q")
    expect_error(r, "2x200,000", "200,000 pixels", "100,000 pixels a side")
    assert "megapixel" not in r.lines[0] and " 0 " not in r.lines[0] and "0.0 GB" not in r.lines[0]
    # a square beyond the megapixel limit names that rule, with its numbers
    r = run_cli("upscale", assets / "photo.png", "-o", tmp_path / "o.png", "--size", "30000x30000",
                "--model", assets / "tiny.pth", "-q")
    expect_error(r, "900 megapixels", "500 megapixels")
    assert "a side" not in r.lines[0]
    assert sorted(listing(tmp_path)) == ["thin.png"]
