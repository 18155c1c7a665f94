"""The trainer split by stage (BasicSR's SRModel / SRGANModel): the registry of stage models, the
loss terms built from their ``*_opt`` tables, one step of each stage against a direct
reimplementation of its loss sum and Adam update, and the checkpoint layout that runs started
before the split resume from."""

from __future__ import annotations

import copy

import pytest
import torch

from cisr_zoom.core import models
from cisr_zoom.core.checkpoint import read_checkpoint, save_checkpoint
from cisr_zoom.core.train.config import STAGES, TrainConfigError
from cisr_zoom.core.train.data import to_image
from cisr_zoom.core.train.distill import twin_outputs
from cisr_zoom.core.train.forward import TrainForward
from cisr_zoom.core.train.loss_terms import TERM_TYPES, TermResources, build_term
from cisr_zoom.core.train.losses import (fft_amplitude_loss, gradient_loss, ldl_loss, lr_period_loss, ragan_d_loss,
                                         ragan_g_loss)
from cisr_zoom.core.train.stage_distill import DistillModel
from cisr_zoom.core.train.stage_gan import GANModel
from cisr_zoom.core.train.stage_sr import SRModel
from cisr_zoom.core.train.stages import STAGE_MODELS, model_class
from cisr_zoom.core.train.trainer import Trainer

ENC = {"n_resblocks": 1, "n_feats": 8}


def test_every_stage_has_a_model_class_and_the_gan_and_distill_models_build_on_stage_1():
    assert set(STAGE_MODELS) == set(STAGES)
    assert model_class("liif") is SRModel and model_class("cisrgan") is GANModel
    assert model_class("distill") is DistillModel
    assert issubclass(GANModel, SRModel) and issubclass(DistillModel, SRModel)
    with pytest.raises(TrainConfigError, match="stage must be one of"):
        model_class("srgan")


def test_each_term_is_built_from_its_table_and_is_off_at_weight_0_or_without_a_table():
    res = TermResources(torch.device("cpu"))
    pix = build_term("pixel_opt", {"type": "l1", "weight": 0.0}, res)
    assert pix is not None and pix.key == "l_pix" and pix.weight == 0.0   # logged at weight 0 too
    assert build_term("pixel_opt", None, res) is None
    assert build_term("period_opt", {"type": "lr-period", "weight": 0.0, "bins": 4, "debias": False}, res) is None
    period = build_term("period_opt", {"type": "lr-period", "weight": 2.0, "bins": 3, "debias": True}, res)
    assert period.card() == {"type": "lr-period", "weight": 2.0, "bins": 3, "debias": True}
    assert build_term("ldl_opt", {"weight": 0.5, "kernel": 5}, res).card() == {"type": "ldl", "weight": 0.5, "kernel": 5}
    assert build_term("ldl_opt", {"weight": 0.0, "kernel": 5}, res) is None
    assert build_term("perceptual_opt", {"type": "none", "weight": 1.0, "layer": ""}, res) is None
    assert build_term("perceptual_opt", {"type": "fft", "weight": 0.0, "layer": ""}, res) is None
    assert build_term("perceptual_opt", {"type": "gradient", "weight": 3.0, "layer": ""}, res).card() == \
        {"type": "gradient", "weight": 3.0}
    with pytest.raises(ValueError, match="needs a discriminator"):
        build_term("gan_opt", {"type": "ragan", "weight": 1.0}, res)
    assert build_term("gan_opt", {"type": "ragan", "weight": 0.0}, res) is None
    with pytest.raises(ValueError, match="is not a loss term"):
        build_term("pixel_opt", {"type": "l2", "weight": 1.0}, res)
    assert {"l1", "lr-period", "ldl", "ragan", "vgg19", "fft+gradient"} <= set(TERM_TYPES)


# -- one step of each stage against a direct reimplementation ---------------------------------------

