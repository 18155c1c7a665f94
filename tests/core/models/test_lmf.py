"""LM-LIIF: official checkpoints give the official algorithm's pixels (checked against an
independent per-point re-implementation), the grid decoder and the precomputed path equal the
reference query, tiled latents equal whole-image latents, reduced precision stays in bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cisr_zoom.core import models
from cisr_zoom.core.checkpoint import load_checkpoint
from cisr_zoom.core.coords import make_cell, make_coord
from cisr_zoom.core.precision import AUTO_MAX_ABS_ERROR
from cisr_zoom.core.render.session import RenderSession

REGIONS = [
    ((-1.0, -1.0, 1.0, 1.0), (111, 159)),      # whole image, scale 3
    ((-0.3, -0.9, 0.7, 0.2), (77, 64)),        # a part, anisotropic, non-integer scale
    ((-1.2, -1.0, 1.0, 1.3), (50, 40)),        # beyond the edges
    ((-0.51, 0.1, -0.49, 0.12), (33, 29)),     # deep zoom inside one LR pixel
    ((-1.0, -1.0, 1.0, 1.0), (37, 53)),        # scale 1 (ties between neighbours)
]


def tiny_lmf(seed=0, gain=1.5, mod_args=None, **args):
    """A tiny LM-LIIF (EDSR-baseline 2x8, latent MLP [24], render MLP 3 x 8), weights scaled by
    ``gain`` so that outputs vary across the image."""
    spec = models.lmf_spec(hidden=8, n_hidden=3, latent_hidden=(24,), encoder_args={"n_resblocks": 2, "n_feats": 8})
    spec["args"].update(args)
    spec["args"]["imnet_spec"]["args"].update(mod_args or {})
    torch.manual_seed(seed)
    model = models.make(spec).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight"):
                p.mul_(gain)
    return model


@pytest.fixture
def image():
    h, w = 37, 53
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(x / 5.0), 0.5 + 0.4 * np.cos(y / 4.0), (x + y) / (h + w)], axis=2)
    noise = np.random.default_rng(0).random((h, w, 3), dtype=np.float32) * 0.2
    return np.clip(base * 0.8 + noise, 0, 1).astype(np.float32)


# ---- official checkpoint layout --------------------------------------------------------------

def _official_lm_liif_sd(n_res, n_feats, width, depth, latent_hidden, g):
    """A random state dict with the key names of the official ``edsr-b_lm-liif.pth``."""
    sd = {}

    def conv(name, cin, cout, k=3):
        sd[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=g) / math.sqrt(cin * k * k)
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.05

    def linear(name, cin, cout, gain=1.0):
        sd[f"{name}.weight"] = torch.randn(cout, cin, generator=g) * gain / math.sqrt(cin)
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.05

    conv("encoder.sub_mean", 3, 3, 1)
    conv("encoder.add_mean", 3, 3, 1)
    conv("encoder.head.0", 3, n_feats)
    for i in range(n_res):
        conv(f"encoder.body.{i}.body.0", n_feats, n_feats)
        conv(f"encoder.body.{i}.body.2", n_feats, n_feats)
    conv(f"encoder.body.{n_res}", n_feats, n_feats)
    mod_out = 2 * depth * width + width
    linear("hypernet.layers.0", n_feats * 9 + 2, latent_hidden)
    linear("hypernet.layers.2", latent_hidden, mod_out, gain=0.5)
    last = width + 4
    for k in range(depth):
        linear(f"imnet.layers.{2 * k}", last, width, gain=1.5)
        last = width
    linear(f"imnet.layers.{2 * depth}", width, 3)
    return sd


def _reference_lm_liif(sd, n_res, width, depth, inp, coords, cells):
    """The official LM-LIIF algorithm written out per query point: EDSR from the official key
    names, 3x3-unfolded feature + the first point's cell (in LR pixels) into the latent MLP,
    whose output is [scales (depth x width), shifts (depth x width), latent (width)]; the render
    MLP takes [latent of the neighbour, rel, cell], hidden layer k: (W x + b) * (1 + scale_k) +
    shift_k then ReLU; LIIF's 4 neighbours and opposite-area weights; output * 0.5 + 0.5."""
    x = (inp - 0.5) / 0.5
    conv = lambda t, n: F.conv2d(t, sd[f"encoder.{n}.weight"], sd[f"encoder.{n}.bias"], padding=1)  # noqa: E731
    x = conv(x, "head.0")
    res = x
    for i in range(n_res):
        res = conv(F.relu(conv(res, f"body.{i}.body.0")), f"body.{i}.body.2") + res
    feat = conv(res, f"body.{n_res}") + x
    _, c, h, w = feat.shape
    rich = F.unfold(feat, 3, padding=1).view(c * 9, h, w)
    cell0 = torch.tensor([cells[0, 0, 0].item() * h, cells[0, 0, 1].item() * w])

    def lin(v, name):
        return v @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]

    def modulations(iy, ix):
        v = torch.relu(lin(torch.cat([rich[:, iy, ix], cell0]), "hypernet.layers.0"))
        return lin(v, "hypernet.layers.2")

    out = []
    for (y, xx), (cy, cx) in zip(coords[0].tolist(), cells[0].tolist()):
        preds, areas = [], []
        for vy in (-1, 1):
            for vx in (-1, 1):
                sy = min(max(y + vy / h + 1e-6, -1 + 1e-6), 1 - 1e-6)
                sx = min(max(xx + vx / w + 1e-6, -1 + 1e-6), 1 - 1e-6)
                iy, ix = min(int((sy + 1) / 2 * h), h - 1), min(int((sx + 1) / 2 * w), w - 1)
                ry, rx = (y - (-1 + (2 * iy + 1) / h)) * h, (xx - (-1 + (2 * ix + 1) / w)) * w
                mod = modulations(iy, ix)
                n = depth * width
                scale, shift, latent = mod[:n].view(depth, width), mod[n:2 * n].view(depth, width), mod[2 * n:]
                v = torch.cat([latent, torch.tensor([ry, rx, cy * h, cx * w])])
                for k in range(depth):
                    v = torch.relu(lin(v, f"imnet.layers.{2 * k}") * (1 + scale[k]) + shift[k])
                preds.append(lin(v, f"imnet.layers.{2 * depth}"))
                areas.append(abs(ry * rx) + 1e-9)
        tot = sum(areas)
        out.append(sum(p * (a / tot) for p, a in zip(preds, areas[::-1])))
    return torch.stack(out)[None] * 0.5 + 0.5


