"""Real-ESRGAN's two generator architectures, native, so its models run without the spandrel extra.

* :class:`RRDBNet`: ESRGAN's residual-in-residual dense blocks (Real-ESRGAN x4plus: 23 blocks,
  64 features, growth 32, 16,697,987 parameters), nearest x2 upsampling twice, LeakyReLU 0.2;
  x4 only (Real-ESRGAN's x2 / x1 variants pixel-unshuffle their input: spandrel runs those).
* :class:`SRVGGNetCompact`: a plain stack of 3x3 convolutions with PReLU (Real-ESRGAN's compact
  ``realesr-animevideov3``: 64 features, 16 convolutions, about 0.6 M parameters), a pixel shuffle
  at the end, plus the nearest-upsampled input.

Parameter names follow BasicSR's (``conv_first``, ``body.N.rdbK.convJ``, ``conv_up1``, ...;
``body.N`` for the compact net), the layout Real-ESRGAN's own ``.pth`` files and spandrel use, so
one state dict loads here and in spandrel alike. :func:`detect` reads the hyper-parameters from a
state dict's names and shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2, inplace=True)


class DenseBlock(nn.Module):
    """Five 3x3 convolutions, each seeing the block input and every earlier output; the last one's
    output, scaled by 0.2, is added to the input."""

    def __init__(self, feat: int = 64, growth: int = 32):
        super().__init__()
        for j in range(1, 6):
            out = feat if j == 5 else growth
            setattr(self, f"conv{j}", nn.Conv2d(feat + (j - 1) * growth, out, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for j in range(1, 5):
            seen.append(_lrelu(getattr(self, f"conv{j}")(torch.cat(seen, 1))))
        return self.conv5(torch.cat(seen, 1)) * 0.2 + x


class RRDB(nn.Module):
    """Three dense blocks in a row, the result scaled by 0.2 and added to the input."""

    def __init__(self, feat: int = 64, growth: int = 32):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (DenseBlock(feat, growth) for _ in range(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    scale = 4

    def __init__(self, in_ch: int = 3, out_ch: int = 3, feat: int = 64, blocks: int = 23, growth: int = 32):
        super().__init__()
        self.conv_first = nn.Conv2d(in_ch, feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(feat, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(feat, out_ch, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for conv in (self.conv_up1, self.conv_up2):
            feat = _lrelu(conv(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))


class SRVGGNetCompact(nn.Module):
    def __init__(self, in_ch: int = 3, out_ch: int = 3, feat: int = 64, convs: int = 16, scale: int = 4):
        super().__init__()
        self.scale = scale
        layers = [nn.Conv2d(in_ch, feat, 3, 1, 1), nn.PReLU(feat)]
        for _ in range(convs):
            layers += [nn.Conv2d(feat, feat, 3, 1, 1), nn.PReLU(feat)]
        layers.append(nn.Conv2d(feat, out_ch * scale * scale, 3, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


@dataclass(frozen=True)
class NativeArch:
    """What :func:`detect` found: spandrel's architecture name (labels stay the same with or
    without spandrel), the scale, tags, and how to build the module."""

    architecture: str
    scale: int
    tags: tuple
    kwargs: Dict[str, int]
    cls: type

    def build(self) -> nn.Module:
        return self.cls(**self.kwargs)


def _count(sd: Dict[str, torch.Tensor], prefix: str) -> int:
    n = 0
    while any(k.startswith(f"{prefix}{n}.") for k in sd):
        n += 1
    return n


def _rrdb_keys(blocks: int) -> set:
    names = ["conv_first", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    names += [f"body.{b}.rdb{k}.conv{j}" for b in range(blocks) for k in (1, 2, 3) for j in range(1, 6)]
    return {f"{n}.{p}" for n in names for p in ("weight", "bias")}


def detect(sd: Dict[str, torch.Tensor]) -> Optional[NativeArch]:
    """The architecture of a BasicSR-layout Real-ESRGAN state dict, or None when it is not one
    of the two (the caller then tries spandrel). Shapes are checked when the module loads them."""
    keys = set(sd)
    try:
        if {"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_up1.weight",
                "conv_up2.weight", "conv_hr.weight", "conv_last.weight"} <= keys:
            w0 = sd["conv_first.weight"]
            feat, in_ch = int(w0.shape[0]), int(w0.shape[1])
            growth = int(sd["body.0.rdb1.conv1.weight"].shape[0])
            out_ch = int(sd["conv_last.weight"].shape[0])
            if in_ch != out_ch:              # a pixel-unshuffled x2 / x1 model: spandrel's
                return None
            blocks = _count(sd, "body.")
            if keys != _rrdb_keys(blocks):
                return None
            return NativeArch("ESRGAN", 4, (f"{feat}nf", f"{blocks}nb"),
                              dict(in_ch=in_ch, out_ch=out_ch, feat=feat, blocks=blocks, growth=growth), RRDBNet)
        if "body.0.weight" in keys and "body.1.weight" in keys and sd["body.1.weight"].ndim == 1:
            n = _count(sd, "body.")
            if n < 3 or n % 2 == 0 or keys != ({f"body.{i}.weight" for i in range(n)}
                                                | {f"body.{i}.bias" for i in range(0, n, 2)}):
                return None
            feat, in_ch = (int(v) for v in sd["body.0.weight"].shape[:2])
            last = sd[f"body.{n - 1}.weight"]
            out_total = int(last.shape[0])
            out_ch = in_ch
            scale = round((out_total / out_ch) ** 0.5)
            if scale < 1 or out_ch * scale * scale != out_total:
                return None
            convs = (n - 3) // 2
            return NativeArch("RealESRGAN Compact", scale, (f"{feat}nf", f"{convs}nc"),
                              dict(in_ch=in_ch, out_ch=out_ch, feat=feat, convs=convs, scale=scale), SRVGGNetCompact)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return None


class NativeDescriptor:
    """The part of spandrel's ``ImageModelDescriptor`` the fixed-scale path uses: ``model``,
    ``scale``, ``architecture.name``, ``purpose``, ``tags``, ``to(device)`` and a call that maps
    a ``(1, 3, h, w)`` image in [0, 1] to ``(1, 3, h s, w s)`` clamped to [0, 1]."""

    purpose = "SR"
    input_channels = output_channels = 3
    size_requirements = None

    def __init__(self, model: nn.Module, arch: NativeArch):
        self.model = model
        self.scale = arch.scale
        self.tags = list(arch.tags)
        self.architecture = type("Architecture", (), {"name": arch.architecture})()

    def to(self, device) -> "NativeDescriptor":
        self.model.to(device)
        return self

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.model.training:
            self.model.eval()
        return self.model(image).clamp_(0, 1)
