"""The registry of training stages: a config's ``stage`` -> the class of its model.

``liif``: :class:`.stage_sr.SRModel` (stage 1); ``cisrgan``: :class:`.stage_gan.GANModel` (the
GAN stage, built on stage 1); ``distill``: :class:`.stage_distill.DistillModel` (an LM-LIIF twin
of a teacher). The trainer (:mod:`.trainer`) asks :func:`model_class` and runs the loop around
whatever it gets.
"""

from __future__ import annotations

from typing import Dict

from .config import TrainConfigError
from .stage_distill import DistillModel
from .stage_gan import GANModel
from .stage_sr import SRModel

STAGE_MODELS: Dict[str, type] = {"liif": SRModel, "cisrgan": GANModel, "distill": DistillModel}


def model_class(stage: str) -> type:
    """The model class of ``stage``; one clear line for an unknown stage."""
    try:
        return STAGE_MODELS[stage]
    except KeyError:
        raise TrainConfigError(f"stage must be one of {', '.join(STAGE_MODELS)}, got {stage!r}") from None
