"""20-iteration runs of both stages: the loss goes down, checkpoints resume exactly."""

import json

import pytest
import torch

from cisr_zoom.core.checkpoint import load_checkpoint, read_checkpoint
from cisr_zoom.core.train.data import iteration_rng, to_image
from cisr_zoom.core.train.losses import fft_amplitude_loss
from cisr_zoom.core.train.trainer import Trainer, TrainError


def _fixed_batch_losses(trainer, n=3):
    """Mean L1 and FFT-amplitude loss of the generator on fixed held-out draws (seed 999)."""
    net = trainer.model.forward_g.eval()
    l1, fft = [], []
    with torch.no_grad():
        for i in range(n):
            b = trainer.sampler.batch(iteration_rng(999, i), 4)
            pred = net(b.lr, b.coords, b.cells)
            l1.append((pred - b.gt).abs().mean().item())
            if b.patch:
                fft.append(fft_amplitude_loss(to_image(pred, b.patch), b.gt_image()).item())
    return sum(l1) / n, (sum(fft) / n if fft else None)


def _train(cfg, out, **kw):
    t = Trainer(cfg, out, log=lambda s: None, **kw)
    return t, t.run()


def _sd(path):
    return read_checkpoint(path)["model"]["sd"]


@pytest.fixture(scope="module")
def stage1(tmp_path_factory, train_images, make_config):
    cfg = make_config("liif", datasets={"train": {"dirs": [str(train_images)]}})
    out = tmp_path_factory.mktemp("stage1")
    before = Trainer(cfg, out / "probe", log=lambda s: None)
    l1_before, _ = _fixed_batch_losses(before)
    t, res = _train(cfg, out / "full")
    return cfg, out, l1_before, t, res