def _stage1(tmp_path, make_config, train_images):
    cfg = make_config("liif", datasets={"train": {"dirs": [str(train_images)]}}, train={"max_iters": 1})
    Trainer(cfg, tmp_path / "s1", log=lambda s: None).run()
    return tmp_path / "s1" / "last.pth"


def _teacher(path):
    torch.manual_seed(3)
    spec = models.generator_spec("liif", encoder="edsr-baseline", hidden=16, n_hidden=2, encoder_args=ENC)
    save_checkpoint(path, models.make(spec).eval(), spec, meta={"stage": "liif"})
    return path


def _configs(tmp_path, make_config, train_images):
    data = {"dirs": [str(train_images)]}
    s1 = _stage1(tmp_path, make_config, train_images)
    return {
        "liif-points": make_config("liif", datasets={"train": data}, period_opt={"weight": 0.3}),
        "liif-patches": make_config("liif", datasets={"train": dict(data, sample="patches")},
                                    train={"ema_decay": 0.9}, period_opt={"weight": 0.3, "bins": 3},
                                    perceptual_opt={"type": "fft+gradient", "weight": 0.5},
                                    ldl_opt={"weight": 2.0, "kernel": 5}, pixel_opt={"weight": 0.7}),
        "cisrgan-vgg": make_config("cisrgan", datasets={"train": data}, train={"init_g": str(s1)}),
        "cisrgan-unet": make_config("cisrgan", datasets={"train": data}, network_d={"type": "unet-sn"},
                                    train={"init_g": str(s1), "ema_decay": 0.9}, period_opt={"weight": 0.3},
                                    ldl_opt={"weight": 1.5}, gan_opt={"weight": 0.2},
                                    perceptual_opt={"type": "gradient", "weight": 0.4}),
        "distill": make_config("distill", datasets={"train": data},
                               network_g={"type": "lmf", "hidden": 8, "n_hidden": 2, "image_skip": False,
                                          "args": {"latent_hidden": [16]}},
                               distill={"crops": 6, "query_points": 32, "cache_batch": 3, "teacher_weight": 0.6},
                               pixel_opt={"weight": 0.1},
                               train={"init_g": str(_teacher(tmp_path / "teacher.pth")), "ema_decay": 0.9}),
    }


def _perceptual(kind, p, g):
    return {"fft": fft_amplitude_loss, "gradient": gradient_loss}[kind](p, g) if "+" not in kind else \
        fft_amplitude_loss(p, g) + gradient_loss(p, g)


def _reference_generator_loss(cfg, g, ema, d, batch):
    """The stage's generator loss written out from the config (pixel, period, LDL, perceptual, GAN)."""
    pred = TrainForward(g, fast=bool(cfg["train"]["fast_query"]))(batch.lr, batch.coords, batch.cells).float()
    vals = {"l_pix": (pred - batch.gt).abs().mean()}
    loss = cfg["pixel_opt"]["weight"] * vals["l_pix"]
    p = cfg["period_opt"]
    if p["weight"]:
        vals["l_period"] = lr_period_loss(pred, batch.gt, batch.coords, tuple(batch.lr.shape[-2:]), p["bins"],
                                          p["debias"])
        loss = loss + p["weight"] * vals["l_period"]
    images = None
    if batch.patch:
        images = to_image(pred, batch.patch), batch.gt_image()
    if cfg["ldl_opt"]["weight"]:
        with torch.no_grad():
            e = to_image(TrainForward(ema)(batch.lr, batch.coords, batch.cells).float(), batch.patch)
        vals["l_ldl"] = ldl_loss(images[1], images[0], e, cfg["ldl_opt"]["kernel"])
        loss = loss + cfg["ldl_opt"]["weight"] * vals["l_ldl"]
    if cfg["perceptual_opt"]["type"] != "none":
        vals["l_percep"] = _perceptual(cfg["perceptual_opt"]["type"], *images)
        loss = loss + cfg["perceptual_opt"]["weight"] * vals["l_percep"]
    if d is not None:
        real, fake = d(torch.cat([images[1], images[0]], 0)).chunk(2, 0)
        vals["l_g_gan"] = ragan_g_loss(real.detach(), fake)
        loss = loss + cfg["gan_opt"]["weight"] * vals["l_g_gan"]
    return loss, vals, images


