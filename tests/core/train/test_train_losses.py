"""RaGAN, FFT and gradient losses against hand-computed values."""

import math

import pytest
import torch

from cisr_zoom.core.train.losses import (PerceptualTerm, fft_amplitude_loss, gradient_loss, l1_loss, ragan_d_loss,
                                         ragan_g_loss)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_ragan_losses_match_hand_computed_values():
    real = torch.tensor([[2.0], [0.0]])
    fake = torch.tensor([[-1.0], [1.0]])
    # mean C(real) = 1, mean C(fake) = 0
    # real - mean(fake) = [2, 0]; fake - mean(real) = [-2, 0]
    # BCE(x, 1) = softplus(-x); BCE(x, 0) = softplus(x)
    d_real = (_softplus(-2) + _softplus(0)) / 2   # real judged more realistic than fake
    d_fake = (_softplus(-2) + _softplus(0)) / 2   # fake judged less realistic than real
    g_real = (_softplus(2) + _softplus(0)) / 2
    g_fake = (_softplus(2) + _softplus(0)) / 2
    assert abs(ragan_d_loss(real, fake).item() - 0.5 * (d_real + d_fake)) < 1e-6
    assert abs(ragan_g_loss(real, fake).item() - 0.5 * (g_real + g_fake)) < 1e-6
    # concrete numbers, for the record: D = 0.410038, G = 1.410038
    assert abs(ragan_d_loss(real, fake).item() - 0.410038) < 1e-5
    assert abs(ragan_g_loss(real, fake).item() - 1.410038) < 1e-5


def test_ragan_asymmetric_logits():
    real = torch.tensor([[3.0], [1.0], [2.0]])   # mean 2
    fake = torch.tensor([[0.5], [-0.5], [0.0]])  # mean 0
    rr = [3.0, 1.0, 2.0]   # real - 0
    fr = [-1.5, -2.5, -2.0]  # fake - 2
    d = 0.5 * (sum(_softplus(-x) for x in rr) / 3 + sum(_softplus(x) for x in fr) / 3)
    g = 0.5 * (sum(_softplus(x) for x in rr) / 3 + sum(_softplus(-x) for x in fr) / 3)
    assert abs(ragan_d_loss(real, fake).item() - d) < 1e-6
    assert abs(ragan_g_loss(real, fake).item() - g) < 1e-6
    # the G loss uses both terms: it has a gradient w.r.t. the real logits' mean via fake - mean(real)
    fake_p = fake.clone().requires_grad_(True)
    ragan_g_loss(real, fake_p).backward()
    assert (fake_p.grad < 0).all()  # raising fake logits lowers the generator loss


def test_fft_amplitude_loss_is_shift_invariant_and_sees_blur():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 16)
    shifted = torch.roll(x, shifts=(3, 5), dims=(2, 3))  # circular shift keeps the amplitudes
    assert fft_amplitude_loss(shifted, x).item() < 1e-5
    assert l1_loss(shifted, x).item() > 0.1
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    assert fft_amplitude_loss(blurred, x).item() > 0.01


def test_gradient_loss_hand_values_and_phase():
    # a horizontal ramp 0, 1, 2, 3 against a flat image: dx differs by 1 everywhere, dy by 0
    ramp = torch.arange(4.0).repeat(4, 1).view(1, 1, 4, 4)
    assert abs(gradient_loss(ramp, torch.zeros_like(ramp)).item() - 0.5) < 1e-6
    assert gradient_loss(ramp, ramp).item() == 0.0
    # what the amplitude spectrum cannot see, the gradient term does: a pattern in the wrong place
    torch.manual_seed(0)
    x = torch.rand(1, 3, 16, 16)
    shifted = torch.roll(x, shifts=(3, 5), dims=(2, 3))
    assert fft_amplitude_loss(shifted, x).item() < 1e-5
    assert gradient_loss(shifted, x).item() > 0.1


def test_gradient_terms_punish_a_grid_the_fft_term_rewards():
    """A flat prediction of a textured target gains under the FFT term by adding a grid at the
    wrong phase; the gradient term (and so fft+gradient) gets worse."""
    torch.manual_seed(0)
    target = 0.5 + 0.1 * torch.randn(1, 1, 24, 24)
    flat = torch.full_like(target, 0.5)
    yy, xx = torch.meshgrid(torch.arange(24), torch.arange(24), indexing="ij")
    grid = flat + 0.05 * (((yy % 6) == 0) | ((xx % 6) == 0)).float()[None, None]
    assert fft_amplitude_loss(grid, target) < fft_amplitude_loss(flat, target)
    assert gradient_loss(grid, target) > gradient_loss(flat, target)
    both = PerceptualTerm("fft+gradient")
    assert torch.isclose(both(grid, target), fft_amplitude_loss(grid, target) + gradient_loss(grid, target))


