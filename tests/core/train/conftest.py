"""Fixtures for the training tests: small synthetic training images and tiny configs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image


def _smooth_image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A natural-ish test image: upsampled low-resolution noise plus an edge (uint8 HxWx3)."""
    low = torch.from_numpy(rng.random((1, 3, 6, 6), dtype=np.float32))
    img = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)[0]
    img[:, :, size // 2:] += 0.3
    return (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="session")
def train_images(tmp_path_factory):
    """A folder of six 72x72 PNGs (the trainer's own loader reads them)."""
    d = tmp_path_factory.mktemp("train_images")
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(_smooth_image(rng, 72)).save(d / f"img{i}.png")
    return d


def tiny_config(stage: str = "liif", **sections) -> dict:
    """A validated config for a tiny LIIF (and discriminator): seconds per 20 iterations."""
    from cisr_zoom.core.train.config import from_dict
    raw = {
        "name": f"tiny-{stage}",
        "stage": stage,
        "seed": 1,
        "network_g": {"hidden": 16, "n_hidden": 2, "image_skip": True,
                      "encoder_args": {"n_resblocks": 1, "n_feats": 8}},
        "network_d": {"num_feat": 8, "input_size": 16, "num_down": 2},
        "datasets": {"train": {"lr_patch": 16, "n_points": 128, "patch_size": 16, "batch_size": 4,
                               "scale_max": 3.0, "sample": "patches" if stage == "cisrgan" else "points"}},
        # float32 unless a test asks for bf16 ("auto" would depend on the CPU running the tests)
        "train": {"max_iters": 20, "checkpoint_every": 10, "log_every": 5, "threads": 1, "lr_g": 2e-3,
                  "lr_d": 1e-3, "bf16": False},
    }
    if stage == "cisrgan":
        raw["pixel_opt"] = {"weight": 1e-2}
        raw["perceptual_opt"] = {"type": "fft", "weight": 1.0}
        raw["gan_opt"] = {"weight": 5e-3}
    for name, values in sections.items():
        if isinstance(values, dict):
            base = raw.setdefault(name, {})
            for k, v in values.items():
                if isinstance(v, dict) and isinstance(base.get(k), dict):
                    base[k].update(v)
                else:
                    base[k] = copy.deepcopy(v)
        else:
            raw[name] = values
    return from_dict(raw)


@pytest.fixture(scope="session")
def make_config():
    return tiny_config
