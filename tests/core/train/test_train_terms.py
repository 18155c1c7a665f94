"""Every stage-2 loss term is switched by its config weight and moves the generator alone."""

import pytest
import torch

from cisr_zoom.core.train.trainer import Trainer

TERMS = {
    "l_pix": {"pixel_opt": {"weight": 1.0}},
    "l_percep": {"perceptual_opt": {"type": "gradient", "weight": 1.0}},
    "l_g_gan": {"gan_opt": {"weight": 1.0}},
    "l_period": {"period_opt": {"weight": 100.0}},
    "l_ldl": {"ldl_opt": {"weight": 100.0}, "train": {"ema_decay": 0.5}},
}
OFF = {"pixel_opt": {"weight": 0.0}, "perceptual_opt": {"type": "none"}, "gan_opt": {"weight": 0.0},
       "period_opt": {"weight": 0.0}, "ldl_opt": {"weight": 0.0}}


@pytest.fixture(scope="module")
def stage1(train_images, tmp_path_factory, make_config):
    out = tmp_path_factory.mktemp("s1")
    cfg = make_config("liif", datasets={"train": {"dirs": [str(train_images)]}}, train={"max_iters": 1})
    Trainer(cfg, out, log=lambda s: None).run()
    return out / "last.pth"


@pytest.mark.parametrize("term", sorted(TERMS))
@pytest.mark.parametrize("discriminator", ["vgg", "unet-sn"])
def test_each_term_alone_moves_the_generator(term, discriminator, stage1, train_images, tmp_path, make_config):
    sections = {k: dict(v) for k, v in OFF.items()}
    train = {"init_g": str(stage1), "max_iters": 1, "lr_g": 1e-2}
    for k, v in TERMS[term].items():
        if k == "train":
            train.update(v)
        else:
            sections[k] = {**sections[k], **v}
    cfg = make_config("cisrgan", datasets={"train": {"dirs": [str(train_images)]}}, train=train,
                      network_d={"type": discriminator}, **sections)
    t = Trainer(cfg, tmp_path / "run", log=lambda s: None)
    before = {k: v.clone() for k, v in t.model.net_g.state_dict().items()}
    losses = t.step(1)
    terms = {k for k in losses if k in TERMS} - {"l_pix"}   # the L1 value is always logged
    assert terms == {term} - {"l_pix"}, losses
    assert losses[term] > 0
    moved = [k for k, v in t.model.net_g.state_dict().items() if not torch.equal(v, before[k])]
    assert moved, f"{term} alone did not change the generator"
    if discriminator == "unet-sn" and term == "l_g_gan":
        assert t.model.spec_d["name"] == "unet-discriminator-sn" and "l_d" in losses
