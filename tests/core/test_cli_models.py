"""``cisr export-model`` (compact model files, .pth or .safetensors) and ``cisr configs``."""

import tomllib

import numpy as np
import pytest
import torch

from cisr_zoom.core.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from cisr_zoom.core.cli import main
from cisr_zoom.core.imageio import LoadedImage
from cisr_zoom.core.render.session import RenderSession
from cisr_zoom.core.train.config import CONFIG_DIR, load_config


def _pixels(model):
    rgb = np.random.default_rng(2).random((9, 10, 3)).astype(np.float32)
    return RenderSession(model, LoadedImage(rgb=rgb, alpha=None)).render((-1.0, -1.0, 1.0, 1.0), (19, 21))


@pytest.fixture
def training_ckpt(tmp_path, tiny_liif, tiny_liif_spec):
    """A checkpoint as training leaves it: generator, card, optimizer, discriminator, counters."""
    p = tmp_path / "last.pth"
    opt = torch.optim.Adam(tiny_liif.parameters())
    save_checkpoint(p, tiny_liif, tiny_liif_spec, meta={"stage": "cisrgan", "iterations": 40},
                    optimizer=opt.state_dict(), model_d={"w": torch.zeros(3)}, iteration=40)
    return p


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err.strip().splitlines()


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_export_model_drops_training_state_and_halves(tmp_path, capsys, training_ckpt, tiny_liif, suffix):
    out = tmp_path / f"model{suffix}"
    rc, stdout, err = _run(capsys, "export-model", training_ckpt, out)
    assert rc == 0 and err == [] and "float16" in stdout and str(out) in stdout
    raw = read_checkpoint(out)
    assert set(raw) == {"model", "meta"}                     # optimizer, discriminator, counters dropped
    assert all(v.dtype == torch.float16 for v in raw["model"]["sd"].values())
    assert raw["meta"]["stage"] == "cisrgan" and raw["meta"]["iterations"] == 40
    assert raw["meta"]["weights_dtype"] == "float16"
    assert out.stat().st_size < training_ckpt.stat().st_size
    lm = load_checkpoint(out)
    assert lm.descriptor.family == "cisrgan"
    assert np.abs(_pixels(lm.model) - _pixels(tiny_liif)).max() < 2e-3   # float16 weights, float32 compute
    if suffix == ".safetensors":
        assert out.read_bytes()[8:9] == b"{"                 # the safetensors layout, not a torch zip


def test_export_model_float32_gives_identical_pixels(tmp_path, capsys, training_ckpt, tiny_liif):
    out = tmp_path / "m.safetensors"
    assert _run(capsys, "export-model", training_ckpt, out, "--float32")[0] == 0
    assert np.array_equal(_pixels(load_checkpoint(out).model), _pixels(tiny_liif))


def test_export_model_refuses_to_replace_without_overwrite(tmp_path, capsys, training_ckpt):
    out = tmp_path / "m.pth"
    out.write_bytes(b"keep me")
    rc, _, err = _run(capsys, "export-model", training_ckpt, out)
    assert rc == 1 and len(err) == 1 and "--overwrite" in err[0]
    assert out.read_bytes() == b"keep me"
    assert _run(capsys, "export-model", training_ckpt, out, "--overwrite")[0] == 0
    assert set(read_checkpoint(out)) == {"model", "meta"}
    rc, _, err = _run(capsys, "export-model", training_ckpt, training_ckpt, "--overwrite")
    assert rc == 1 and len(err) == 1 and "overwrite the input" in err[0]
    assert "optimizer" in read_checkpoint(training_ckpt)


@pytest.mark.parametrize("case", ["missing input", "not a checkpoint", "bad suffix", "output a folder",
                                  "inside a file"])
def test_export_model_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, training_ckpt, case):
    (tmp_path / "junk.pth").write_bytes(b"\x80\x02junk")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder.pth").mkdir()
    src, out, fragment = {
        "missing input": (tmp_path / "nope.pth", tmp_path / "o.pth", "neither a bundled model"),
        "not a checkpoint": (tmp_path / "junk.pth", tmp_path / "o.pth", "junk.pth"),
        "bad suffix": (training_ckpt, tmp_path / "o.onnx", ".safetensors"),
        "output a folder": (training_ckpt, tmp_path / "folder.pth", "folder"),
        "inside a file": (training_ckpt, tmp_path / "afile" / "o.pth", "a file"),
    }[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    rc, _, err = _run(capsys, "export-model", src, out)
    assert rc == 1 and len(err) == 1 and err[0].startswith("cisr export-model: error:"), err
    assert fragment in err[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_configs_lists_every_shipped_config_with_a_description(capsys):
    rc, out, err = _run(capsys, "configs")
    assert rc == 0 and err == []
    lines = out.strip().splitlines()
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    assert [line.split()[0] for line in lines] == names
    for line in lines:
        name, desc = line.split(None, 1)
        assert 10 < len(desc) < 140 and "#" not in desc, line
    assert any(line.startswith("cpu-liif-photo-edsr-baseline ") and "photo variant" in line for line in lines)


def test_configs_name_prints_the_config_as_shipped(capsys, tmp_path):
    rc, out, _ = _run(capsys, "configs", "cpu-liif-edsr-baseline")
    assert rc == 0
    assert out == (CONFIG_DIR / "cpu-liif-edsr-baseline.toml").read_text()
    tomllib.loads(out)
    (tmp_path / "copy.toml").write_text(out)                   # copy, edit, train from it
    assert load_config(tmp_path / "copy.toml")["name"] == "cpu-liif-edsr-baseline"
    assert _run(capsys, "configs", "rdn-liif.toml")[0] == 0


def test_configs_unknown_name_is_one_line(capsys):
    rc, out, err = _run(capsys, "configs", "no-such-config")
    assert rc == 1 and out == "" and len(err) == 1
    assert "no shipped config named 'no-such-config'" in err[0] and "cpu-liif-edsr-baseline" in err[0]


def test_description_is_the_first_clause_outside_parentheses(tmp_path):
    from cisr_zoom.core.train.config import config_description
    p = tmp_path / "x.toml"
    p.write_text("# LIIF (Chen et al. 2021) with a thing: more words.\n# second line\nname = 'x'\n")
    assert config_description(p) == "LIIF (Chen et al. 2021) with a thing"
    p.write_text("name = 'x'\n")
    assert config_description(p) == ""


def test_a_closed_stdout_pipe_ends_quietly(tmp_path):
    """``cisr configs | head -1``: the reader closes the pipe first; no error line, status 141."""
    import os
    import subprocess
    import sys
    r, w = os.pipe()
    os.close(r)                                                 # the reader is gone before anything is written
    try:
        p = subprocess.run([sys.executable, "-m", "cisr_zoom.core.cli", "configs"], stdout=w,
                           stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr
    assert p.stderr == b""
