"""Discriminators of stage 2: ESRGAN's VGG-style one (Wang et al. 2018), sized by its input
patch, and Real-ESRGAN's spectral-norm U-Net (:class:`UNetDiscriminatorSN`, per-pixel logits).

The VGG-style discriminator:

``num_down`` stages, each a 3x3 stride-1 conv and a 4x4 stride-2 conv, with batch norm and
LeakyReLU(0.2) (the first conv without batch norm), channels ``num_feat * (1, 2, 4, 8, 8, ...)``;
then two linear layers (100 hidden units) give one critic logit per image (no sigmoid).
ESRGAN's 128x128 design has 5 stages down to 4x4; ``input_size=64, num_down=4`` keeps the
4x4 final map for CiSRGAN's 64x64 patches. Input ``(B, 3, S, S)`` in [0, 1] -> ``(B, 1)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


@register("unet-discriminator-sn")
class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral normalisation (Wang et al. 2021).

    Three stride-2 4x4 convs down (``num_feat * (2, 4, 8)`` channels), three bilinear x2
    upsamplings each followed by a 3x3 conv, with skip connections from the encoder, then two
    3x3 convs and a 3x3 conv to one channel: a critic logit **per pixel**, so the adversarial
    signal says where an image looks fake (textures and artifacts are judged locally). Every conv
    but the first and the last is spectrally normalised, which bounds the discriminator's
    Lipschitz constant (stabler than batch norm for GAN-SR). Input ``(B, 3, H, W)`` in [0, 1]
    with H and W multiples of 8 -> ``(B, 1, H, W)``.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        f = num_feat
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(num_in_ch, f, 3, 1, 1)
        self.down = nn.ModuleList([sn(nn.Conv2d(a, b, 4, 2, 1, bias=False))
                                   for a, b in ((f, 2 * f), (2 * f, 4 * f), (4 * f, 8 * f))])
        self.up = nn.ModuleList([sn(nn.Conv2d(a, b, 3, 1, 1, bias=False))
                                 for a, b in ((8 * f, 4 * f), (4 * f, 2 * f), (2 * f, f))])
        self.refine = nn.ModuleList([sn(nn.Conv2d(f, f, 3, 1, 1, bias=False)) for _ in range(2)])
        self.out = nn.Conv2d(f, 1, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2, inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 8 or x.shape[-1] % 8:
            raise ValueError(f"the U-Net discriminator needs sides divisible by 8, got {tuple(x.shape[-2:])}")
        skips = [self.act(self.conv0(x))]
        for conv in self.down:
            skips.append(self.act(conv(skips[-1])))
        y = skips.pop()
        for conv in self.up:
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            y = self.act(conv(y))
            skip = skips.pop()
            if self.skip_connection:
                y = y + skip
        for conv in self.refine:
            y = self.act(conv(y))
        return self.out(y)
