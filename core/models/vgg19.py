"""VGG19 convolutional features (torchvision's configuration "E") for the perceptual loss.

Layer indices follow torchvision's ``vgg19().features`` so its published ImageNet state dict
(``vgg19-dcbbb7d3.pth``) loads directly; the network stops *before* the requested layer's
ReLU when it is a ``conv`` (ESRGAN's convention: ``conv5_4`` = ``features.34``). See
:mod:`.vgg` for the shared construction. Input: ``(B, 3, H, W)`` already ImageNet-normalised.
"""

from __future__ import annotations

from typing import Dict

from . import vgg

#: torchvision's configuration "E": channel counts, "M" = 2x2 max-pool
CFG_E = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]

#: the published ImageNet weights: file name (as in torch's hub cache) and URL
VGG19_FILENAME = "vgg19-dcbbb7d3.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbbb7d3.pth"
DEFAULT_LAYER = "conv5_4"


def layer_names() -> Dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, ..., "conv5_4": 34, "relu5_4": 35, "pool5": 36}``."""
    return vgg.layer_names(CFG_E)


class VGG19Features(vgg.VGGFeatures):
    """``features[0 .. index(layer)]`` of torchvision's VGG19 (no batch norm)."""

    arch = "VGG19"

    def __init__(self, layer: str = DEFAULT_LAYER):
        super().__init__(CFG_E, layer)
