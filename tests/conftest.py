"""Shared test setup: headless Qt, small models, and the optional shared data folder.

``../shared`` (next to the repository; override with ``CISR_SHARED``) holds benchmark and
training images on development and CI machines only: tests that need it use the
``shared_dir`` fixture and skip cleanly without it.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CISR_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture
def tiny_liif_spec():
    """A LIIF small enough for fast CPU tests (same code paths as the paper's model)."""
    return {
        "name": "liif",
        "args": {
            "encoder_spec": {"name": "edsr-baseline", "args": {"n_resblocks": 2, "n_feats": 8, "no_upsampling": True}},
            "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": [16, 16]}},
        },
    }


@pytest.fixture
def tiny_liif(tiny_liif_spec):
    import torch
    from cisr_zoom.core import models
    torch.manual_seed(0)
    return models.make(tiny_liif_spec).eval()


@pytest.fixture
def rng():
    import numpy as np
    return np.random.default_rng(0)
