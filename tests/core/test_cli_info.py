"""``cisr info NAME``: a readable model card without the training machine's paths; ``--json``
for the raw card."""

import json

import pytest

from cisr_zoom.core.checkpoint import bundled_models, save_checkpoint
from cisr_zoom.core.cli import main
from cisr_zoom.core.commands.info import scrub

META = {
    "stage": "cisrgan", "iterations": 917, "wall_time_s": 3903.5,
    "hardware": {"device": "cpu", "cpu": "AMD EPYC", "platform": "Linux"},
    "training_data": {"dirs": ["/work/shared/data/train/T91", "/home/alice/data/BSD200"], "images": 291,
                      "megapixels": 38.5, "degradation": "bicubic downsampling", "scale_range": [1.0, 4.0]},
    "losses": {"pixel": {"type": "l1", "weight": 0.01}, "gan": {"type": "ragan", "weight": 0.005}},
    "initialised_from": "/work/main/runs/campaign/init-liif-837.pth",
    "config": {"train": {"init_g": "/home/alice/runs/x/last.pth"}},
    "validation": {"holdout": 4, "last": {"iter": 900, "x2": {"psnr_y": 33.123456, "lpips": 0.1234}}},
    "metrics": {"set5_x4_psnr_y": 30.5},
    "released": "2026-11-25",
}


def _card(capsys, *argv):
    rc = main(["info", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_card_is_readable_and_has_no_machine_paths(tmp_path, capsys, tiny_liif, tiny_liif_spec):
    p = tmp_path / "mine.pth"
    save_checkpoint(p, tiny_liif, tiny_liif_spec, meta=META, half=True)
    rc, out, err = _card(capsys, p)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "mine: CiSRGAN (EDSR-baseline)"
    text = "\n".join(lines)
    for fragment in ("architecture: liif, encoder edsr-baseline (n_resblocks 2, n_feats 8), MLP 16 x 16",
                     "scale range:", "trained on x1 to x4; renders any scale", "917 iterations, 65 min on cpu",
                     "data: T91, BSD200 (291 images, 38.5 MP); bicubic downsampling",
                     "loss: 0.01 * l1 + 0.005 * ragan", "initialised from: init-liif-837.pth",
                     "metrics:", "set5_x4_psnr_y: 30.5", "held-out validation (iteration 900) x2 psnr_y: 33.12",
                     "x2 lpips: 0.1234", "released:     2026-11-25"):
        assert fragment in text, (fragment, text)
    assert "/work/" not in text and "/home/" not in text and "alice" not in text
    assert not text.lstrip().startswith("{")


def test_json_is_the_raw_card(tmp_path, capsys, tiny_liif, tiny_liif_spec):
    p = tmp_path / "mine.safetensors"
    save_checkpoint(p, tiny_liif, tiny_liif_spec, meta=META)
    rc, out, _ = _card(capsys, p, "--json")
    card = json.loads(out)
    assert rc == 0 and card["name"] == "mine" and card["spec"] == tiny_liif_spec
    assert card["meta"]["training_data"]["dirs"][0] == "/work/shared/data/train/T91"   # raw, as stored
    assert card["descriptor"]["family"] == "cisrgan"


@pytest.mark.parametrize("name", sorted(bundled_models()))
def test_bundled_cards(capsys, name):
    rc, out, _ = _card(capsys, name)
    assert rc == 0 and out.startswith(f"{name}: ")
    assert "bundled with CiSR Zoom" in out and "training:" in out and "iterations" in out
    assert "/work/" not in out and "/home/" not in out


def test_official_checkpoint_without_card(tmp_path, capsys, tiny_liif, tiny_liif_spec):
    import torch
    p = tmp_path / "edsr-baseline-liif.pth"
    torch.save({"model": {"name": "liif", "args": tiny_liif_spec["args"], "sd": tiny_liif.state_dict()}}, p)
    rc, out, _ = _card(capsys, p)
    assert rc == 0 and "official LIIF checkpoint: the file has no model card" in out
    assert "metrics:" in out and "none recorded in the file" in out


def test_missing_model_and_json_without_model_are_one_line(capsys):
    rc, out, err = _card(capsys, "/nonexistent/m.pth")
    assert rc == 1 and out == "" and len(err.strip().splitlines()) == 1
    rc, out, err = _card(capsys, "--json")
    assert rc == 1 and err.strip() == "cisr info: error: --json needs a MODEL"


@pytest.mark.parametrize("text, clean", [
    ("/work/shared/data/train/T91", "T91"),
    ("runs from /home/bob/x/last.pth (837 iterations)", "runs from last.pth (837 iterations)"),
    ("C:\\Users\\bob\\m.pth", "m.pth"),
    ("~/data/DIV2K/", "…"),
    ("plain text, 1/2 of it", "plain text, 1/2 of it"),
    ("runs/liif-stage1-837.pth", "runs/liif-stage1-837.pth"),
])
def test_scrub(text, clean):
    assert scrub(text) == clean
