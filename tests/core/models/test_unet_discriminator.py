"""Real-ESRGAN's spectral-norm U-Net discriminator: per-pixel logits, bounded layers."""

import pytest
import torch

from cisr_zoom.core import models


def test_one_logit_per_pixel_and_sides_must_divide_by_8():
    d = models.make({"name": "unet-discriminator-sn", "args": {"num_feat": 8}})
    assert d(torch.rand(2, 3, 48, 40)).shape == (2, 1, 48, 40)
    with pytest.raises(ValueError, match="divisible by 8"):
        d(torch.rand(1, 3, 44, 48))


def test_spectral_norm_bounds_each_normalised_layer():
    torch.manual_seed(0)
    d = models.make({"name": "unet-discriminator-sn", "args": {"num_feat": 8}}).train()
    for _ in range(30):                       # power iterations run on forward passes in train mode
        d(torch.rand(1, 3, 16, 16))
    d.eval()
    conv = d.down[1]
    w = conv.weight.detach().reshape(conv.weight.shape[0], -1)
    assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, rel=0.05)
    with torch.no_grad():                     # a raw weight 5x larger: the normalised one stays at 1
        conv.parametrizations.weight.original.mul_(5.0)
    d.train()
    d(torch.rand(1, 3, 16, 16))
    d.eval()
    w = conv.weight.detach().reshape(conv.weight.shape[0], -1)
    assert torch.linalg.matrix_norm(w, ord=2) == pytest.approx(1.0, rel=0.05)


def test_skip_connections_change_the_output():
    torch.manual_seed(1)
    a = models.make({"name": "unet-discriminator-sn", "args": {"num_feat": 8}}).eval()
    b = models.make({"name": "unet-discriminator-sn", "args": {"num_feat": 8, "skip_connection": False}}).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 16, 16)
    assert not torch.allclose(a(x), b(x))
