"""The generator's loss terms, each built from its config table by one builder (as BasicSR builds
``cri_*`` from its ``*_opt`` tables).

:data:`TERM_TYPES` maps a table's ``type`` to the class of its term; :func:`build_term` makes the
term of one table, or ``None`` when the term is off: the table is absent (``None``), its weight is
0, or (perceptual) its type is ``"none"``. The tables and their types:

* ``pixel_opt`` ``l1``: L1 between the output and the target colours (logged as ``l_pix``). The
  one term that is evaluated at weight 0 too: its value is the run's L1 curve in the log, and
  ``0 * l_pix`` changes neither the loss nor the gradient;
* ``period_opt`` ``lr-period``: the error's LR-periodic energy (:func:`.losses.lr_period_loss`,
  ``l_period``);
* ``ldl_opt`` (no ``type`` key; ``ldl``): LDL's artifact term against the EMA generator's output
  (:func:`.losses.ldl_loss`, ``l_ldl``);
* ``perceptual_opt`` ``vgg16`` / ``vgg19`` / ``fft`` / ``gradient`` / ``fft+gradient``
  (:func:`.losses.make_perceptual_term`, ``l_percep``);
* ``gan_opt`` ``ragan``: the relativistic average GAN's generator loss against the
  discriminator (:func:`.losses.ragan_g_loss`, ``l_g_gan``).

A term is called with a :class:`StepOutputs` (the generator's output on one batch, and the images
and EMA output made from it on demand) and returns its unweighted value; :func:`weighted_sum`
adds the terms in the order given, records each value under the term's ``key``, and gives the
total. :meth:`LossTerm.card` is the term's line in the model card's ``losses``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Dict, Iterable, Optional

import torch
from torch import nn

from .data import Batch, to_image
from .losses import PerceptualTerm, l1_loss, ldl_loss, lr_period_loss, make_perceptual_term, ragan_g_loss


@dataclass
class TermResources:
    """What some terms need beyond their table: the VGG weights file and a progress line
    (perceptual), the device, and the discriminator (GAN)."""

    device: torch.device
    vgg_weights: Optional[str] = None
    say: Optional[Callable[[str], None]] = None
    discriminator: Optional[nn.Module] = None
    discriminator_name: Optional[str] = None


class StepOutputs:
    """The generator's output ``pred`` ``(B, Q, 3)`` on ``batch``; in patches mode the output and
    target images ``(B, 3, P, P)``, and the EMA generator's image (``ema_forward``, a no-grad call
    that gives ``(B, Q, 3)``), each made once, when a term first asks for it."""

    def __init__(self, pred: torch.Tensor, batch: Batch,
                 ema_forward: Optional[Callable[[], torch.Tensor]] = None):
        self.pred, self.batch = pred, batch
        self._ema_forward = ema_forward

    @property
    def target(self) -> torch.Tensor:
        return self.batch.gt

    @cached_property
    def pred_image(self) -> torch.Tensor:
        return to_image(self.pred, self.batch.patch)

    @cached_property
    def gt_image(self) -> torch.Tensor:
        return self.batch.gt_image()

    @cached_property
    def ema_image(self) -> torch.Tensor:
        if self._ema_forward is None:
            raise ValueError("the LDL term needs the EMA generator (train.ema_decay > 0)")
        return to_image(self._ema_forward(), self.batch.patch)


class LossTerm:
    """One weighted term: ``key`` names it in the log, ``name`` in the model card."""

    key = ""
    name = ""
    type = ""
    always_evaluated = False   # evaluated (and logged) at weight 0 too

    def __init__(self, table: Dict[str, Any], resources: TermResources):
        self.weight = float(table["weight"])
        self.table = dict(table)

    @classmethod
    def build(cls, table: Dict[str, Any], resources: TermResources) -> Optional["LossTerm"]:
        return cls(table, resources)

    def __call__(self, out: StepOutputs) -> torch.Tensor:
        raise NotImplementedError

    def card(self) -> Dict[str, Any]:
        return {"type": self.type, "weight": self.weight}


class PixelL1(LossTerm):
    key, name, type = "l_pix", "pixel", "l1"
    always_evaluated = True

    def __call__(self, out: StepOutputs) -> torch.Tensor:
        return l1_loss(out.pred, out.target)


class LRPeriod(LossTerm):
    key, name, type = "l_period", "lr_period", "lr-period"

    def __init__(self, table: Dict[str, Any], resources: TermResources):
        super().__init__(table, resources)
        self.bins, self.debias = int(table["bins"]), bool(table["debias"])

    def __call__(self, out: StepOutputs) -> torch.Tensor:
        b = out.batch
        return lr_period_loss(out.pred, b.gt, b.coords, tuple(b.lr.shape[-2:]), self.bins, self.debias)

    def card(self) -> Dict[str, Any]:
        return dict(super().card(), bins=self.bins, debias=self.debias)


class LDL(LossTerm):
    key, name, type = "l_ldl", "ldl", "ldl"

    def __init__(self, table: Dict[str, Any], resources: TermResources):
        super().__init__(table, resources)
        self.kernel = int(table["kernel"])

    def __call__(self, out: StepOutputs) -> torch.Tensor:
        return ldl_loss(out.gt_image, out.pred_image, out.ema_image, self.kernel)

    def card(self) -> Dict[str, Any]:
        return dict(super().card(), kernel=self.kernel)


class Perceptual(LossTerm):
    key, name = "l_percep", "perceptual"

    def __init__(self, table: Dict[str, Any], resources: TermResources, module: PerceptualTerm):
        super().__init__(table, resources)
        self.module = module.to(resources.device)
        self.type = module.kind

    @classmethod
    def build(cls, table: Dict[str, Any], resources: TermResources) -> Optional["Perceptual"]:
        """The term, or ``None`` for type ``"none"`` or weight 0; a VGG type finds its weights
        first (one clear line when it cannot)."""
        module = make_perceptual_term(table["type"], table["weight"], table.get("layer", ""), resources.vgg_weights,
                                      say=resources.say)
        return None if module.kind == "none" else cls(table, resources, module)

    def __call__(self, out: StepOutputs) -> torch.Tensor:
        return self.module(out.pred_image, out.gt_image)

    def card(self) -> Dict[str, Any]:
        card = super().card()
        if self.module.layer:
            card["layer"] = self.module.layer
        return card


class RaGANGenerator(LossTerm):
    """The generator's side of the relativistic average GAN. The discriminator is frozen for
    this step and called bare (no DDP sync: this step does not update it)."""

    key, name, type = "l_g_gan", "gan", "ragan"

    def __init__(self, table: Dict[str, Any], resources: TermResources):
        super().__init__(table, resources)
        if resources.discriminator is None:
            raise ValueError("gan_opt needs a discriminator (network_d)")
        self.net_d, self.discriminator_name = resources.discriminator, resources.discriminator_name

    def __call__(self, out: StepOutputs) -> torch.Tensor:
        for p in self.net_d.parameters():
            p.requires_grad_(False)
        real, fake = self.net_d(torch.cat([out.gt_image, out.pred_image], 0)).chunk(2, 0)
        return ragan_g_loss(real.detach(), fake)

    def card(self) -> Dict[str, Any]:
        return dict(super().card(), discriminator=self.discriminator_name)


#: a table's ``type`` -> the class of its term
TERM_TYPES: Dict[str, type] = {"l1": PixelL1, "lr-period": LRPeriod, "ldl": LDL, "ragan": RaGANGenerator,
                               **{k: Perceptual for k in ("vgg16", "vgg19", "fft", "gradient", "fft+gradient",
                                                          "none")}}
#: the type of a table that has no ``type`` key
DEFAULT_TYPES = {"ldl_opt": "ldl"}


def build_term(table_name: str, table: Optional[Dict[str, Any]], resources: TermResources) -> Optional[LossTerm]:
    """The term of config table ``table_name`` (e.g. ``"pixel_opt"``), or ``None`` when it is off."""
    if table is None:
        return None
    kind = table.get("type", DEFAULT_TYPES.get(table_name))
    cls = TERM_TYPES.get(kind)
    if cls is None:
        raise ValueError(f"{table_name}.type {kind!r} is not a loss term ({', '.join(TERM_TYPES)})")
    if float(table["weight"]) == 0 and not cls.always_evaluated:
        return None
    return cls.build(table, resources)


def build_terms(cfg: Dict[str, Any], table_names: Iterable[str], resources: TermResources) -> list:
    """The terms that are on, of ``cfg``'s tables ``table_names``, in that order."""
    terms = (build_term(name, cfg.get(name), resources) for name in table_names)
    return [t for t in terms if t is not None]


def weighted_sum(terms: Iterable[LossTerm], out: StepOutputs, values: Dict[str, float]) -> torch.Tensor:
    """``sum weight * term(out)`` in the terms' order; each unweighted value goes to ``values``."""
    total: Optional[torch.Tensor] = None
    for term in terms:
        v = term(out)
        values[term.key] = v.item()
        total = term.weight * v if total is None else total + term.weight * v
    return total
