"""Fixtures for the renderer tests: tiny LIIFs whose outputs vary (so comparisons mean something)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch


def make_liif(spec, seed=0, gain=2.0, **args):
    """A tiny LIIF from ``spec`` (args overridden by ``args``), weights scaled by ``gain`` so
    that the rendered colours span a useful range instead of hovering around 0.5."""
    from cisr_zoom.core import models
    spec = copy.deepcopy(spec)
    spec["args"].update(args)
    torch.manual_seed(seed)
    model = models.make(spec).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(gain)
    return model


@pytest.fixture
def liif_factory(tiny_liif_spec):
    return lambda **kw: make_liif(tiny_liif_spec, **kw)


@pytest.fixture
def image(rng):
    """A smooth-ish 37x53 test image (odd sizes on purpose) with some texture."""
    h, w = 37, 53
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(x / 5.0), 0.5 + 0.4 * np.cos(y / 4.0), (x + y) / (h + w)], axis=2)
    noise = rng.random((h, w, 3), dtype=np.float32) * 0.2
    return np.clip(base * 0.8 + noise, 0, 1).astype(np.float32)