def test_official_lm_liif_checkpoint_gives_the_official_pixels(tmp_path):
    g = torch.Generator().manual_seed(5)
    n_res, n_feats, width, depth, latent_hidden = 2, 8, 16, 6, 208      # the paper's decoder sizes
    sd = _official_lm_liif_sd(n_res, n_feats, width, depth, latent_hidden, g)
    official = {"model": {"name": "lmliif", "args": {
        "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True, "n_resblocks": n_res,
                                                           "n_feats": n_feats}},
        "imnet_spec": {"name": "lmmlp", "args": {"out_dim": 3, "hidden_dim": width, "hidden_depth": depth,
                                                  "mod_scale": True, "mod_shift": True}},
        "hypernet_spec": {"name": "mlp", "args": {"out_dim": 2 * depth * width + width,
                                                  "hidden_list": [latent_hidden]}},
        "local_ensemble": True, "feat_unfold": True, "cell_decode": True, "mod_input": True},
        "sd": sd}, "epoch": 1000}
    p = tmp_path / "edsr-b_lm-liif.pth"
    torch.save(official, p)
    lm = load_checkpoint(p)
    assert lm.official and lm.descriptor.architecture == "lmf"

    inp = torch.rand(1, 3, 7, 6, generator=g)
    H, W = 17, 13
    coords = make_coord((H, W)).unsqueeze(0)
    cells = make_cell((H, W), n=H * W).unsqueeze(0)
    with torch.no_grad():
        ours = lm.model(inp, coords, cells)
        ref = _reference_lm_liif(sd, n_res, width, depth, inp, coords, cells)
    assert ref.std() > 0.02
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()
    # the renderer's grid decoder gives the same pixels
    rgb = inp[0].permute(1, 2, 0).numpy().copy()
    grid = RenderSession(lm.model, rgb).render((-1, -1, 1, 1), (H, W))
    assert np.abs(grid - ref[0].clamp(0, 1).view(H, W, 3).numpy()).max() < 1e-5


