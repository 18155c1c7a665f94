"""VGG19 convolutional features (Simonyan & Zisserman 2015) for the perceptual loss.

Layer indices follow torchvision's ``vgg19().features`` so its published ImageNet state dict
(``vgg19-dcbbb7d3.pth``, keys ``features.N.weight``/``features.N.bias``) loads directly;
torchvision is not needed. Only the layers up to the requested one are built, and the
network stops *before* that layer's ReLU (ESRGAN's convention: ``conv5_4`` = ``features.34``).
Input: ``(B, 3, H, W)`` already ImageNet-normalised by the caller.
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

from ..errors import CisrError

#: torchvision's configuration "E": channel counts, "M" = 2x2 max-pool
CFG_E = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def layer_names() -> Dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, ..., "conv5_4": 34, "relu5_4": 35, "pool5": 36}``."""
    names, idx, block, conv = {}, 0, 1, 1
    for v in CFG_E:
        if v == "M":
            names[f"pool{block}"] = idx
            idx, block, conv = idx + 1, block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = idx
            names[f"relu{block}_{conv}"] = idx + 1
            idx, conv = idx + 2, conv + 1
    return names


class VGG19Features(nn.Module):
    """``features[0 .. index(layer)]`` of torchvision's VGG19 (no batch norm)."""

    def __init__(self, layer: str = "conv5_4"):
        super().__init__()
        names = layer_names()
        if layer not in names:
            raise ValueError(f"unknown VGG19 layer {layer!r}; known: {', '.join(names)}")
        self.layer = layer
        last = names[layer]
        mods: List[nn.Module] = []
        cin = 3
        for v in CFG_E:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*mods[:last + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def load_torchvision_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> None:
        """Load the ``features.*`` entries this network uses (the classifier is ignored).

        Raises :class:`CisrError` naming the first missing or mis-shaped entry.
        """
        own = self.state_dict()
        picked = {}
        for key, param in own.items():
            t = state_dict.get(key)
            if t is None:
                raise CisrError(f"VGG19 weights lack '{key}': not a torchvision vgg19 state dict")
            if tuple(t.shape) != tuple(param.shape):
                raise CisrError(f"VGG19 weights: '{key}' has shape {tuple(t.shape)}, expected {tuple(param.shape)} "
                                f"(not a torchvision vgg19 state dict)")
            picked[key] = t.float()
        self.load_state_dict(picked, strict=True)
