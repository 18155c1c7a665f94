"""Exponential moving average of the generator's weights (BasicSR / Real-ESRGAN ``net_g_ema``).

After every generator step, each floating-point parameter and buffer of the EMA copy becomes
``decay * ema + (1 - decay) * current``; other buffers, and parameters frozen in the generator
when the EMA was made (an LM twin's encoder), are copied, so they stay bit-identical. With decay 0.999 the copy
averages about the last 1000 iterations, which smooths the GAN's iteration-to-iteration
oscillation (flicker, patterns that come and go). The EMA weights are the ones validated,
snapshotted as the checkpoint's model, evaluated and shipped; the raw weights are kept in the
checkpoint's training state only, to resume.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """An eval-mode, gradient-free copy of ``net`` that follows it with weight ``decay`` (0 < decay < 1)."""

    def __init__(self, net: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.net = copy.deepcopy(net).eval()
        self.copied = {n for n, p in net.named_parameters() if not p.requires_grad}
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """One step towards ``net``'s current weights (same architecture as the copy)."""
        cur = net.state_dict()
        for name, ema in self.net.state_dict().items():
            new = cur[name].detach()
            if ema.is_floating_point() and name not in self.copied:
                ema.mul_(self.decay).add_(new.to(ema.dtype), alpha=1.0 - self.decay)
            else:
                ema.copy_(new)

    def reset_to(self, net: nn.Module) -> None:
        """Copy ``net``'s weights (the start of a run, before any step)."""
        self.net.load_state_dict(net.state_dict())