# ---- the model and its grid decoder ------------------------------------------------------------

def test_descriptor():
    d = tiny_lmf().describe()
    assert d.architecture == "lmf" and d.fast_path and "int8" not in d.precisions and "bfloat16" in d.precisions
    assert d.receptive_radius == 2 * 2 + 2 + 1
    assert d.display_name == "LM-LIIF (EDSR-baseline)"
    assert tiny_lmf().describe(family="cisrgan").display_name == "CiSRGAN (LM, EDSR-baseline)"


def test_precomputed_query_equals_reference_and_is_differentiable(image):
    model = tiny_lmf().train()
    inp = torch.from_numpy(image.transpose(2, 0, 1).copy())[None].repeat(2, 1, 1, 1)
    inp[1] = inp[1].flip(-1)
    coords = torch.rand(2, 300, 2) * 2 - 1
    cells = torch.full((2, 300, 2), 2 / 100.0)
    cells[1] *= 0.5     # another scale for the second image
    feats = model.encode(inp)
    ref = model.query(feats, coords, cells)
    fast = model.query(feats, coords, cells, chunk_size=77, precomputed=model.precompute(feats.feat))
    assert torch.allclose(ref, fast, atol=1e-5) and ref.std() > 0.02
    fast.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters()
               if not n.startswith("encoder.tail"))


@pytest.mark.parametrize("variant", [
    {}, {"image_skip": True}, {"local_ensemble": False}, {"cell_decode": False}, {"mod_input": False},
    {"feat_unfold": False}, {"mod_args": {"mod_scale": False}}, {"mod_args": {"mod_shift": False}},
])
def test_grid_decoder_equals_reference_query(image, variant):
    model = tiny_lmf(**variant)
    session = RenderSession(model, image, lr_tile=16)
    for region, size in REGIONS:
        fast = session.render(region, size)
        ref = session.render_reference(region, size, chunk_size=4096)
        assert np.abs(fast - ref).max() < 1e-4, (variant, region)
        assert ref.std() > 0.02


@pytest.mark.parametrize("lr_tile,box", [(8, 8), (13, 13)])
def test_tiled_latents_equal_whole_image_latents(image, lr_tile, box):
    s = RenderSession(tiny_lmf(), image, lr_tile=lr_tile, max_encode_box=box)
    h, w = s.lr_size
    tiled, r0, c0 = s.tiles.window(0, h, 0, w)
    assert (r0, c0) == (0, 0) and s.tiles.encode_calls > 1
    with torch.no_grad():
        whole = s.decoder.precompute(s.model.encode(s._image[None]).feat)[0].permute(1, 2, 0)
    assert torch.abs(tiled - whole).max().item() < 1e-5
    for region, size in [((-1, -1, 1, 1), (148, 212)), ((-0.4, -0.2, 0.3, 0.5), (90, 77))]:
        assert np.abs(s.render(region, size) - s.render_reference(region, size)).max() < 1e-3
    # control: a halo one pixel short shows seams (so the comparison above can fail)
    short = RenderSession(tiny_lmf(), image, lr_tile=lr_tile, max_encode_box=box)
    short.halo -= 1
    bad, _, _ = short.tiles.window(0, h, 0, w)
    assert torch.abs(bad - whole).max().item() > 1e-4


def test_auto_precision_is_float32_on_the_cpu_even_with_native_bf16(image, monkeypatch):
    from cisr_zoom.core import precision
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert RenderSession(tiny_lmf(), image, precision="auto").precision == "float32"
    assert precision.resolve_precision("auto", "cpu") == "bfloat16"       # what LIIF gets there


def test_bfloat16_stays_within_the_auto_bound(image):
    model = tiny_lmf(gain=1.0)
    region, size = (-1, -1, 1, 1), (74, 106)
    exact = RenderSession(model, image).render(region, size)
    bf16 = RenderSession(model, image, precision="bfloat16").render(region, size)
    assert exact.std() > 0.005
    assert not np.array_equal(exact, bf16)
    assert np.abs(exact - bf16).max() < AUTO_MAX_ABS_ERROR
