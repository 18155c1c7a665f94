"""A second decoder family plugs into the renderer and the trainer through the decoder interface
alone (nothing in render/ or train/ knows it): a toy family, "nearest", decoded at the nearest
LR pixel from a per-LR-pixel precompute."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cisr_zoom.core import models
from cisr_zoom.core.models import registry
from cisr_zoom.core.models.decoder import GridDecoder, ImplicitDecoder, ModelDescriptor
from cisr_zoom.core.render.session import RenderSession
from cisr_zoom.core.train.forward import TrainForward


@dataclass(frozen=True)
class ToyFeatures:
    feat: torch.Tensor


def _nearest(coords: torch.Tensor, n: int) -> torch.Tensor:
    return ((coords + 1) / 2 * n).floor().long().clamp(0, n - 1)


class ToyAxis:
    def __init__(self, index: torch.Tensor):
        self.index = index
        self.lr_start, self.lr_stop = int(index.min()), int(index.max()) + 1

    def __len__(self) -> int:
        return self.index.numel()

    def part(self, start: int, stop: int) -> "ToyAxis":
        return ToyAxis(self.index[start:stop])


class ToyGrid:
    dtype = torch.float32
    channels = 3

    def __init__(self, model: "NearestDecoder"):
        self.model = model

    def precompute(self, feat):
        return self.model.precompute(feat)

    def plan_axis(self, centres, n_lr):
        return ToyAxis(_nearest(centres, n_lr))

    def decode(self, window, r0, c0, rows, cols, cell):
        return window[rows.index - r0][:, cols.index - c0] + 0.5


class NearestDecoder(nn.Module):
    def __init__(self, channels: int = 4):
        super().__init__()
        self.encoder = nn.Conv2d(3, channels, 3, padding=1)     # receptive radius 1
        self.head = nn.Conv2d(channels, 3, 1)                   # the per-LR-pixel precompute

    def describe(self, family=None) -> ModelDescriptor:
        return ModelDescriptor("toy-nearest", family or "toy-nearest", "Toy", True, 1, ("float32",))

    def encode(self, image):
        return ToyFeatures(self.encoder(image - 0.5))

    def precompute(self, feat):
        return self.head(feat)

    def query(self, features, coords, cells=None, chunk_size=None, precomputed=None):
        pre = precomputed if precomputed is not None else self.head(features.feat)
        b, _, h, w = pre.shape
        idx = _nearest(coords[..., 0], h) * w + _nearest(coords[..., 1], w)        # (B, Q)
        return torch.stack([p.flatten(1).index_select(1, i).t() for p, i in zip(pre, idx)]) + 0.5

    def grid_decoder(self, image, device, precision="float32") -> GridDecoder:
        return ToyGrid(self)


if "toy-nearest" not in registry.registered():
    registry.register("toy-nearest")(NearestDecoder)
    registry.register_generator("toy-nearest")(lambda channels=4, **_: {"name": "toy-nearest",
                                                                         "args": {"channels": channels}})


def test_toy_decoder_satisfies_the_interface():
    model = models.make(models.generator_spec("toy-nearest", channels=5, hidden=7))
    assert isinstance(model, ImplicitDecoder) and not isinstance(nn.Linear(1, 1), ImplicitDecoder)
    assert isinstance(model.grid_decoder(torch.zeros(1, 3, 2, 2), "cpu"), GridDecoder)


def test_renderer_renders_another_family(rng):
    torch.manual_seed(0)
    model = NearestDecoder()
    image = rng.random((23, 31, 3)).astype(np.float32)
    s = RenderSession(model, image, lr_tile=8, max_encode_box=8)
    assert s.halo == 1 and s.tiles.tile == 8
    for region, size in [((-1, -1, 1, 1), (46, 62)), ((-0.3, -0.6, 0.5, 0.2), (37, 29))]:
        got = s.render(region, size)
        assert np.abs(got - s.render_reference(region, size)).max() < 1e-6
        assert got.std() > 0.01
    assert s.tiles.encode_calls > 1        # tiled with the family's own halo


def test_trainer_forward_uses_the_family_precompute():
    torch.manual_seed(0)
    model = NearestDecoder()
    fwd = TrainForward(model, fast=True)
    assert fwd.fast
    lr = torch.rand(2, 3, 6, 7)
    coords = torch.rand(2, 50, 2) * 2 - 1
    out = fwd(lr, coords, None)
    out.square().sum().backward()
    assert out.shape == (2, 50, 3) and model.encoder.weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(out, model.query(model.encode(lr), coords), atol=1e-6)
