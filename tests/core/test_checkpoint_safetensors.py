"""``.safetensors`` checkpoints: the same model and card as ``.pth``, read and written through
the one loader and the one atomic writer; broken files and bare state dicts are one clear line."""

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from cisr_zoom.core.checkpoint import (CHECKPOINT_SUFFIXES, ST_META, ST_SPEC, describe_checkpoint,
                                       load_checkpoint, read_checkpoint, save_checkpoint)
from cisr_zoom.core.errors import CheckpointError
from cisr_zoom.core.imageio import LoadedImage
from cisr_zoom.core.render.session import RenderSession


def _pixels(model, seed=0):
    rgb = np.random.default_rng(seed).random((9, 11, 3)).astype(np.float32)
    s = RenderSession(model, LoadedImage(rgb=rgb, alpha=None), precision="float32")
    return s.render((-1.0, -1.0, 1.0, 1.0), (23, 29))


def test_suffix_is_known():
    assert ".safetensors" in CHECKPOINT_SUFFIXES


def test_round_trip_same_weights_card_and_pixels(tmp_path, tiny_liif, tiny_liif_spec):
    p = tmp_path / "m.safetensors"
    meta = {"stage": "cisrgan", "iterations": 12, "losses": {"l1": 0.25}, "metrics": {"psnr": [30.5, 31.0]}}
    save_checkpoint(p, tiny_liif, tiny_liif_spec, meta=meta)
    assert not [q for q in tmp_path.iterdir() if q != p]            # no temporary file left
    with safe_open(str(p), framework="pt") as f:                       # a standard safetensors file
        md = f.metadata()
        assert set(f.keys()) == set(tiny_liif.state_dict())
    assert md["format"] == "pt"
    assert json.loads(md[ST_SPEC]) == tiny_liif_spec
    assert json.loads(md[ST_META])["iterations"] == 12

    lm = load_checkpoint(p)
    assert lm.name == "m" and not lm.official
    assert lm.meta["stage"] == "cisrgan" and lm.meta["metrics"] == {"psnr": [30.5, 31.0]}
    assert lm.descriptor.display_name == "CiSRGAN (EDSR-baseline)"
    assert describe_checkpoint(p) == lm.descriptor
    for k, v in tiny_liif.state_dict().items():
        assert torch.equal(lm.model.state_dict()[k], v), k
    assert np.array_equal(_pixels(lm.model), _pixels(tiny_liif))


def test_pth_and_safetensors_give_identical_pixels(tmp_path, tiny_liif, tiny_liif_spec):
    save_checkpoint(tmp_path / "a.pth", tiny_liif, tiny_liif_spec, half=True)
    save_checkpoint(tmp_path / "a.safetensors", tiny_liif, tiny_liif_spec, half=True)
    raw = read_checkpoint(tmp_path / "a.safetensors")
    assert all(v.dtype == torch.float16 for v in raw["model"]["sd"].values())
    a, b = load_checkpoint(tmp_path / "a.pth"), load_checkpoint(tmp_path / "a.safetensors")
    assert all(v.dtype == torch.float32 for v in b.model.state_dict().values())
    assert np.array_equal(_pixels(a.model, 1), _pixels(b.model, 1))


def test_training_state_needs_pth_and_nothing_is_written(tmp_path, tiny_liif, tiny_liif_spec):
    p = tmp_path / "last.safetensors"
    with pytest.raises(CheckpointError, match="model only.*optimizer.*save it as .pth"):
        save_checkpoint(p, tiny_liif, tiny_liif_spec, optimizer={"state": {}})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cut", ["empty", "header", "half", "last byte"])
def test_truncated_or_corrupt_file_is_one_line(tmp_path, tiny_liif, tiny_liif_spec, cut):
    p = tmp_path / "t.safetensors"
    save_checkpoint(p, tiny_liif, tiny_liif_spec)
    data = p.read_bytes()
    keep = {"empty": 0, "header": 5, "half": len(data) // 2, "last byte": len(data) - 1}[cut]
    p.write_bytes(data[:keep])
    with pytest.raises(CheckpointError, match=r"cannot load checkpoint '.*t\.safetensors': not a readable "
                                              r"\.safetensors file") as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value)


def test_junk_bytes_are_one_line(tmp_path):
    p = tmp_path / "junk.safetensors"
    p.write_bytes(b"\xff" * 300)
    with pytest.raises(CheckpointError, match="not a readable .safetensors file") as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value)


def test_bare_state_dict_without_spec_is_refused(tmp_path, tiny_liif):
    p = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_liif.state_dict().items()}, str(p), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="no model spec .*architecture is unknown") as e:
        load_checkpoint(p)
    assert "plain.safetensors" in str(e.value) and "\n" not in str(e.value)
    q = tmp_path / "nometa.safetensors"
    save_file({"w": torch.zeros(2)}, str(q))
    with pytest.raises(CheckpointError, match="no model spec"):
        load_checkpoint(q)


@pytest.mark.parametrize("spec, meta, fragment", [
    ("{not json", "{}", "not valid JSON"),
    ('["liif"]', "{}", "is not {'name', 'args'}"),
    ('{"name": "liif"}', "[1, 2]", "model card .* is not a JSON object"),
    ('{"name": "transformer-xxl", "args": {}}', "{}", "unknown model"),
])
def test_bad_metadata_is_one_line(tmp_path, tiny_liif, spec, meta, fragment):
    p = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_liif.state_dict().items()}, str(p),
              metadata={ST_SPEC: spec, ST_META: meta})
    with pytest.raises(CheckpointError, match=fragment) as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value)


def test_cli_upscale_with_a_safetensors_model(tmp_path, tiny_liif, tiny_liif_spec, capsys):
    from PIL import Image
    from cisr_zoom.core.cli import main
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    save_checkpoint(tmp_path / "m.safetensors", tiny_liif, tiny_liif_spec)
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--scale", "2",
                 "--model", str(tmp_path / "m.safetensors"), "-q", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "out.png").size == (16, 16)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 7)
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out2.png"), "--scale", "2",
                 "--model", str(tmp_path / "bad.safetensors"), "-q", "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.safetensors" in err[0]
    assert not (tmp_path / "out2.png").exists()
