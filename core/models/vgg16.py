"""VGG16 convolutional features (torchvision's configuration "D"): the LPIPS-vgg backbone and a
perceptual-loss network.

Layer indices follow torchvision's ``vgg16().features`` so its published ImageNet state dict
(``vgg16-397923af.pth``) or the same weights converted by ``cisr weights fetch`` load
directly. ``conv5_3`` (``features.28``) is the last convolution, the VGG16 counterpart of
ESRGAN's VGG19 ``conv5_4``; LPIPS taps the ReLUs after ``conv1_2``, ``conv2_2``, ``conv3_3``,
``conv4_3`` and ``conv5_3``. See :mod:`.vgg`. Input: ``(B, 3, H, W)`` already normalised by
the caller.
"""

from __future__ import annotations

from typing import Dict, List

import torch

from . import vgg

#: torchvision's configuration "D": channel counts, "M" = 2x2 max-pool
CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

VGG16_FILENAME = "vgg16-397923af.pth"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
DEFAULT_LAYER = "conv5_3"

#: LPIPS taps: ``features`` indices of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, and their channels
LPIPS_TAPS = (3, 8, 15, 22, 29)
TAP_CHANNELS = (64, 128, 256, 512, 512)


def layer_names() -> Dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, ..., "conv5_3": 28, "relu5_3": 29, "pool5": 30}``."""
    return vgg.layer_names(CFG_D)


class VGG16Features(vgg.VGGFeatures):
    """``features[0 .. index(layer)]`` of torchvision's VGG16 (no batch norm)."""

    arch = "VGG16"

    def __init__(self, layer: str = DEFAULT_LAYER):
        super().__init__(CFG_D, layer)

    def feature_maps(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The five ReLU activations LPIPS compares (needs ``layer`` at or after ``relu5_3``)."""
        return self.taps(x, LPIPS_TAPS)
