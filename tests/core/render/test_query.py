"""The fast path (first layer precomputed) reproduces LIIF.query, including its neighbour choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cisr_zoom.core.coords import make_coord
from cisr_zoom.core.errors import CisrError
from cisr_zoom.core.models.ensemble import ENSEMBLE_EPS, axis_neighbours
from cisr_zoom.core.precision import resolve_precision
from cisr_zoom.core.render.session import RenderSession

REGIONS = [
    ((-1.0, -1.0, 1.0, 1.0), (111, 159)),      # whole image, non-integer scale 3 x 3
    ((-0.3, -0.9, 0.7, 0.2), (77, 64)),        # a part, anisotropic
    ((-1.2, -1.0, 1.0, 1.3), (50, 40)),        # beyond the edges (coordinates are clamped)
    ((-0.51, 0.1, -0.49, 0.12), (33, 29)),     # deep zoom inside one LR pixel
    ((-1.0, -1.0, 1.0, 1.0), (37, 53)),        # scale 1: output centres on LR centres (ties)
]


@pytest.mark.parametrize("n_lr", [1, 2, 7, 37])
def test_axis_neighbours_match_liif_grid_sample(n_lr, rng):
    """Per-axis indices and relative coordinates equal those LIIF.query computes in 2-D."""
    h, w = n_lr, 5
    vals = np.concatenate([rng.uniform(-1.3, 1.3, 300),
                           make_coord((n_lr, 1))[:, 0].numpy(),              # LR centres
                           -1 + 2 * np.arange(n_lr + 1) / n_lr,               # LR pixel edges
                           make_coord((3 * n_lr, 1))[:, 0].numpy()]).astype(np.float32)
    ys = torch.from_numpy(vals)
    coords = torch.stack([ys, torch.full_like(ys, 0.1)], -1).unsqueeze(0)      # (1, Q, 2)
    feat_coord = make_coord((h, w), flatten=False).permute(2, 0, 1).unsqueeze(0)
    shifts, eps = (-1, 1), ENSEMBLE_EPS
    for vy in shifts:
        c = coords.clone()
        c[:, :, 0] += vy * (1.0 / h) + eps
        c[:, :, 1] += eps
        c.clamp_(-1 + 1e-6, 1 - 1e-6)
        q = F.grid_sample(feat_coord, c.flip(-1).unsqueeze(1), mode="nearest", align_corners=False)[0, :, 0, :]
        ref_rel = (coords[0, :, 0] - q[0]) * h
        got = axis_neighbours(ys, h, vy, eps)
        lr_centres = make_coord((h, 1))[:, 0]
        assert torch.equal(lr_centres[got.index], q[0])
        assert torch.equal(got.rel, ref_rel)


@pytest.mark.parametrize("variant", [
    {}, {"image_skip": True}, {"local_ensemble": False}, {"feat_unfold": False}, {"cell_decode": False},
])
def test_fast_path_equals_reference_query(liif_factory, image, variant):
    model = liif_factory(**variant)
    session = RenderSession(model, image, lr_tile=16)
    assert session.fast_path
    for region, size in REGIONS:
        fast = session.render(region, size)
        ref = session.render_reference(region, size, chunk_size=4096)
        assert fast.shape == size + (3,)
        assert np.abs(fast - ref).max() < 1e-4, (variant, region)
        assert ref.std() > 0.02  # the comparison is not between two constants


def test_precision_choices():
    assert resolve_precision("float32", "cpu") == "float32"
    assert resolve_precision("auto", "cpu") in ("bfloat16", "int8", "float32")
    with pytest.raises(CisrError):
        resolve_precision("float16", "cpu")
    with pytest.raises(CisrError):
        resolve_precision("float8", "cpu")


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_reduced_precision_is_close_to_float32(liif_factory, image, precision):
    if precision == "int8":
        try:
            resolve_precision("int8", "cpu")
        except CisrError:
            pytest.skip("no int8 kernels in this torch build")
    model = liif_factory()
    exact = RenderSession(model, image).render((-1, -1, 1, 1), (74, 106))
    reduced = RenderSession(model, image, precision=precision).render((-1, -1, 1, 1), (74, 106))
    mse = float(((exact - reduced) ** 2).mean())
    psnr = 10 * np.log10(1.0 / max(mse, 1e-20))
    assert psnr > 35.0, psnr       # tiny random model: a loose sanity bound; `cisr bench` measures
    assert not np.array_equal(exact, reduced)  # it really ran in another precision


def test_non_mlp_inn_falls_back_to_liif_query(liif_factory, image):
    model = liif_factory()
    model.imnet.layers = torch.nn.Sequential(*list(model.imnet.layers), torch.nn.Tanh())
    assert not model.describe().fast_path and model.describe().precisions == ("float32",)
    session = RenderSession(model, image)
    out = session.render((-0.5, -0.5, 0.5, 0.5), (40, 30))
    ref = session.render_reference((-0.5, -0.5, 0.5, 0.5), (40, 30))
    assert np.abs(out - ref).max() < 1e-5
    with pytest.raises(CisrError):
        RenderSession(model, image, precision="bfloat16")