def _grid_coords(hr: int) -> torch.Tensor:
    from cisr_zoom.core.coords import make_coord
    return make_coord((hr, hr)).unsqueeze(0)  # (1, hr*hr, 2)


def test_lr_period_loss_measures_a_pattern_repeating_with_every_lr_pixel():
    from cisr_zoom.core.train.losses import lr_period_loss
    lr, s = 8, 4                      # 8x8 LR, 32x32 HR: 4x4 HR pixels per LR pixel, one per phase bin
    hr = lr * s
    torch.manual_seed(0)
    gt = torch.rand(1, hr * hr, 3)
    cell = torch.randn(s, s)
    cell = cell - cell.mean()         # zero-mean pattern, repeated in every LR cell
    pattern = cell.repeat(lr, lr).reshape(1, hr * hr, 1) * 0.05
    pred = gt + pattern               # the same offset on R, G, B: luma offset = the pattern
    got = lr_period_loss(pred, gt, _grid_coords(hr), (lr, lr), bins=4).item()
    assert abs(got - float((pattern ** 2).mean())) < 1e-7
    assert lr_period_loss(gt, gt, _grid_coords(hr), (lr, lr)).item() == 0.0
    # the same energy with no alignment to the LR grid (random noise) scores far lower
    noise = torch.randn(1, hr * hr, 1)
    noise = noise * pattern.std() / noise.std()
    assert lr_period_loss(gt + noise, gt, _grid_coords(hr), (lr, lr)).item() < 0.1 * got
    # a constant colour shift is the pixel loss's job, not this one's
    assert lr_period_loss(gt + 0.1, gt, _grid_coords(hr), (lr, lr)).item() < 1e-12


def test_lr_period_loss_works_at_a_non_integer_scale_and_has_a_gradient():
    from cisr_zoom.core.train.losses import lr_period_loss
    lr, hr = 10, 27                   # x2.7: the phases inside an LR pixel vary from cell to cell
    coords = _grid_coords(hr)
    u = (coords + 1) * 0.5 * lr
    phase = u - torch.floor(u)
    # a pattern that is a function of the phase inside the LR pixel: periodic with the LR grid
    bump = torch.cos(2 * torch.pi * phase[..., :1]) * torch.cos(2 * torch.pi * phase[..., 1:])
    gt = torch.full((1, hr * hr, 3), 0.5)
    pred = (gt + 0.05 * bump).requires_grad_(True)
    loss = lr_period_loss(pred, gt, coords, (lr, lr))
    assert 1e-4 < loss.item() <= 0.05 ** 2 / 4 + 1e-6  # most of the bump's energy (0.05^2 / 4) is seen
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        lr_period_loss(pred, gt, coords, (lr, lr), bins=1)


def test_debiased_lr_period_loss_ignores_random_error_and_keeps_the_pattern():
    from cisr_zoom.core.train.losses import lr_period_loss
    lr, s = 16, 4
    hr = lr * s
    coords = _grid_coords(hr)
    torch.manual_seed(1)
    gt = torch.rand(64, hr * hr, 3)
    noise = torch.randn(64, hr * hr, 1) * 0.05                  # random error, no pattern
    biased = lr_period_loss(gt + noise, gt, coords, (lr, lr)).item()
    debiased = lr_period_loss(gt + noise, gt, coords, (lr, lr), debias=True).item()
    assert biased > 5e-6 and abs(debiased) < 0.25 * biased       # the 1/n floor (~16 * 0.05^2 / 4096) is gone
    cell = torch.randn(s, s)
    pattern = (cell - cell.mean()).repeat(lr, lr).reshape(1, hr * hr, 1) * 0.02
    want = float((pattern ** 2).mean())
    got = lr_period_loss(gt + noise + pattern, gt, coords, (lr, lr), debias=True).item()
    assert abs(got - want) < 0.1 * want                          # the pattern's energy is what is left


def test_debias_changes_the_value_not_the_gradient():
    """A live variance term would reward noise without bound (a run diverged on it): the
    debiased loss must push on the prediction exactly as the plain one does."""
    from cisr_zoom.core.train.losses import lr_period_loss
    lr, hr = 8, 32
    coords = _grid_coords(hr)
    torch.manual_seed(2)
    gt = torch.rand(2, hr * hr, 3)
    grads = []
    for debias in (False, True):
        pred = (gt + 0.05 * torch.randn(2, hr * hr, 3)).requires_grad_(True) if not grads else \
            grads[0][1].detach().clone().requires_grad_(True)
        lr_period_loss(pred, gt, coords, (lr, lr), debias=debias).backward()
        grads.append((pred.grad.clone(), pred))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-9)
    noisier = (grads[0][1].detach() + 0.5 * torch.randn(2, hr * hr, 3))
    assert lr_period_loss(noisier, gt, coords, (lr, lr), debias=True).item() > -1e-3   # no reward for noise
