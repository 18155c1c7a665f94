"""Training pairs: patch sampling is a contiguous HR block with exact colours; points too."""

import numpy as np
import pytest
import torch

from cisr_zoom.core.coords import make_coord
from cisr_zoom.core.train.data import ImageBank, PairSampler, TrainDataError, iteration_rng


def _bank(rng, n=3, size=80):
    images = [rng.integers(0, 256, (size, size + 7 * i, 3), dtype=np.uint8) for i in range(n)]
    return ImageBank(images, [], [])


def _locate(bank, hr_crop_size, gt_block):
    """Find where a (P, P, 3) uint8 block occurs in some image up to flips/transpose; None if nowhere."""
    p = gt_block.shape[0]
    for img in bank.images:
        for view in (img, img[:, ::-1], img[::-1], img[::-1, ::-1]):
            for v in (view, view.transpose(1, 0, 2)):
                h, w = v.shape[:2]
                hits = np.argwhere((v[: h - p + 1, : w - p + 1] == gt_block[0, 0]).all(-1))
                for y, x in hits:
                    if np.array_equal(v[y:y + p, x:x + p], gt_block):
                        return True
    return None


def test_patch_sampling_is_contiguous_and_colours_match_hr_crop(rng):
    bank = _bank(rng)
    sampler = PairSampler(bank, lr_patch=12, scale_min=1.0, scale_max=4.0, sample="patches", patch_size=10,
                          augment=True)
    for i in range(6):
        lr, coords, cells, gt, scale = sampler.sample_one(iteration_rng(0, i))
        hr = round(12 * scale)
        assert lr.shape == (3, 12, 12) and coords.shape == (100, 2) and gt.shape == (100, 3)
        # cells: one HR pixel of the crop
        assert torch.allclose(cells, torch.full_like(cells, 2.0 / hr))
        # coordinates: a contiguous 10x10 block of the crop's pixel-centre grid, row-major
        grid = make_coord((hr, hr), flatten=False)
        block = coords.view(10, 10, 2)
        iy = torch.round(((block[..., 0] + 1) * hr - 1) / 2).long()
        ix = torch.round(((block[..., 1] + 1) * hr - 1) / 2).long()
        assert torch.equal(iy, iy[0, 0] + torch.arange(10).view(10, 1).expand(10, 10))
        assert torch.equal(ix, ix[0, 0] + torch.arange(10).view(1, 10).expand(10, 10))
        assert torch.equal(block, grid[iy[0, 0]:iy[0, 0] + 10, ix[0, 0]:ix[0, 0] + 10])
        # colours: exactly the 8-bit HR pixels of a block of a training image (no resampling)
        gt8 = gt.view(10, 10, 3).mul(255).round().to(torch.uint8).numpy()
        assert torch.allclose(gt * 255, torch.round(gt * 255), atol=1e-4)
        assert _locate(bank, hr, gt8), f"sample {i}: gt block not found in any training image"


def test_patch_colours_match_crop_without_augmentation():
    img = np.arange(40 * 40 * 3, dtype=np.int64).reshape(40, 40, 3) % 251
    bank = ImageBank([img.astype(np.uint8)], [], [])
    sampler = PairSampler(bank, lr_patch=8, scale_min=2.0, scale_max=4.0, sample="patches", patch_size=8,
                          augment=False)
    lr, coords, cells, gt, scale = sampler.sample_one(iteration_rng(3, 0))
    hr = round(8 * scale)
    # re-derive the crop position from the same random stream
    r = iteration_rng(3, 0)
    s = r.uniform(2.0, 4.0)
    assert round(8 * s) == hr
    r.integers(1)  # image choice
    y0, x0 = int(r.integers(40 - hr + 1)), int(r.integers(40 - hr + 1))
    py, px = int(r.integers(hr - 8 + 1)), int(r.integers(hr - 8 + 1))
    expect = img[y0 + py:y0 + py + 8, x0 + px:x0 + px + 8].reshape(-1, 3) / 255.0
    assert np.allclose(gt.numpy(), expect, atol=1e-6)
    assert torch.allclose(coords, make_coord((hr, hr), flatten=False)[py:py + 8, px:px + 8].reshape(-1, 2))


def test_points_are_distinct_hr_pixels_with_their_colours(rng):
    bank = _bank(rng, n=1, size=64)
    sampler = PairSampler(bank, lr_patch=16, sample="points", n_points=200, augment=False, quantize_lr=False)
    lr, coords, cells, gt, scale = sampler.sample_one(iteration_rng(0, 0))
    hr = round(16 * scale)
    pix = torch.round(((coords + 1) * hr - 1) / 2).long()
    flat = pix[:, 0] * hr + pix[:, 1]
    assert len(torch.unique(flat)) == 200
    assert torch.allclose(make_coord((hr, hr))[flat], coords)
    assert lr.shape == (3, 16, 16) and 0 <= lr.min() and lr.max() <= 1


def test_same_iteration_same_batch_other_rank_other_batch(rng):
    sampler = PairSampler(_bank(rng), lr_patch=12, sample="points", n_points=50)
    a = sampler.batch(iteration_rng(5, 17, 0), 2)
    b = sampler.batch(iteration_rng(5, 17, 0), 2)
    c = sampler.batch(iteration_rng(5, 17, 1), 2)
    assert torch.equal(a.gt, b.gt) and torch.equal(a.lr, b.lr)
    assert not torch.equal(a.gt, c.gt)


def test_bad_settings_and_benchmark_folders_are_refused(tmp_path, rng):
    with pytest.raises(TrainDataError, match="patch_size"):
        PairSampler(_bank(rng), lr_patch=12, sample="patches", patch_size=16)
    with pytest.raises(TrainDataError, match="n_points"):
        PairSampler(_bank(rng), lr_patch=12, sample="points", n_points=200)
    bench = tmp_path / "benchmark" / "Set5" / "HR"
    bench.mkdir(parents=True)
    with pytest.raises(TrainDataError, match="evaluation set"):
        ImageBank.from_dirs([bench])
    with pytest.raises(TrainDataError, match="does not exist"):
        ImageBank.from_dirs([tmp_path / "missing"])


def test_degradations_agree_away_from_the_border():
    """torch's antialiased bicubic and the MATLAB imresize of the evaluation code use the same
    kernel (Keys, a = -0.5, stretched when shrinking); they differ only in edge handling."""
    pytest.importorskip("cisr_zoom.core.eval.bicubic")
    from cisr_zoom.core.train.data import bicubic_downsample
    torch.manual_seed(0)
    hr = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12), size=(90, 90), mode="bicubic")[0].clamp(0, 1)
    a, b = bicubic_downsample(hr, 30, "bicubic"), bicubic_downsample(hr, 30, "matlab-bicubic")
    assert a.shape == b.shape == (3, 30, 30)
    assert torch.allclose(a[:, 3:-3, 3:-3], b[:, 3:-3, 3:-3], atol=1e-5)