def _reference_distill_loss(cfg, g, batch):
    pred, q_pred = (x.float() for x in twin_outputs(g, batch))
    vals = {"l_teacher": 0.5 * ((pred - batch.target).abs().mean() + (q_pred - batch.q_target).abs().mean()),
            "l_pix": (pred - batch.gt).abs().mean()}
    return cfg["distill"]["teacher_weight"] * vals["l_teacher"] + cfg["pixel_opt"]["weight"] * vals["l_pix"], vals


def _adam_step(net, loss, cfg, lr_key):
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg["train"][lr_key],
                           betas=tuple(cfg["train"]["betas"]))
    opt.zero_grad()
    loss.backward()
    opt.step()


def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_one_step_of_each_stage_equals_the_written_out_loss_sum_and_adam_update(tmp_path, make_config, train_images):
    for name, cfg in _configs(tmp_path, make_config, train_images).items():
        t = Trainer(cfg, tmp_path / name, log=lambda s: None)
        m = t.model
        g, ema = copy.deepcopy(m.net_g), (copy.deepcopy(m.ema.net) if m.ema is not None else None)
        d = copy.deepcopy(m.net_d) if isinstance(m, GANModel) else None
        batch = t.next_batch(1)
        t.set_lr(1, 0.0)
        got = t.step(1, batch)

        if isinstance(m, DistillModel):
            loss, vals = _reference_distill_loss(cfg, g, batch)
        else:
            loss, vals, images = _reference_generator_loss(cfg, g, ema, d, batch)
        _adam_step(g, loss, cfg, "lr_g")
        want = {k: v.item() for k, v in vals.items()} | {"loss_g": loss.item()}
        if d is not None:
            for p in d.parameters():
                p.requires_grad_(True)
            real, fake = d(torch.cat([images[1], images[0].detach()], 0)).chunk(2, 0)
            l_d = ragan_d_loss(real, fake)
            want.update(l_d=l_d.item(), d_real=real.mean().item(), d_fake=fake.mean().item())
            _adam_step(d, l_d, cfg, "lr_d")
            assert _same_weights(d, m.net_d), name
        assert got == want, (name, got, want)
        assert _same_weights(g, m.net_g), name
        if ema is not None:   # decay * ema + (1 - decay) * new; frozen parameters (a twin's encoder) copied
            decay, new = cfg["train"]["ema_decay"], g.state_dict()
            frozen = {k for k, p in g.named_parameters() if not p.requires_grad}
            for k, v in ema.state_dict().items():
                if v.is_floating_point() and k not in frozen:
                    v.mul_(decay).add_(new[k], alpha=1 - decay)
                else:
                    v.copy_(new[k])
            assert _same_weights(ema, m.ema.net), name


# -- the checkpoint layout -------------------------------------------------------------------------

#: ``train`` entries of a checkpoint per stage, as the trainer wrote them before the split
TRAIN_KEYS = {
    ("liif", False): {"iteration", "wall_time_s", "optimizer_g", "schedule"},
    ("liif", True): {"iteration", "wall_time_s", "optimizer_g", "schedule", "model_g_raw"},
    ("cisrgan", False): {"iteration", "wall_time_s", "optimizer_g", "schedule", "model_d", "optimizer_d"},
    ("cisrgan", True): {"iteration", "wall_time_s", "optimizer_g", "schedule", "model_d", "optimizer_d",
                        "model_g_raw"},
}


