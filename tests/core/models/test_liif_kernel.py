"""One query kernel, three uses: LIIF.query (reference), LIIF.query from precomputed first-layer
activations (training) and the grid decoder (rendering) give the same values, and the two
differentiable uses the same gradients."""

from __future__ import annotations

import pytest
import torch

from cisr_zoom.core import models
from cisr_zoom.core.coords import make_cell, make_coord, pixel_centers

VARIANTS = [{}, {"image_skip": True}, {"local_ensemble": False}, {"feat_unfold": False}, {"cell_decode": False}]


def _model(**variant):
    torch.manual_seed(0)
    spec = models.liif_spec(hidden=24, n_hidden=2, encoder_args={"n_resblocks": 1, "n_feats": 6})
    spec["args"].update(variant)
    return models.make(spec).eval()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("region,size", [((-1.0, -1.0, 1.0, 1.0), (29, 40)),     # x3.2 / x3.1, whole image
                                         ((-1.2, -0.3, 0.4, 1.1), (23, 17))])    # beyond the edges
def test_three_uses_give_the_same_values(variant, region, size):
    model = _model(**variant)
    image = torch.rand(1, 3, 9, 13, generator=torch.Generator().manual_seed(1))
    H, W = size
    coords = make_coord(size, region).unsqueeze(0)
    cells = make_cell(size, region, n=H * W).unsqueeze(0)
    with torch.no_grad():
        features = model.encode(image)
        pre = model.precompute(features.feat)
        reference = model.query(features, coords, cells)[0].view(H, W, 3)
        from_precomputed = model.query(features, coords, cells, precomputed=pre, chunk_size=97)[0].view(H, W, 3)
        grid = model.grid_decoder(image, "cpu", "float32")
        window = grid.precompute(features.feat)[0].permute(1, 2, 0).contiguous()
        rows = grid.plan_axis(pixel_centers(H, region[0], region[2]), 9)
        cols = grid.plan_axis(pixel_centers(W, region[1], region[3]), 13)
        on_grid = grid.decode(window, 0, 0, rows, cols, make_cell(size, region))
    assert reference.std() > 0.01                       # not a comparison of constants
    assert (from_precomputed - reference).abs().max() < 1e-6
    assert (on_grid - reference).abs().max() < 1e-6


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_use_has_the_reference_gradients(variant):
    model = _model(**variant).train()
    lr = torch.rand(2, 3, 9, 13, generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(3)
    coords = torch.rand(2, 300, 2, generator=g) * 2 - 1
    coords[:, :4] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]])  # corners, centre
    cells = torch.rand(2, 300, 2, generator=g) * 0.1 + 0.01
    params = list(model.parameters())
    ref = model.query(model.encode(lr), coords, cells)
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    features = model.encode(lr)
    out = model.query(features, coords, cells, precomputed=model.precompute(features.feat))
    g_out = torch.autograd.grad(out.square().sum(), params)
    assert (out - ref).abs().max() < 1e-6
    for a, b in zip(g_ref, g_out):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * a.abs().max().item() + 1e-8)