def test_stage1_lowers_loss_and_writes_checkpoint_and_log(stage1):
    cfg, out, l1_before, t, res = stage1
    assert res.iteration == 20 and res.stopped_by == "max_iters"
    l1_after, _ = _fixed_batch_losses(t)
    assert l1_after < 0.8 * l1_before, (l1_before, l1_after)
    lm = load_checkpoint(out / "full" / "last.pth")  # the normal model loader accepts it
    assert lm.spec["args"]["image_skip"] is True
    meta = lm.meta
    assert meta["iterations"] == 20 and meta["stage"] == "liif"
    assert meta["losses"] == {"pixel": {"type": "l1", "weight": 1.0}}
    assert meta["perceptual_term"] == "none" and meta["training_data"]["images"] == 6
    assert meta["hardware"]["device"] == "cpu" and meta["wall_time_s"] >= 0
    log = [json.loads(x) for x in (out / "full" / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == [5, 10, 15, 20] and all("l_pix" in r and r["it_per_s"] > 0 for r in log)


def test_stage1_resume_continues_exactly(stage1):
    cfg, out, _, _, _ = stage1
    _, res = _train(cfg, out / "split", max_iters=7)
    assert res.iteration == 7
    t, res = _train(cfg, out / "split", resume=True)
    assert t.resumed_from and res.iteration == 20
    full, split = _sd(out / "full" / "last.pth"), _sd(out / "split" / "last.pth")
    assert all(torch.equal(full[k], split[k]) for k in full)
    sessions = read_checkpoint(out / "split" / "last.pth")["meta"]["sessions"]
    assert [(x["from_iteration"], x["to_iteration"]) for x in sessions] == [(0, 7), (7, 20)]
    log = [json.loads(x)["iter"] for x in (out / "split" / "log.jsonl").read_text().splitlines()]
    assert log == [5, 7, 10, 15, 20]  # the end of the first run is logged once, nothing duplicated


def test_resume_without_checkpoint_is_a_clear_error(stage1, tmp_path):
    cfg = stage1[0]
    with pytest.raises(TrainError, match="no checkpoint"):
        Trainer(cfg, tmp_path / "nothing", resume=True, log=lambda s: None)


def test_stage2_from_stage1_lowers_loss_and_resumes(stage1, train_images, tmp_path, make_config):
    _, out1, _, _, _ = stage1
    cfg = make_config("cisrgan", datasets={"train": {"dirs": [str(train_images)]}},
                      train={"init_g": str(out1 / "full" / "last.pth")})
    probe = Trainer(cfg, tmp_path / "probe", log=lambda s: None)
    # initialised from stage 1
    s1 = _sd(out1 / "full" / "last.pth")
    assert all(torch.equal(s1[k], v) for k, v in probe.model.net_g.state_dict().items())
    l1_b, fft_b = _fixed_batch_losses(probe)
    loss_b = 1e-2 * l1_b + fft_b
    t, res = _train(cfg, tmp_path / "full")
    l1_a, fft_a = _fixed_batch_losses(t)
    assert 1e-2 * l1_a + fft_a < loss_b, (l1_b, fft_b, l1_a, fft_a)
    assert set(res.last_losses) >= {"l_pix", "l_percep", "l_g_gan", "l_d", "d_real", "d_fake"}
    ck = read_checkpoint(tmp_path / "full" / "last.pth")
    meta = ck["meta"]
    assert meta["stage"] == "cisrgan" and meta["initialised_from"] == str(out1 / "full" / "last.pth")
    assert meta["losses"]["gan"] == {"type": "ragan", "weight": 5e-3, "discriminator": "vgg-discriminator"}
    assert meta["losses"]["perceptual"]["type"] == "fft" and "Fourier" in meta["perceptual_term"]
    assert ck["train"]["model_d"]["name"] == "vgg-discriminator"
    # resume: 9 + 11 iterations == 20 iterations, generator and discriminator
    _train(cfg, tmp_path / "split", max_iters=9)
    _train(cfg, tmp_path / "split", resume=True)
    a, b = read_checkpoint(tmp_path / "full" / "last.pth"), read_checkpoint(tmp_path / "split" / "last.pth")
    assert all(torch.equal(a["model"]["sd"][k], b["model"]["sd"][k]) for k in a["model"]["sd"])
    da, db = a["train"]["model_d"]["sd"], b["train"]["model_d"]["sd"]
    assert all(torch.equal(da[k], db[k]) for k in da)


def test_stage2_with_the_lr_period_term_logs_it_and_records_it(stage1, train_images, tmp_path, make_config):
    _, out1, _, _, _ = stage1
    cfg = make_config("cisrgan", datasets={"train": {"dirs": [str(train_images)]}},
                      train={"init_g": str(out1 / "full" / "last.pth"), "max_iters": 5},
                      period_opt={"weight": 100.0, "bins": 3, "debias": True})
    _, res = _train(cfg, tmp_path / "period")
    assert res.last_losses["l_period"] > 0
    meta = read_checkpoint(tmp_path / "period" / "last.pth")["meta"]
    assert meta["losses"]["lr_period"] == {"type": "lr-period", "weight": 100.0, "bins": 3, "debias": True}


def test_stage2_needs_a_stage1_init(train_images, tmp_path, make_config):
    from cisr_zoom.core.train.config import TrainConfigError
    cfg = make_config("cisrgan", datasets={"train": {"dirs": [str(train_images)]}})
    with pytest.raises(TrainConfigError, match="init_g"):
        Trainer(cfg, tmp_path, log=lambda s: None)


def test_max_minutes_stops_with_a_checkpoint(stage1, tmp_path):
    cfg = stage1[0]
    _, res = _train(cfg, tmp_path / "t", max_minutes=0.0)
    assert res.stopped_by == "max_minutes" and res.iteration == 0


def test_export_keeps_model_card_and_drops_training_state(stage1, tmp_path):
    from cisr_zoom.core.train.export import export_model
    _, out, _, _, _ = stage1
    export_model(out / "full" / "last.pth", tmp_path / "small.pth", extra_meta={"note": "test"})
    raw = read_checkpoint(tmp_path / "small.pth")
    assert "train" not in raw and all(v.dtype == torch.float16 for v in raw["model"]["sd"].values())
    lm = load_checkpoint(tmp_path / "small.pth")
    assert lm.meta["iterations"] == 20 and lm.meta["note"] == "test" and lm.meta["losses"]["pixel"]["weight"] == 1.0
    full = _sd(out / "full" / "last.pth")
    for k, v in lm.model.state_dict().items():
        assert torch.allclose(v, full[k], atol=1e-3, rtol=1e-3)
    assert (tmp_path / "small.pth").stat().st_size < (out / "full" / "last.pth").stat().st_size / 2


def test_validation_with_real_photos_runs_and_logs_the_cell_ratio(train_images, tmp_path, make_config):
    """A run whose validation includes ``photos`` (entries without PSNR) validates, logs and goes on."""
    cfg = make_config("liif", datasets={"train": {"dirs": [str(train_images)]}},
                      train={"max_iters": 10, "checkpoint_every": 10, "log_every": 5, "threads": 1, "bf16": False},
                      validation={"holdout": 1, "every": 5, "scales": [2], "crop": 32, "lpips": False,
                                  "photos": str(train_images), "photo_scales": [4], "photo_crop": 32})
    lines = []
    res = Trainer(cfg, tmp_path / "run", log=lines.append).run()
    assert res.iteration == 10
    vals = [json.loads(x)["val"] for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines() if '"val"' in x]
    assert len(vals) == 2 and all(v["photo_x4"]["cell_to_bicubic"] > 0 and "psnr_y" in v["x2"] for v in vals)
    said = [s for s in lines if "validation at iteration" in s]
    assert len(said) == 2 and "photo_x4 cell/bicubic" in said[0] and " dB" in said[0]
