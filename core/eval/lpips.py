"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet backbone: the same computation as the ``lpips`` package.

``d(x0, x1) = sum_l mean_hw( w_l . (f_l(x0) - f_l(x1))^2 )`` where ``f_l`` are the five AlexNet
ReLU activations, each unit-normalised along channels (``f / (||f||_2 + 1e-10)``), ``w_l`` the
published non-negative linear layers (1x1 convolutions without bias) and ``mean_hw`` the
spatial average. Inputs are RGB in ``[0, 1]``; they are mapped to ``[-1, 1]`` and then through
the package's scaling layer ``(x - shift) / scale`` with ``shift = (-0.030, -0.088, -0.188)``,
``scale = (0.458, 0.448, 0.450)``.

Two weight files are needed; neither ships with the project:

* the ImageNet AlexNet in torchvision's format, ``alexnet-owt-7be5be79.pth``;
* the LPIPS v0.1 linear layers in the ``lpips`` package's format (keys ``lin0.model.1.weight``
  .. ``lin4.model.1.weight``), ``alex.pth`` from the package's ``weights/v0.1`` folder.

Both are looked up through :mod:`cisr_zoom.core.pretrained` (explicit path, torch's hub cache,
download where online). When either is missing, :func:`load_lpips` raises
``PretrainedWeightsUnavailable`` and evaluation reports LPIPS as unavailable; there is no
fallback to random or other weights.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.alexnet import ALEXNET_FILENAME, ALEXNET_URL, TAP_CHANNELS, AlexNet, features_state_dict

#: the linear layers: a distinct cache name (the package calls the file just ``alex.pth``)
LINEAR_FILENAME = "lpips-v0.1-alex.pth"
LINEAR_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def linear_layers_from_state_dict(sd: Dict[str, torch.Tensor], source: str = "file") -> List[torch.Tensor]:
    """The five ``(1, C, 1, 1)`` linear-layer weights from an ``lpips``-format state dict."""
    out = []
    for i, c in enumerate(TAP_CHANNELS):
        key = f"lin{i}.model.1.weight"
        w = sd.get(key) if isinstance(sd, dict) else None
        if not torch.is_tensor(w):
            raise ValueError(f"LPIPS linear layers from {source}: missing {key!r} (not an lpips v0.1 alex.pth?)")
        if tuple(w.shape) != (1, c, 1, 1):
            raise ValueError(f"LPIPS linear layers from {source}: {key} has shape {tuple(w.shape)}, "
                             f"expected (1, {c}, 1, 1) for AlexNet")
        out.append(w.detach().float().clone())
    return out


def read_linear_layers(path: str | os.PathLike) -> List[torch.Tensor]:
    """Read an ``lpips``-format ``alex.pth`` (with ``weights_only=True``)."""
    sd = torch.load(Path(path), map_location="cpu", weights_only=True)
    return linear_layers_from_state_dict(sd, source=f"'{path}'")


class LPIPS(nn.Module):
    """LPIPS distance. ``forward(x0, x1)``: ``(B, 3, H, W)`` RGB in ``[0, 1]`` -> ``(B,)``."""

    def __init__(self, backbone: AlexNet, linear_weights: Sequence[torch.Tensor]):
        super().__init__()
        self.net = backbone.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        if len(linear_weights) != len(TAP_CHANNELS):
            raise ValueError(f"need {len(TAP_CHANNELS)} linear layers, got {len(linear_weights)}")
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


def _lpips_package_file() -> Optional[Path]:
    """``weights/v0.1/alex.pth`` of an installed ``lpips`` package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    p = Path(spec.origin).parent / "weights" / "v0.1" / "alex.pth"
    return p if p.is_file() else None


def load_lpips(backbone_path: Optional[str | os.PathLike] = None,
               linear_path: Optional[str | os.PathLike] = None,
               device: torch.device | str = "cpu", download: Optional[bool] = None) -> LPIPS:
    """LPIPS with the pretrained AlexNet and the published linear layers.

    Each file is looked up by :func:`cisr_zoom.core.pretrained.load_pretrained_state_dict`:
    the explicit path, else torch's hub cache (``alexnet-owt-7be5be79.pth``,
    ``lpips-v0.1-alex.pth``), else a download (``download=False`` or ``CISR_NO_DOWNLOAD=1``
    turn that off). The linear layers are also taken from an installed ``lpips`` package.
    Raises ``PretrainedWeightsUnavailable`` when a file cannot be had or does not fit;
    never substitutes other weights.
    """
    from ..pretrained import PretrainedWeightsUnavailable, load_pretrained_state_dict

    if linear_path is None:
        linear_path = _lpips_package_file()
    problems, lin_sd, sd = [], None, None
    try:
        lin_sd = load_pretrained_state_dict(LINEAR_FILENAME, LINEAR_URL, explicit_path=linear_path,
                                            what="LPIPS v0.1 linear layers (the lpips package's weights/v0.1/alex.pth)",
                                            hint="pass it with --lpips-linear FILE", download=download)
    except PretrainedWeightsUnavailable as e:
        problems.append(str(e))
    try:
        sd = load_pretrained_state_dict(ALEXNET_FILENAME, ALEXNET_URL, explicit_path=backbone_path,
                                        what="ImageNet AlexNet weights for LPIPS (torchvision's alexnet-owt-7be5be79.pth)",
                                        hint="pass it with --lpips-alexnet FILE", download=download)
    except PretrainedWeightsUnavailable as e:
        problems.append(str(e))
    if problems:
        raise PretrainedWeightsUnavailable(" Also: ".join(problems))
    try:
        linear = linear_layers_from_state_dict(lin_sd, source="the LPIPS linear-layer file")
    except ValueError as e:
        raise PretrainedWeightsUnavailable(str(e)) from None
    net = AlexNet(classifier=False)
    try:
        net.load_state_dict(features_state_dict(sd), strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise PretrainedWeightsUnavailable(f"the AlexNet weights for LPIPS do not fit torchvision's AlexNet "
                                           f"({first})") from None
    return LPIPS(net, linear).to(device)
