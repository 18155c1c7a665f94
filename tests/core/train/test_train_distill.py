"""Stage distill: an LM-LIIF twin of a LIIF-family teacher, on cached encoder features."""

from __future__ import annotations

import json

import pytest
import torch

from cisr_zoom.core import models
from cisr_zoom.core.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from cisr_zoom.core.train.config import TrainConfigError
from cisr_zoom.core.train.distill import DistillError
from cisr_zoom.core.train.ema import EMA
from cisr_zoom.core.train.trainer import Trainer
from cisr_zoom.core.twins import file_sha256, is_twin

ENC = {"n_resblocks": 1, "n_feats": 8}


def _teacher(path, encoder_args=ENC, stage="liif"):
    torch.manual_seed(3)
    spec = models.generator_spec("liif", encoder="edsr-baseline", hidden=16, n_hidden=2, encoder_args=encoder_args)
    save_checkpoint(path, models.make(spec).eval(), spec, meta={"stage": stage, "origin": "a test teacher",
                                                                 "inputs": "photos"})
    return path


def _config(make_config, teacher, **train):
    return make_config("distill", network_g={"type": "lmf", "hidden": 8, "n_hidden": 2, "image_skip": False,
                                             "args": {"latent_hidden": [16]}},
                       distill={"crops": 12, "query_points": 64, "query_scale_max": 30.0, "cache_batch": 5},
                       pixel_opt={"weight": 0.1}, train={"init_g": str(teacher), **train})


def test_twin_keeps_the_teachers_encoder_learns_its_decoder_and_names_it(train_images, tmp_path, make_config):
    teacher = _teacher(tmp_path / "teacher.pth", stage="cisrgan")
    cfg = _config(make_config, teacher, max_iters=30, ema_decay=0.9, lr_g=3e-3)
    Trainer(cfg, tmp_path / "run", data_dirs=[str(train_images)]).run()
    obj = read_checkpoint(tmp_path / "run" / "last.pth")
    t_enc = load_checkpoint(teacher).model.encoder.state_dict()
    for sd in (obj["model"]["sd"], obj["train"]["model_g_raw"]):       # the EMA (shipped) and the raw weights
        assert all(torch.equal(sd["encoder." + k], v) for k, v in t_enc.items())
    meta = obj["meta"]
    assert meta["stage"] == "cisrgan" and meta["training_stage"] == "distill"
    assert meta["twin_of"] == "teacher" and meta["teacher"]["sha256"] == file_sha256(teacher)
    assert meta["teacher"]["origin"] == "a test teacher" and meta["distillation"]["crops"] == 12
    assert "teacher" in meta["losses"] and meta["inputs"] == "photos"          # made for the teacher's pictures
    assert is_twin(tmp_path / "run" / "last.pth")
    twin = load_checkpoint(tmp_path / "run" / "last.pth")
    assert twin.descriptor.architecture == "lmf" and twin.descriptor.display_name == "CiSRGAN (LM, EDSR-baseline, photos)"
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [r["l_teacher"] for r in log if "l_teacher" in r]
    assert losses[-1] < 0.8 * losses[0]


def test_distill_resumes_with_the_same_cache_and_encoder(train_images, tmp_path, make_config):
    teacher = _teacher(tmp_path / "teacher.pth")
    cfg = _config(make_config, teacher, max_iters=10)
    t1 = Trainer(cfg, tmp_path / "run", data_dirs=[str(train_images)])
    t1.run()
    t2 = Trainer(cfg, tmp_path / "run", data_dirs=[str(train_images)], resume=True, max_iters=14)
    assert torch.equal(t1.model.cache.feat, t2.model.cache.feat) and torch.equal(t1.model.cache.q_target, t2.model.cache.q_target)
    assert t2.run().iteration == 14
    assert all(not p.requires_grad for p in t2.model.net_g.encoder.parameters())
    assert all(p.requires_grad for p in t2.model.net_g.hypernet.parameters())


def test_cached_targets_are_the_teachers_outputs_on_the_cached_features(train_images, tmp_path, make_config):
    from cisr_zoom.core.models.liif import Features, normalise
    teacher = _teacher(tmp_path / "teacher.pth")
    t = Trainer(_config(make_config, teacher, max_iters=0), tmp_path / "run", data_dirs=[str(train_images)])
    c = t.model.cache
    feat, lr = c.feat[:2].float(), c.lr[:2].float()
    ref = t.model.teacher.model.query(Features(feat, normalise(lr)), c.q_coords[:2], c.q_cells[:2].expand(-1, 64, -1))
    assert torch.allclose(ref, c.q_target[:2], atol=1e-5)
    q = c.q_cells[:, 0, 0] * feat.shape[-1] / 2          # 1 / scale
    assert float((1 / q).min()) >= 1.0 and float((1 / q).max()) <= 30.0 + 1e-3


def test_distill_refuses_a_teacher_that_does_not_fit(train_images, tmp_path, make_config):
    other = _teacher(tmp_path / "wide.pth", encoder_args={"n_resblocks": 1, "n_feats": 12})
    with pytest.raises(DistillError, match="encoder"):
        Trainer(_config(make_config, other), tmp_path / "run", data_dirs=[str(train_images)])
    with pytest.raises(TrainConfigError, match="teacher"):
        Trainer(_config(make_config, ""), tmp_path / "run2", data_dirs=[str(train_images)])
    with pytest.raises(TrainConfigError, match="lmf"):
        make_config("distill", train={"init_g": "x.pth"})
    assert not (tmp_path / "run").exists()


def test_ema_copies_parameters_frozen_in_the_generator():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    for p in net[0].parameters():
        p.requires_grad_(False)
    ema = EMA(net, 0.9)
    with torch.no_grad():
        net[0].weight.mul_(1.37)
        net[1].weight.mul_(2.0)
    ema.update(net)
    assert torch.equal(ema.net[0].weight, net[0].weight)
    assert not torch.equal(ema.net[1].weight, net[1].weight)


def test_shipped_distill_config_fits_its_bundled_teacher():
    from cisr_zoom.core.checkpoint import bundled_models
    from cisr_zoom.core.train.config import load_config
    from cisr_zoom.core.train.trainer import generator_spec
    cfg = load_config("cpu-distill-lm-liif-edsr-baseline")
    teacher = cfg["train"]["init_g"]
    if teacher not in bundled_models():
        pytest.skip(f"bundled {teacher} not installed")
    spec, t_spec = generator_spec(cfg), read_checkpoint(bundled_models()[teacher], mmap=True)["model"]
    assert cfg["stage"] == "distill" and spec["name"] == "lmliif"
    assert spec["args"]["encoder_spec"] == t_spec["args"]["encoder_spec"]
    assert spec["args"]["image_skip"] == bool(t_spec["args"].get("image_skip", False))
