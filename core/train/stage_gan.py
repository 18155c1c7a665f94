"""The GAN model (``stage = "cisrgan"``, BasicSR's ``SRGANModel``), built on the stage-1 model
(:class:`.stage_sr.SRModel`).

It adds the discriminator of ``network_d`` (ESRGAN's VGG-style one or Real-ESRGAN's spectral-norm
U-Net, seeded right after the generator), the ``gan_opt`` term (relativistic average GAN,
:class:`.loss_terms.RaGANGenerator`) after stage 1's terms, and its own Adam (``train.lr_d``).
A step is one generator update on ``pixel * L1 (+ period, LDL, perceptual) + gan * RaGAN_G``,
then one discriminator update on ``RaGAN_D`` of the real patches and the (detached) output;
with ``gan_opt.weight = 0`` neither the term nor the discriminator step runs. The run must start
from a stage-1 checkpoint (``train.init_g``); a checkpoint keeps the discriminator and its
optimizer (``train.model_d``, ``train.optimizer_d``).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

from .. import models
from .config import TrainConfigError
from .loss_terms import build_term
from .losses import ragan_d_loss
from .stage_sr import SRModel, TrainError, _cpu_state


def discriminator_spec(cfg: Dict[str, Any]) -> Dict[str, Any]:
    d = cfg["network_d"]
    if d["type"] == "unet-sn":
        return {"name": "unet-discriminator-sn", "args": {"num_in_ch": 3, "num_feat": int(d["num_feat"])}}
    return {"name": "vgg-discriminator", "args": {"num_in_ch": 3, "num_feat": int(d["num_feat"]),
                                                  "input_size": int(d["input_size"]),
                                                  "num_down": int(d["num_down"])}}


class GANModel(SRModel):
    """Stage 2: stage 1's generator and terms, a discriminator and the GAN term."""

    def __init__(self, cfg: Dict[str, Any], device: torch.device, dist, **kwargs):
        super().__init__(cfg, device, dist, **kwargs)
        tcfg = cfg["train"]
        self.spec_d = discriminator_spec(cfg)
        self.net_d = models.make(self.spec_d).to(device)
        self.opt_d = torch.optim.Adam(self.net_d.parameters(), lr=float(tcfg["lr_d"]), betas=tuple(tcfg["betas"]))
        self.resources.discriminator, self.resources.discriminator_name = self.net_d, self.spec_d["name"]
        self.gan = build_term("gan_opt", cfg.get("gan_opt"), self.resources)
        if self.gan is not None:
            self.terms.append(self.gan)
        self.ddp_d: Optional[nn.Module] = None

    def optimizers(self) -> List[Tuple[torch.optim.Optimizer, float]]:
        return super().optimizers() + [(self.opt_d, float(self.cfg["train"]["lr_d"]))]

    def initialise(self, init_g: str) -> Tuple[Optional[str], int]:
        if not init_g:
            raise TrainConfigError("stage 'cisrgan' starts from a stage-1 LIIF: set train.init_g to its checkpoint")
        return super().initialise(init_g)

    def load_training_state(self, train: Dict[str, Any], shipped: Dict[str, torch.Tensor], path: os.PathLike) -> None:
        super().load_training_state(train, shipped, path)
        if "model_d" not in train:
            raise TrainError(f"cannot resume stage 2 from '{path}': it has no discriminator")
        self.net_d.load_state_dict(train["model_d"]["sd"])
        self.opt_d.load_state_dict(train["optimizer_d"])

    def prepare(self) -> None:
        super().prepare()
        self.ddp_d = self.wrap(self.net_d)

    def step(self, batch) -> Dict[str, float]:
        out, values = self.generator_step(batch)
        if self.gan is not None:
            values.update(self.discriminator_step(out.gt_image, out.pred_image.detach()))
        return values

    def discriminator_step(self, real_img: torch.Tensor, fake_img: torch.Tensor) -> Dict[str, float]:
        """One discriminator update on real and (detached) generated images."""
        for p in self.net_d.parameters():
            p.requires_grad_(True)
        self.ddp_d.train()
        real, fake = self.ddp_d(torch.cat([real_img, fake_img], 0)).chunk(2, 0)
        l_d = ragan_d_loss(real, fake)
        self.opt_d.zero_grad(set_to_none=True)
        l_d.backward()
        self.opt_d.step()
        return {"l_d": l_d.item(), "d_real": real.mean().item(), "d_fake": fake.mean().item()}

    def checkpoint_parts(self) -> Tuple[nn.Module, Dict[str, Any]]:
        shipped, train = super().checkpoint_parts()
        train["model_d"] = {"name": self.spec_d["name"], "args": self.spec_d["args"], "sd": _cpu_state(self.net_d)}
        train["optimizer_d"] = self.opt_d.state_dict()
        return shipped, train

    def extra_loss_cards(self) -> Dict[str, Dict[str, Any]]:
        # listed at weight 0 too: the discriminator is part of the run (and of its checkpoints)
        return {"gan": {"type": "ragan", "weight": float(self.cfg["gan_opt"]["weight"]),
                        "discriminator": self.spec_d["name"]}}

    def optimizer_card(self) -> Dict[str, Any]:
        return dict(super().optimizer_card(), lr_d=self.cfg["train"]["lr_d"])
