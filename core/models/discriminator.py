"""ESRGAN's VGG-style discriminator (Wang et al. 2018), sized by its input patch.

``num_down`` stages, each a 3x3 stride-1 conv and a 4x4 stride-2 conv, with batch norm and
LeakyReLU(0.2) (the first conv without batch norm), channels ``num_feat * (1, 2, 4, 8, 8, ...)``;
then two linear layers (100 hidden units) give one critic logit per image (no sigmoid).
ESRGAN's 128x128 design has 5 stages down to 4x4; ``input_size=64, num_down=4`` keeps the
4x4 final map for CiSRGAN's 64x64 patches. Input ``(B, 3, S, S)`` in [0, 1] -> ``(B, 1)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register


@register("vgg-discriminator")
class VGGStyleDiscriminator(nn.Module):
    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 64, num_down: int = 4):
        super().__init__()
        if num_down < 1 or input_size % (2 ** num_down):
            raise ValueError(f"input_size {input_size} must be divisible by 2**num_down ({2 ** num_down})")
        self.input_size = input_size
        chans = [num_feat * min(2 ** i, 8) for i in range(num_down)]
        layers: list[nn.Module] = []
        cin = num_in_ch
        for i, c in enumerate(chans):
            layers.append(nn.Conv2d(cin, c, 3, 1, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(c, affine=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            layers += [nn.Conv2d(c, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c, affine=True),
                       nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        self.features = nn.Sequential(*layers)
        final = input_size // 2 ** num_down
        self.classifier = nn.Sequential(nn.Linear(cin * final * final, 100), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Linear(100, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"discriminator expects {self.input_size}x{self.input_size} patches, "
                             f"got {tuple(x.shape[-2:])}")
        return self.classifier(self.features(x).flatten(1))
