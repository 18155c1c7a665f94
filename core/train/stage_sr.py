"""The stage-1 model (``stage = "liif"``): the generator, its loss terms, optimizer and EMA, one
training step, and what a checkpoint keeps of them (BasicSR's ``SRModel``). The GAN stage
(:mod:`.stage_gan`) and the distillation stage (:mod:`.stage_distill`) are built on it; the
trainer (:mod:`.trainer`) picks the class by the config's ``stage`` (:mod:`.stages`) and keeps
only the loop around it.

Life of a model: ``__init__`` builds the loss terms (a VGG perceptual term checks its weights
before anything slow happens), seeds torch with ``seed`` and builds the generator and its Adam;
then either :meth:`SRModel.load_training_state` (a resumed run: the checkpoint's ``train``
entry) or :meth:`SRModel.initialise` (a new run: ``train.init_g``) sets the weights; then
:meth:`SRModel.prepare` makes the training forward, the EMA copy (``train.ema_decay``) and the
DDP wrappers. :meth:`SRModel.step` is one update on one batch; :meth:`SRModel.checkpoint_parts`
gives the network a checkpoint ships (the EMA when there is one) and its training state.

Stage 1's loss is ``pixel_opt.weight * L1`` plus the optional ``period_opt``, ``ldl_opt`` and
``perceptual_opt`` terms, each built by :func:`.loss_terms.build_term` from its table.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from .. import models
from ..checkpoint import read_checkpoint
from ..devices import cpu_has_native_bf16
from ..errors import CisrError
from ..model_check import check_entry
from .ema import EMA
from .forward import TrainForward
from .loss_terms import StepOutputs, TermResources, build_terms, weighted_sum

#: the order of the model card's ``losses``
CARD_ORDER = ("pixel", "perceptual", "gan", "lr_period", "ldl", "teacher")


class TrainError(CisrError):
    """Training cannot start or continue (missing checkpoint to resume, mismatched init...)."""


def generator_spec(cfg: Dict[str, Any]) -> Dict[str, Any]:
    g = cfg["network_g"]
    return models.generator_spec(g["type"], encoder=g["encoder"], hidden=int(g["hidden"]),
                                 n_hidden=int(g["n_hidden"]), image_skip=bool(g["image_skip"]),
                                 encoder_args=dict(g["encoder_args"]), **dict(g["args"]))


def same_generator(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    """Whether two generator specs build the same network (``image_skip: false`` is the default:
    older checkpoints wrote it, the official ones and today's specs leave it out)."""
    def key(spec):
        args = {k: v for k, v in (spec.get("args") or {}).items() if not (k == "image_skip" and v is False)}
        return spec["name"], args
    return key(a) == key(b)


def resolve_bf16(setting: Any, device: torch.device) -> bool:
    """``train.bf16`` -> on/off: ``"auto"`` is on for CUDA with bf16 support and for CPUs with
    native bf16 (AVX512-BF16/AMX), off elsewhere (MPS, and CPUs that emulate it slower)."""
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def _cpu_state(net: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}


class SRModel:
    """Stage 1: the generator trained on pixel (and optional period, LDL, perceptual) terms."""

    #: the config tables of this stage's loss terms, in the order they are added up
    term_tables: Tuple[str, ...] = ("pixel_opt", "period_opt", "ldl_opt", "perceptual_opt")

    def __init__(self, cfg: Dict[str, Any], device: torch.device, dist, *, vgg_weights: Optional[str] = None,
                 log: Callable[[str], None] = print):
        self.cfg, self.device, self.dist, self.log = cfg, device, dist, log
        tcfg = cfg["train"]
        self.resources = TermResources(device, vgg_weights, log)
        self.terms = build_terms(cfg, self.term_tables, self.resources)
        torch.manual_seed(int(cfg["seed"]))
        self.spec_g = generator_spec(cfg)
        self.net_g = models.make(self.spec_g).to(device)
        self.setup_generator()
        self.opt_g = torch.optim.Adam([p for p in self.net_g.parameters() if p.requires_grad],
                                      lr=float(tcfg["lr_g"]), betas=tuple(tcfg["betas"]))
        self.bf16 = resolve_bf16(tcfg["bf16"], device)
        self.ema: Optional[EMA] = None    # the EMA generator: validated, snapshotted and shipped
        self.forward_g: Optional[TrainForward] = None
        self.forward_ema: Optional[TrainForward] = None
        self.ddp_g: Optional[nn.Module] = None
        self._ema_state: Optional[Dict[str, torch.Tensor]] = None  # EMA weights read on resume

    # -- set-up ----------------------------------------------------------------------------
    def setup_generator(self) -> None:
        """After the generator is built, before its optimizer (the distillation freezes its encoder)."""

    def optimizers(self) -> List[Tuple[torch.optim.Optimizer, float]]:
        """Each optimizer with its base learning rate (the schedule scales them)."""
        return [(self.opt_g, float(self.cfg["train"]["lr_g"]))]

    def initialise(self, init_g: str) -> Tuple[Optional[str], int]:
        """A new run: the generator's starting weights from ``train.init_g`` (a stage-1 or any
        same-generator checkpoint; empty: the seed's). Returns (where from, iterations it had seen)."""
        if not init_g:
            return None, 0
        obj = read_checkpoint(init_g)
        entry = obj["model"]
        got = {"name": entry["name"], "args": entry.get("args") or {}}
        if not same_generator(got, self.spec_g):
            raise TrainError(f"train.init_g '{init_g}' holds a different generator ({json.dumps(got)[:200]}) than "
                             f"network_g describes")
        sd = check_entry(entry, f"train.init_g '{init_g}'")
        self.net_g.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
        meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
        total = meta.get("total_iterations", meta.get("iterations", 0))
        return str(init_g), int(total) if isinstance(total, (int, float)) and total >= 0 else 0

    def load_training_state(self, train: Dict[str, Any], shipped: Dict[str, torch.Tensor], path: os.PathLike) -> None:
        """A resumed run: ``shipped`` is the checkpoint's model (the EMA when the run had one, its
        raw weights then in ``train["model_g_raw"]``); ``train`` its training state."""
        if "model_g_raw" in train:
            self.net_g.load_state_dict(train["model_g_raw"])
            self._ema_state = shipped
        else:
            self.net_g.load_state_dict(shipped)
        self.opt_g.load_state_dict(train["optimizer_g"])

    def prepare(self) -> None:
        """After the weights are set: the training forward, the EMA copy and the DDP wrappers."""
        tcfg = self.cfg["train"]
        if tcfg["channels_last"]:
            self.net_g.to(memory_format=torch.channels_last)
        fast, cl = bool(tcfg["fast_query"]), bool(tcfg["channels_last"])
        self.forward_g = TrainForward(self.net_g, fast=fast, channels_last=cl)
        if float(tcfg["ema_decay"]):
            self.ema = EMA(self.net_g, float(tcfg["ema_decay"]))
            if self._ema_state is not None:
                self.ema.net.load_state_dict(self._ema_state)
            self.forward_ema = TrainForward(self.ema.net, fast=fast, channels_last=cl)
        self._ema_state = None
        self.ddp_g = self.wrap(self.forward_g)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` under DistributedDataParallel when this is a multi-process run."""
        if not self.dist.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP
        return DDP(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def batch_source(self, sampler):
        """Where each iteration's batch is drawn from (``.batch(rng, size)``): the sampler itself."""
        return sampler

    # -- one iteration -----------------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _ema_output(self, batch) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.no_grad(), self.autocast():
                return self.forward_ema(batch.lr, batch.coords, batch.cells).float()
        return run

    def generator_step(self, batch) -> Tuple[StepOutputs, Dict[str, float]]:
        """One generator update on the weighted sum of the terms; the outputs (for a
        discriminator step) and the loss values."""
        self.ddp_g.train()
        with self.autocast():
            pred = self.ddp_g(batch.lr, batch.coords, batch.cells)
        out = StepOutputs(pred.float(), batch, self._ema_output(batch) if self.forward_ema is not None else None)
        values: Dict[str, float] = {}
        loss = weighted_sum(self.terms, out, values)
        self.update_generator(loss)
        values["loss_g"] = loss.item()
        return out, values

    def update_generator(self, loss: torch.Tensor) -> None:
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update(self.net_g)

    def step(self, batch) -> Dict[str, float]:
        """One update on ``batch`` (on the device); the loss values."""
        return self.generator_step(batch)[1]

    # -- what is kept ----------------------------------------------------------------------
    @property
    def shipped_net(self) -> nn.Module:
        """The network that is validated and saved as the checkpoint's model: the EMA when there is one."""
        return self.ema.net if self.ema is not None else self.net_g

    def checkpoint_parts(self) -> Tuple[nn.Module, Dict[str, Any]]:
        """The checkpoint's model and this model's part of its training state."""
        train: Dict[str, Any] = {"optimizer_g": self.opt_g.state_dict()}
        if self.ema is not None:  # the EMA is the checkpoint's model; the raw weights resume training
            train["model_g_raw"] = _cpu_state(self.net_g)
        return self.shipped_net, train

    def extra_loss_cards(self) -> Dict[str, Dict[str, Any]]:
        return {}

    def losses_card(self) -> Dict[str, Dict[str, Any]]:
        """The model card's ``losses``: each term that is on (the pixel term always)."""
        cards = {t.name: t.card() for t in self.terms}
        cards.update(self.extra_loss_cards())
        return {k: cards[k] for k in sorted(cards, key=CARD_ORDER.index)}

    @property
    def perceptual_description(self) -> str:
        return next((t.module.description for t in self.terms if t.name == "perceptual"), "none")

    def optimizer_card(self) -> Dict[str, Any]:
        t = self.cfg["train"]
        return {"type": "adam", "lr_g": t["lr_g"], "lr_d": None, "betas": t["betas"]}

    def card_extras(self, card: Dict[str, Any]) -> Dict[str, Any]:
        """Entries of the model card this stage adds or replaces (``card``: the trainer's)."""
        return {}
