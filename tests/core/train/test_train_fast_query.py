"""The training query with the first-layer precompute equals LIIF.query, values and gradients."""

import pytest
import torch

from cisr_zoom.core import models
from cisr_zoom.core.train.fast_query import fast_query


@pytest.mark.parametrize("image_skip,ensemble,unfold", [(False, True, True), (True, True, True),
                                                        (False, False, False)])
def test_fast_query_matches_liif_query(image_skip, ensemble, unfold):
    torch.manual_seed(0)
    spec = models.liif_spec(hidden=24, n_hidden=2, image_skip=image_skip,
                            encoder_args={"n_resblocks": 1, "n_feats": 6})
    spec["args"].update(local_ensemble=ensemble, feat_unfold=unfold)
    model = models.make(spec)
    lr = torch.rand(2, 3, 9, 13)
    coords = torch.rand(2, 300, 2) * 2 - 1
    coords[:, :4] = torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]])  # corners, centre
    cells = torch.rand(2, 300, 2) * 0.1 + 0.01
    ref = model.query(model.encode(lr), coords, cells)
    out = fast_query(model, model.encode(lr), coords, cells)
    assert torch.allclose(out, ref, atol=1e-5)
    g_ref = torch.autograd.grad(ref.square().sum(), list(model.parameters()))
    g_out = torch.autograd.grad(fast_query(model, model.encode(lr), coords, cells).square().sum(),
                                list(model.parameters()))
    for a, b in zip(g_ref, g_out):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-4 * a.abs().max().item() + 1e-7)
