"""The distillation model (``stage = "distill"``), built on the stage-1 model
(:class:`.stage_sr.SRModel`): an LM-LIIF twin of the ``train.init_g`` teacher (:mod:`.distill`).

The teacher is loaded right after the twin is built; its encoder is copied into the twin and
frozen, so the Adam optimises the decoder alone. Batches come from the feature cache
(:class:`.distill.FeatureCache`, built once from the run's sampler before the first step), not
from the sampler. The loss is ``distill.teacher_weight * l_teacher + pixel_opt.weight * l_pix``:
``l_teacher`` is the mean of the L1 to the teacher's RGB over the cache's two point groups
(:class:`TeacherL1`), ``l_pix`` the L1 to the HR pixels of the ``hr`` group (the ``pixel_opt``
term). The model card takes the teacher's family as its ``stage`` and names the teacher.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

import torch

from .config import TrainConfigError
from .distill import FeatureCache, adopt_encoder, load_teacher, teacher_card, twin_outputs
from .loss_terms import LossTerm, StepOutputs, weighted_sum
from .losses import l1_loss
from .stage_sr import SRModel


class TeacherL1(LossTerm):
    """Half the L1 to the teacher's RGB on the ``hr`` group plus half on the ``query`` group."""

    key, name, type = "l_teacher", "teacher", "l1"

    def __call__(self, out: StepOutputs) -> torch.Tensor:
        return 0.5 * (l1_loss(out.pred, out.batch.target) + l1_loss(out.q_pred, out.batch.q_target))

    def card(self) -> Dict[str, Any]:
        return dict(super().card(), what="the teacher's RGB on the cached crops (HR points and random points)")


class DistillOutputs(StepOutputs):
    """The twin's RGB on both groups of a :class:`.distill.DistillBatch`."""

    def __init__(self, pred: torch.Tensor, q_pred: torch.Tensor, batch):
        super().__init__(pred, batch)
        self.q_pred = q_pred


class DistillModel(SRModel):
    """The twin, its teacher, and the cache of the teacher's features and outputs."""

    term_tables = ("pixel_opt",)

    def __init__(self, cfg: Dict[str, Any], device: torch.device, dist, **kwargs):
        if not cfg["train"]["init_g"]:
            raise TrainConfigError("stage 'distill' needs the teacher: set train.init_g (or --init) to a "
                                   "LIIF-family checkpoint or bundled model name")
        self.teacher = None
        super().__init__(cfg, device, dist, **kwargs)
        d = cfg["distill"]
        # the teacher term first: the loss is teacher_weight * l_teacher + pixel * l_pix
        self.terms.insert(0, TeacherL1({"weight": d["teacher_weight"]}, self.resources))
        self.cache: Optional[FeatureCache] = None
        self.cache_seconds = 0.0

    def setup_generator(self) -> None:
        self.teacher = load_teacher(self.cfg["train"]["init_g"], self.spec_g, self.device)
        adopt_encoder(self.net_g, self.teacher.model)

    def initialise(self, init_g: str) -> Tuple[Optional[str], int]:
        return str(init_g), 0   # the encoder's weights (the decoder starts from the seed)

    def batch_source(self, sampler) -> FeatureCache:
        """The feature cache, drawn with ``sampler`` (one per rank: its own seed)."""
        d = self.cfg["distill"]
        t = time.monotonic()
        self.cache = FeatureCache.build(sampler, self.teacher.model, int(d["crops"]), int(d["query_points"]),
                                        float(d["query_scale_max"]), int(self.cfg["seed"]) + self.dist.rank,
                                        self.device, int(d["cache_batch"]), say=self.log if self.dist.is_main else None)
        self.cache_seconds = time.monotonic() - t
        return self.cache

    def step(self, batch) -> Dict[str, float]:
        """One twin update on cached features (the twin is called bare: no DDP wrapper)."""
        self.net_g.train()
        with self.autocast():
            pred, q_pred = twin_outputs(self.net_g, batch)
        values: Dict[str, float] = {}
        loss = weighted_sum(self.terms, DistillOutputs(pred.float(), q_pred.float(), batch), values)
        self.update_generator(loss)
        values["loss_g"] = loss.item()
        return values

    def card_extras(self, card: Dict[str, Any]) -> Dict[str, Any]:
        """A twin is named after its teacher's family; the teacher and the cache are on its card."""
        return {"stage": self.teacher.descriptor.family, "training_stage": "distill",
                "twin_of": self.teacher.name, "teacher": teacher_card(self.teacher),
                **({"inputs": self.teacher.meta["inputs"]} if "inputs" in self.teacher.meta else {}),
                "distillation": dict(self.cache.describe(), seconds_to_build=round(self.cache_seconds, 1),
                                     encoder="the teacher's, copied and frozen")}