@pytest.mark.slow
@pytest.mark.parametrize("stage,ema", sorted(TRAIN_KEYS))
def test_checkpoints_keep_the_layout_of_runs_started_before_the_split(stage, ema, tmp_path, make_config,
                                                                      train_images):
    train = {"max_iters": 2, "snapshot_every": 2, "ema_decay": 0.9 if ema else 0.0}
    if stage == "cisrgan":
        train["init_g"] = str(_stage1(tmp_path, make_config, train_images))
    cfg = make_config(stage, datasets={"train": {"dirs": [str(train_images)]}}, train=train)
    Trainer(cfg, tmp_path / "run", log=lambda s: None).run()
    for name in ("last.pth", "iter_0000002.pth"):
        obj = read_checkpoint(tmp_path / "run" / name)
        assert set(obj) == {"model", "meta", "train"}
        assert set(obj["train"]) == TRAIN_KEYS[(stage, ema)]
        assert set(obj["train"]["schedule"]) == {"origin_iteration", "minutes"}
        assert set(obj["train"]["optimizer_g"]) == {"state", "param_groups"}
        if stage == "cisrgan":
            assert set(obj["train"]["model_d"]) == {"name", "args", "sd"}
            assert obj["train"]["model_d"]["name"] == "vgg-discriminator"
        assert obj["meta"]["weights"] == ("EMA of the generator, decay 0.9" if ema else "generator")
        assert obj["meta"]["config"] == cfg


def _perturbed(net, seed):
    g = torch.Generator().manual_seed(seed)
    sd = net.state_dict()
    return {k: v + 0.01 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone()
            for k, v in sd.items()}


@pytest.mark.slow
def test_a_gan_checkpoint_written_in_the_old_layout_resumes_every_part(tmp_path, make_config, train_images):
    """A checkpoint assembled here by hand in the pre-split layout (not by the trainer's own save):
    the shipped model is the EMA, the raw generator, discriminator and both Adams are in ``train``."""
    s1 = _stage1(tmp_path, make_config, train_images)
    cfg = make_config("cisrgan", datasets={"train": {"dirs": [str(train_images)]}},
                      train={"init_g": str(s1), "ema_decay": 0.9, "max_iters": 5}, network_d={"type": "unet-sn"})
    donor = Trainer(cfg, tmp_path / "donor", log=lambda s: None)
    donor.run()                              # Adam states with moments in them
    m = donor.model
    ema_sd, raw_sd, d_sd = _perturbed(m.net_g, 1), _perturbed(m.net_g, 2), _perturbed(m.net_d, 3)
    shipped = copy.deepcopy(m.net_g)
    shipped.load_state_dict(ema_sd)
    opt_g, opt_d = copy.deepcopy(m.opt_g.state_dict()), copy.deepcopy(m.opt_d.state_dict())
    out = tmp_path / "old"
    out.mkdir()
    save_checkpoint(out / "last.pth", shipped, m.spec_g, meta={"sessions": [], "initialised_from": str(s1)},
                    train={"iteration": 4, "wall_time_s": 12.0, "optimizer_g": opt_g,
                           "schedule": {"origin_iteration": 0, "minutes": 0.2}, "model_g_raw": raw_sd,
                           "model_d": {"name": m.spec_d["name"], "args": m.spec_d["args"], "sd": d_sd},
                           "optimizer_d": opt_d})
    t = Trainer(cfg, out, resume=True, log=lambda s: None)
    r = t.model
    assert t.iteration == 4 and t.schedule_minutes == 0.2 and t.init_from == str(s1)
    assert all(torch.equal(v, r.net_g.state_dict()[k]) for k, v in raw_sd.items())
    assert all(torch.equal(v, r.ema.net.state_dict()[k]) for k, v in ema_sd.items())
    assert all(torch.equal(v, r.net_d.state_dict()[k]) for k, v in d_sd.items())
    for a, b in ((opt_g, r.opt_g.state_dict()), (opt_d, r.opt_d.state_dict())):
        assert a["param_groups"] == b["param_groups"] and a["state"].keys() == b["state"].keys()
        assert all(torch.equal(a["state"][i][k], b["state"][i][k]) for i in a["state"] for k in a["state"][i])
    assert t.run().iteration == 5
