import pytest

from cisr_zoom.core import models
from cisr_zoom.core.models import registry


def test_known_models_registered():
    assert {"edsr-baseline", "rdn", "mlp", "liif"} <= set(models.registered())


def test_duplicate_name_refused():
    with pytest.raises(ValueError, match="already registered"):
        @registry.register("mlp")
        class Other:  # noqa: F841
            pass


def test_unknown_name():
    with pytest.raises(KeyError, match="unknown model"):
        models.make({"name": "no-such-model", "args": {}})


def test_paper_sizes():
    import torch
    net = models.make(models.liif_spec())
    # EDSR-baseline LIIF has about 1.57 M parameters (LIIF paper)
    n = sum(p.numel() for p in net.parameters())
    assert 1.5e6 < n < 1.65e6
    layers = [m for m in net.imnet.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 5 and all(l.out_features == 256 for l in layers[:-1]) and layers[-1].out_features == 3
    assert layers[0].in_features == 64 * 9 + 2 + 2
    assert len(net.encoder.body) == 17  # 16 res-blocks + body conv


def test_rdn_builds_and_runs():
    import torch
    net = models.make({"name": "rdn", "args": {"no_upsampling": True}})
    assert net.D == 16 and net.out_dim == 64
    with torch.no_grad():
        assert net(torch.rand(1, 3, 6, 5)).shape == (1, 64, 6, 5)
