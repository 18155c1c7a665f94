"""Validation on held-out images during training, the curves figure, bf16 auto and the speed test."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from cisr_zoom.core.train.config import TrainConfigError, from_dict
from cisr_zoom.core.train.data import ImageBank
from cisr_zoom.core.train.validation import split_holdout


def test_holdout_is_fixed_disjoint_and_spread(train_images):
    bank = ImageBank.from_dirs([train_images])
    keep, held = split_holdout(bank, 2)
    assert len(held.images) == 2 and len(keep.images) == len(bank.images) - 2
    assert not set(keep.paths) & set(held.paths)
    again = split_holdout(ImageBank.from_dirs([train_images]), 2)[1]
    assert again.paths == held.paths
    with pytest.raises(Exception, match="leaves no training image"):
        split_holdout(bank, len(bank.images))


@pytest.mark.parametrize("val, text", [({"scales": []}, "scales"), ({"scales": [2.5]}, "scales"),
                                       ({"every": 0}, "every"), ({"crop": 4, "scales": [4]}, "crop")])
def test_bad_validation_tables_are_refused(val, text):
    with pytest.raises(Exception, match=text):
        from_dict({"validation": val})


def test_training_logs_validation_and_the_card_names_the_held_out_images(tmp_path, train_images, make_config):
    from cisr_zoom.core.checkpoint import read_checkpoint
    from cisr_zoom.core.train.trainer import train
    cfg = make_config(validation={"holdout": 2, "every": 5, "scales": [2, 3], "crop": 48, "lpips": False},
                      train={"max_iters": 12}, datasets={"train": {"dirs": [str(train_images)]}})
    out = tmp_path / "run"
    train(cfg, out, log=lambda s: None)
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    vals = [r for r in recs if "val" in r]
    assert [r["iter"] for r in vals] == [5, 10, 12]            # every 5, and the final state
    for r in vals:
        assert set(r["val"]) == {"x2", "x3"}
        assert 10 < r["val"]["x2"]["psnr_y"] < 60
    meta = read_checkpoint(out / "last.pth")["meta"]
    held = meta["training_data"]["held_out_for_validation"]
    assert len(held) == 2 and meta["training_data"]["images"] == 4
    assert meta["validation"]["last"]["iter"] == 12
    assert meta["sessions"][-1]["validation"]["x2"]["psnr_y"] == vals[-1]["val"]["x2"]["psnr_y"]


def test_plot_draws_a_png_from_the_log(tmp_path, train_images, make_config):
    from cisr_zoom.core.train.plot import plot_run
    from cisr_zoom.core.train.trainer import train
    cfg = make_config(validation={"holdout": 1, "every": 5, "scales": [2], "crop": 32, "lpips": False},
                      train={"max_iters": 10, "log_every": 1}, datasets={"train": {"dirs": [str(train_images)]}})
    out = tmp_path / "run"
    train(cfg, out, log=lambda s: None)
    png = plot_run(str(out))
    with Image.open(png) as im:
        assert im.format == "PNG" and im.height > 3 * 200
        px = im.convert("RGB").getcolors(1 << 20)
    assert len(px) > 3                                   # lines in several colours, not a blank page


def test_plot_refuses_a_folder_without_a_log(tmp_path):
    from cisr_zoom.core.errors import CisrError
    from cisr_zoom.core.train.plot import plot_run
    with pytest.raises(CisrError, match="no training log"):
        plot_run(str(tmp_path))


def test_bf16_auto_follows_the_cpu(monkeypatch):
    from cisr_zoom.core.train import stage_sr as trainer
    cpu = torch.device("cpu")
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: True)
    assert trainer.resolve_bf16("auto", cpu) is True
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: False)
    assert trainer.resolve_bf16("auto", cpu) is False
    assert trainer.resolve_bf16(True, cpu) is True and trainer.resolve_bf16(False, cpu) is False
    assert from_dict({})["train"]["bf16"] == "auto"


def test_model_card_records_speed_settings_schedule_and_ledger(tmp_path, train_images, make_config):
    from cisr_zoom.core.checkpoint import read_checkpoint
    from cisr_zoom.core.train.trainer import train
    cfg = make_config(train={"max_iters": 6}, datasets={"train": {"dirs": [str(train_images)],
                                                                  "degrade": {"jpeg_prob": 0.5}}})
    out = tmp_path / "run"
    train(cfg, out, log=lambda s: None)
    cfg["train"]["max_iters"] = 8
    train(cfg, out, resume=True, log=lambda s: None)
    meta = read_checkpoint(out / "last.pth")["meta"]
    assert meta["speed"]["bf16"] is False and "cpu_flags" in meta["speed"]
    assert meta["schedule"]["type"] == "multistep"
    assert [(s["from_iteration"], s["to_iteration"]) for s in meta["sessions"]] == [(0, 6), (6, 8)]
    assert "JPEG" in meta["training_data"]["real_photo_degradations"]
    assert meta["total_iterations"] == 8


def test_speed_test_times_every_option_against_float32(train_images, make_config):
    from cisr_zoom.core.train.speed import OPTIONS, speed_test
    cfg = make_config(datasets={"train": {"dirs": [str(train_images)]}})
    rows = speed_test(cfg, iters=1, options=OPTIONS[:3])
    assert [r["option"] for r in rows] == [o[0] for o in OPTIONS[:3]]
    assert rows[0]["ratio"] == 1.0 and all(r["it_per_s"] > 0 for r in rows)


def test_data_cost_times_each_degrade_table_against_the_step(train_images, make_config):
    from cisr_zoom.core.train.speed import data_cost
    cfg = make_config(datasets={"train": {"dirs": [str(train_images)]}})
    rows = data_cost(cfg, {"clean": {}, "second": {"second_order": True}}, iters=1)
    assert [r["degrade"] for r in rows] == ["clean", "second"]
    assert all(r["data_s"] > 0 and r["step_s"] > 0 and r["ratio"] == r["data_s"] / r["step_s"] for r in rows)


def test_unknown_validation_key_is_refused():
    with pytest.raises(TrainConfigError, match="validation.every_n"):
        from_dict({"validation": {"every_n": 3}})


def test_photo_validation_measures_the_cell_pattern_against_bicubic(tmp_path):
    """A model that adds a pattern repeating with every LR pixel scores far above bicubic's level;
    the identity-like tiny model (bicubic itself, through a stand-in) scores about 1."""
    import numpy as np
    import torch
    from PIL import Image

    from cisr_zoom.core.train.validation import (ValidationSpec, load_photo_crops, photo_cell_ratio)

    rng = np.random.default_rng(0)
    smooth = (np.clip(np.cumsum(rng.normal(0, 1, (64, 64, 3)), axis=0) * 2 + 128, 0, 255)).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    crops = load_photo_crops(str(tmp_path), 32)
    assert len(crops) == 1 and crops[0].shape == (32, 32, 3)

    class Patterned(torch.nn.Module):
        """Bicubic-like output plus a checkerboard in every LR cell (the cell pattern)."""
        def describe(self):
            from types import SimpleNamespace
            return SimpleNamespace(fast_path=False)

        def encode(self, x):
            return x

        def query(self, feats, coords, cells, chunk_size=0):
            h = w = int(round(coords.shape[1] ** 0.5))
            up = torch.nn.functional.interpolate(feats, size=(h, w), mode="bicubic", align_corners=False)
            yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            pattern = 0.08 * (((yy % 4) < 2) ^ ((xx % 4) < 2)).float()
            return (up + pattern).clamp(0, 1).permute(0, 2, 3, 1).reshape(1, h * w, 3)

    ratio = photo_cell_ratio(Patterned().eval(), crops[0], 4, torch.device("cpu"))
    assert ratio > 20, ratio
    spec = ValidationSpec.from_config({"holdout": 1, "every": 1, "scales": [2], "crop": 32, "lpips": False,
                                       "photos": str(tmp_path), "photo_scales": [4], "photo_crop": 32})
    assert spec.photo_scales == (4,) and spec.photos == str(tmp_path)
