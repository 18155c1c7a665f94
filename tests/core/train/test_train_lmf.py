"""LM-LIIF trains in both stages through the same trainer (``network_g.type = "lmf"``): the loss
goes down and resuming continues exactly."""

import torch

from cisr_zoom.core.checkpoint import load_checkpoint, read_checkpoint
from cisr_zoom.core.train.data import iteration_rng, to_image
from cisr_zoom.core.train.losses import fft_amplitude_loss
from cisr_zoom.core.train.trainer import Trainer

LMF_G = {"type": "lmf", "hidden": 8, "n_hidden": 3, "args": {"latent_hidden": [24]}}


def _l1(trainer, n=3, fft=False):
    """Mean L1 (plus, with ``fft``, stage 2's pixel + Fourier-amplitude loss) on fixed draws."""
    net = trainer.model.forward_g.eval()
    with torch.no_grad():
        vals = []
        for i in range(n):
            b = trainer.sampler.batch(iteration_rng(999, i), 4)
            pred = net(b.lr, b.coords, b.cells)
            v = (pred - b.gt).abs().mean().item()
            if fft:
                v = 1e-2 * v + fft_amplitude_loss(to_image(pred, b.patch), b.gt_image()).item()
            vals.append(v)
    return sum(vals) / n


def _sd(path):
    return read_checkpoint(path)["model"]["sd"]


def test_lmf_stage1_and_stage2_train_and_resume(train_images, tmp_path, make_config):
    cfg = make_config("liif", network_g=LMF_G, datasets={"train": {"dirs": [str(train_images)]}})
    before = _l1(Trainer(cfg, tmp_path / "probe", log=lambda s: None))
    t = Trainer(cfg, tmp_path / "s1", log=lambda s: None)
    assert t.model.spec_g["name"] == "lmliif"
    t.run()
    assert _l1(t) < 0.8 * before
    lm = load_checkpoint(tmp_path / "s1" / "last.pth")
    assert lm.descriptor.architecture == "lmf" and lm.meta["stage"] == "liif"
    # resume: 7 + 13 iterations == 20 iterations
    Trainer(cfg, tmp_path / "split", max_iters=7, log=lambda s: None).run()
    Trainer(cfg, tmp_path / "split", resume=True, log=lambda s: None).run()
    a, b = _sd(tmp_path / "s1" / "last.pth"), _sd(tmp_path / "split" / "last.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)

    cfg2 = make_config("cisrgan", network_g=LMF_G, datasets={"train": {"dirs": [str(train_images)]}},
                       train={"init_g": str(tmp_path / "s1" / "last.pth")})
    probe = Trainer(cfg2, tmp_path / "probe2", log=lambda s: None)
    assert all(torch.equal(a[k], v) for k, v in probe.model.net_g.state_dict().items())
    loss_before = _l1(probe, fft=True)
    t2 = Trainer(cfg2, tmp_path / "s2", log=lambda s: None)
    res = t2.run()
    assert _l1(t2, fft=True) < loss_before
    assert res.iteration == 20 and {"l_pix", "l_g_gan", "l_d"} <= set(res.last_losses)
    assert load_checkpoint(tmp_path / "s2" / "last.pth").descriptor.display_name.startswith("CiSRGAN (LM")
