"""Plain VGG convolutional stacks (Simonyan & Zisserman 2015) with torchvision's layer indices.

:class:`VGGFeatures` builds ``features[0 .. index(layer)]`` of a torchvision ``vgg*`` model
(no batch norm) from its configuration list, so the published ImageNet state dicts (keys
``features.N.weight`` / ``features.N.bias``) load directly; torchvision is not needed. Layer
names are ``conv{block}_{i}``, ``relu{block}_{i}``, ``pool{block}``; stopping at a ``conv``
layer gives the features *before* its ReLU (ESRGAN's convention). Input: ``(B, 3, H, W)``
already ImageNet-normalised by the caller. The per-network files (:mod:`.vgg16`,
:mod:`.vgg19`) hold the configurations.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Union

import torch
from torch import nn

from ..errors import CisrError
from .taps import sequential_taps

Cfg = Sequence[Union[int, str]]


def layer_names(cfg: Cfg) -> Dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, ..., "pool5": N}`` for a configuration ("M" = 2x2 max-pool)."""
    names, idx, block, conv = {}, 0, 1, 1
    for v in cfg:
        if v == "M":
            names[f"pool{block}"] = idx
            idx, block, conv = idx + 1, block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = idx
            names[f"relu{block}_{conv}"] = idx + 1
            idx, conv = idx + 2, conv + 1
    return names


def conv_indices(cfg: Cfg) -> List[int]:
    """``features`` indices of the convolutions, in order."""
    return [i for n, i in layer_names(cfg).items() if n.startswith("conv")]


class VGGFeatures(nn.Module):
    """``features[0 .. index(layer)]`` of the torchvision VGG with configuration ``cfg``."""

    arch = "VGG"

    def __init__(self, cfg: Cfg, layer: str):
        super().__init__()
        names = layer_names(cfg)
        if layer not in names:
            raise ValueError(f"unknown {self.arch} layer {layer!r}; known: {', '.join(names)}")
        self.layer = layer
        last = names[layer]
        mods: List[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*mods[:last + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def taps(self, x: torch.Tensor, indices: Sequence[int]) -> List[torch.Tensor]:
        """The outputs of ``features[i]`` for each ``i`` in ``indices`` (ascending), in order."""
        return sequential_taps(self.features, x, indices)

    def load_torchvision_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> None:
        """Load the ``features.*`` entries this network uses (the classifier is ignored).

        Raises :class:`CisrError` naming the first missing or mis-shaped entry.
        """
        what = f"a torchvision {self.arch.lower()} state dict"
        picked = {}
        for key, param in self.state_dict().items():
            t = state_dict.get(key)
            if t is None:
                raise CisrError(f"{self.arch} weights lack '{key}': not {what}")
            if tuple(t.shape) != tuple(param.shape):
                raise CisrError(f"{self.arch} weights: '{key}' has shape {tuple(t.shape)}, expected "
                                f"{tuple(param.shape)} (not {what})")
            picked[key] = t.float()
        self.load_state_dict(picked, strict=True)
