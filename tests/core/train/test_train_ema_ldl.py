"""The EMA generator and the LDL artifact term: their arithmetic, and a stage-2 run with both."""

import pytest
import torch
from torch import nn

from cisr_zoom.core.checkpoint import read_checkpoint
from cisr_zoom.core.train.ema import EMA
from cisr_zoom.core.train.losses import artifact_map, ldl_loss, local_variance
from cisr_zoom.core.train.trainer import Trainer


def test_ema_moves_by_one_minus_decay_and_copies_integer_buffers():
    net = nn.BatchNorm1d(2)
    ema = EMA(net, 0.9)
    with torch.no_grad():
        net.weight.fill_(3.0)          # ema starts at 1.0
        net.num_batches_tracked.fill_(7)
    ema.update(net)
    assert torch.allclose(ema.net.weight, torch.full((2,), 0.9 * 1.0 + 0.1 * 3.0))
    assert int(ema.net.num_batches_tracked) == 7
    assert not any(p.requires_grad for p in ema.net.parameters()) and not ema.net.training
    with pytest.raises(ValueError):
        EMA(net, 1.0)


def test_local_variance_matches_a_direct_window():
    x = torch.rand(1, 1, 9, 9)
    v = local_variance(x, 3)
    assert v.shape == x.shape
    assert torch.allclose(v[0, 0, 4, 4], x[0, 0, 3:6, 3:6].var(unbiased=True))


def test_artifact_map_is_zero_where_the_ema_model_is_worse_and_weights_erratic_residuals():
    gt = torch.full((1, 3, 16, 16), 0.5)
    sr = gt.clone()
    sr[..., 4:8, 4:8] += 0.2 * torch.sign(torch.randn(1, 3, 4, 4))   # an erratic error in one square
    ema_good = gt.clone()                                            # the EMA has no error: an artifact
    m = artifact_map(gt, sr, ema_good, 7)
    assert m[..., 4:8, 4:8].min() > 0 and m[..., 12:, 12:].abs().max() == 0
    ema_worse = gt + 0.5                                             # the EMA is worse everywhere
    assert artifact_map(gt, sr, ema_worse, 7).abs().max() == 0


def test_ldl_loss_has_the_gradient_of_the_weighted_l1():
    gt, ema = torch.rand(2, 3, 12, 12), torch.rand(2, 3, 12, 12)
    sr = torch.rand(2, 3, 12, 12, requires_grad=True)
    ldl_loss(gt, sr, ema, 5).backward()
    m = artifact_map(gt, sr.detach(), ema, 5)
    expected = m * torch.sign(sr.detach() - gt) / sr.numel()
    assert torch.allclose(sr.grad, expected, atol=1e-7)


def test_config_refuses_ldl_without_ema(make_config, train_images):
    from cisr_zoom.core.train.config import TrainConfigError
    with pytest.raises(TrainConfigError, match="ema_decay"):
        make_config("cisrgan", datasets={"train": {"dirs": [str(train_images)]}}, ldl_opt={"weight": 1.0})


def test_stage2_with_ema_and_ldl_ships_the_ema_and_resumes_exactly(train_images, tmp_path, make_config):
    s1 = make_config("liif", datasets={"train": {"dirs": [str(train_images)]}}, train={"max_iters": 2})
    Trainer(s1, tmp_path / "s1", log=lambda s: None).run()
    cfg = make_config("cisrgan", datasets={"train": {"dirs": [str(train_images)]}},
                      train={"init_g": str(tmp_path / "s1" / "last.pth"), "max_iters": 6, "ema_decay": 0.5,
                             "checkpoint_every": 3},
                      ldl_opt={"weight": 1.0, "kernel": 5})
    t = Trainer(cfg, tmp_path / "full", log=lambda s: None)
    res = t.run()
    assert "l_ldl" in res.last_losses
    ck = read_checkpoint(tmp_path / "full" / "last.pth")
    ema_sd, raw_sd = ck["model"]["sd"], ck["train"]["model_g_raw"]
    assert all(torch.equal(ema_sd[k], v) for k, v in t.model.ema.net.state_dict().items())
    assert all(torch.equal(raw_sd[k], v) for k, v in t.model.net_g.state_dict().items())
    assert any(not torch.equal(ema_sd[k], raw_sd[k]) for k in ema_sd)       # the model entry is the EMA
    assert ck["meta"]["weights"].startswith("EMA") and ck["meta"]["losses"]["ldl"]["kernel"] == 5
    Trainer(cfg, tmp_path / "split", max_iters=3, log=lambda s: None).run()
    Trainer(cfg, tmp_path / "split", resume=True, log=lambda s: None).run()
    split = read_checkpoint(tmp_path / "split" / "last.pth")
    assert all(torch.equal(ema_sd[k], split["model"]["sd"][k]) for k in ema_sd)
    assert all(torch.equal(raw_sd[k], split["train"]["model_g_raw"][k]) for k in raw_sd)
