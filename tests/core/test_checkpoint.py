"""Checkpoint round trip, official LIIF import (checked against an independent reference
implementation of the official algorithm), and refusal of unsafe or broken files."""

import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from cisr_zoom.core import models
from cisr_zoom.core.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from cisr_zoom.core.coords import make_cell, make_coord
from cisr_zoom.core.errors import CheckpointError


def test_round_trip(tmp_path, tiny_liif, tiny_liif_spec):
    p = tmp_path / "m.pth"
    save_checkpoint(p, tiny_liif, tiny_liif_spec, meta={"iterations": 12, "losses": {"l1": 1.0}})
    lm = load_checkpoint(p)
    assert lm.meta["iterations"] == 12 and lm.meta["format"] == "cisr-zoom/1"
    assert not lm.official and lm.name == "m"
    for k, v in tiny_liif.state_dict().items():
        assert torch.equal(lm.model.state_dict()[k], v)
    assert not list(tmp_path.glob("*.tmp"))


def test_half_precision_storage_loads_as_float32(tmp_path, tiny_liif, tiny_liif_spec):
    p = tmp_path / "h.pth"
    save_checkpoint(p, tiny_liif, tiny_liif_spec, half=True)
    raw = read_checkpoint(p)
    assert all(v.dtype == torch.float16 for v in raw["model"]["sd"].values())
    lm = load_checkpoint(p)
    assert all(v.dtype == torch.float32 for v in lm.model.state_dict().values())
    w = tiny_liif.imnet.layers[0].weight
    assert torch.allclose(lm.model.imnet.layers[0].weight, w, atol=1e-3 * w.abs().max().item())


# ---- official LIIF format -------------------------------------------------------------

def _official_edsr_sd(n_resblocks, n_feats, g):
    sd = {}

    def conv(name, cin, cout, k=3):
        sd[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=g) * (1.0 / math.sqrt(cin * k * k))
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.05

    conv("encoder.sub_mean", 3, 3, 1)   # unused in LIIF, present in the official files
    conv("encoder.add_mean", 3, 3, 1)
    conv("encoder.head.0", 3, n_feats)
    for i in range(n_resblocks):
        conv(f"encoder.body.{i}.body.0", n_feats, n_feats)
        conv(f"encoder.body.{i}.body.2", n_feats, n_feats)
    conv(f"encoder.body.{n_resblocks}", n_feats, n_feats)
    return sd


def _official_mlp_sd(in_dim, hidden, g):
    sd, last = {}, in_dim
    for i, h in enumerate(hidden + [3]):
        sd[f"imnet.layers.{2 * i}.weight"] = torch.randn(h, last, generator=g) / math.sqrt(last)
        sd[f"imnet.layers.{2 * i}.bias"] = torch.randn(h, generator=g) * 0.05
        last = h
    return sd


def _reference_official_liif(sd, n_resblocks, inp, coords, cells):
    """The official algorithm written out independently: EDSR with functional convs from the
    official key names, input (x-0.5)/0.5, then for every query point the 4 nearest feature
    vectors (3x3 unfolded), relative coordinates and cells in feature-pixel units, the MLP,
    and area weights taken from the diagonally opposite neighbour; output *0.5+0.5."""
    x = (inp - 0.5) / 0.5
    conv = lambda t, n: F.conv2d(t, sd[f"encoder.{n}.weight"], sd[f"encoder.{n}.bias"], padding=1)
    x = conv(x, "head.0")
    res = x
    for i in range(n_resblocks):
        res = conv(F.relu(conv(res, f"body.{i}.body.0")), f"body.{i}.body.2") + res
    feat = conv(res, f"body.{n_resblocks}") + x
    _, c, h, w = feat.shape
    feat = F.unfold(feat, 3, padding=1).view(1, c * 9, h, w)[0]

    def mlp(v):
        n_layers = len([k for k in sd if k.startswith("imnet.") and k.endswith(".weight")])
        for i in range(n_layers):
            v = v @ sd[f"imnet.layers.{2 * i}.weight"].T + sd[f"imnet.layers.{2 * i}.bias"]
            if i < n_layers - 1:
                v = torch.relu(v)
        return v

    out = []
    for (y, xx), (cy, cx) in zip(coords[0].tolist(), cells[0].tolist()):
        preds, areas = [], []
        for vy in (-1, 1):
            for vx in (-1, 1):
                sy = min(max(y + vy / h + 1e-6, -1 + 1e-6), 1 - 1e-6)
                sx = min(max(xx + vx / w + 1e-6, -1 + 1e-6), 1 - 1e-6)
                iy = min(int((sy + 1) / 2 * h), h - 1)
                ix = min(int((sx + 1) / 2 * w), w - 1)
                qy, qx = -1 + (2 * iy + 1) / h, -1 + (2 * ix + 1) / w
                ry, rx = (y - qy) * h, (xx - qx) * w
                v = torch.cat([feat[:, iy, ix], torch.tensor([ry, rx, cy * h, cx * w])])
                preds.append(mlp(v))
                areas.append(abs(ry * rx) + 1e-9)
        tot = sum(areas)
        weights = [areas[3], areas[2], areas[1], areas[0]]
        out.append(sum(p * (a / tot) for p, a in zip(preds, weights)))
    return torch.stack(out)[None] * 0.5 + 0.5


def test_official_liif_checkpoint_gives_the_official_pixels(tmp_path):
    g = torch.Generator().manual_seed(3)
    n_res, n_feats, hidden = 2, 8, [16, 16, 16, 16]
    sd = _official_edsr_sd(n_res, n_feats, g)
    sd.update(_official_mlp_sd(n_feats * 9 + 4, hidden, g))
    official = {
        "model": {
            "name": "liif",
            "args": {
                "encoder_spec": {"name": "edsr-baseline", "args": {"no_upsampling": True, "n_resblocks": n_res,
                                                                   "n_feats": n_feats}},
                "imnet_spec": {"name": "mlp", "args": {"out_dim": 3, "hidden_list": hidden}},
            },
            "sd": sd,
        },
        "optimizer": {"name": "adam", "args": {"lr": 1e-4}, "sd": {"state": {}, "param_groups": []}},
        "epoch": 1000,
    }
    p = tmp_path / "edsr-baseline-liif.pth"
    torch.save(official, p)
    lm = load_checkpoint(p)
    assert lm.official and lm.model.image_skip is False

    inp = torch.rand(1, 3, 7, 6, generator=g)
    H, W = 17, 13
    coords = make_coord((H, W)).unsqueeze(0)
    cells = make_cell((H, W), n=H * W).unsqueeze(0)
    with torch.no_grad():
        ours = lm.model(inp, coords, cells)
        ref = _reference_official_liif(sd, n_res, inp, coords, cells)
    assert torch.allclose(ours, ref, atol=1e-5), (ours - ref).abs().max()


# ---- unsafe and broken files -----------------------------------------------------------

class Payload:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_object_is_refused(tmp_path, tiny_liif, tiny_liif_spec):
    obj = {"model": {"name": "liif", "args": tiny_liif_spec["args"], "sd": tiny_liif.state_dict()},
           "meta": {"evil": Payload()}}
    p = tmp_path / "evil.pth"
    torch.save(obj, p)
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(p)


def test_plain_pickle_is_refused(tmp_path):
    p = tmp_path / "plain.pth"
    p.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_garbage_files(tmp_path, content):
    p = tmp_path / "bad.pth"
    p.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pth"):
        load_checkpoint(p)


def test_truncated_checkpoint(tmp_path, tiny_liif, tiny_liif_spec):
    p = tmp_path / "t.pth"
    save_checkpoint(p, tiny_liif, tiny_liif_spec)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="t.pth"):
        load_checkpoint(p)


def test_wrong_layout_and_mismatched_weights(tmp_path, tiny_liif, tiny_liif_spec):
    p = tmp_path / "x.pth"
    torch.save({"weights": torch.zeros(3)}, p)
    with pytest.raises(CheckpointError, match="no model entry"):
        load_checkpoint(p)
    sd = dict(tiny_liif.state_dict())
    sd.pop("imnet.layers.0.bias")
    torch.save({"model": {"name": "liif", "args": tiny_liif_spec["args"], "sd": sd}}, p)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(p)
    torch.save({"model": {"name": "unknown-net", "args": {}, "sd": {}}}, p)
    with pytest.raises(CheckpointError, match="unknown model"):
        load_checkpoint(p)


def test_missing_model_name():
    with pytest.raises(CheckpointError, match="neither a bundled model"):
        load_checkpoint("/nonexistent/model.pth")


# ---- the model descriptor ---------------------------------------------------------------

def test_descriptor_family_comes_from_meta_not_the_file_name(tmp_path, tiny_liif, tiny_liif_spec):
    from cisr_zoom.core.checkpoint import describe_checkpoint
    p = tmp_path / "cisrgan-looking-name.pth"
    save_checkpoint(p, tiny_liif, tiny_liif_spec, meta={"stage": "liif"})
    lm = load_checkpoint(p)
    d = lm.descriptor
    assert (d.architecture, d.family, d.display_name) == ("liif", "liif", "LIIF (EDSR-baseline)")
    assert d.fast_path and d.receptive_radius == tiny_liif.encoder.receptive_radius + 1
    assert "int8" in d.precisions and "float32" in d.precisions
    assert describe_checkpoint(p) == d             # described without loading the weights
    q = tmp_path / "liif-looking-name.pth"
    save_checkpoint(q, tiny_liif, tiny_liif_spec, meta={"stage": "cisrgan"})
    assert describe_checkpoint(q).family == "cisrgan"
    assert load_checkpoint(q).descriptor.display_name == "CiSRGAN (EDSR-baseline)"


def test_descriptor_without_stage_uses_the_architecture(tmp_path, tiny_liif, tiny_liif_spec):
    p = tmp_path / "gan.pth"
    torch.save({"model": {"name": "liif", "args": tiny_liif_spec["args"], "sd": tiny_liif.state_dict()}}, p)
    assert load_checkpoint(p).descriptor.family == "liif"


def test_non_decoder_checkpoint_has_no_descriptor(tmp_path):
    disc = models.make({"name": "vgg-discriminator", "args": {}})
    p = tmp_path / "disc.pth"
    save_checkpoint(p, disc, {"name": "vgg-discriminator", "args": {}})
    assert load_checkpoint(p).descriptor is None


@pytest.mark.parametrize("data", [b"j", b"junk", b"\x80\x02junk", b"\x80\x02h\x00", b"PK\x03\x04junk", b"\x00" * 64])
def test_short_junk_files_are_refused_with_one_line(tmp_path, data):
    from cisr_zoom.core.checkpoint import read_checkpoint
    from cisr_zoom.core.errors import CheckpointError
    p = tmp_path / "junk.pth"
    p.write_bytes(data)
    with pytest.raises(CheckpointError, match="(cannot load|refused) checkpoint") as e:
        read_checkpoint(p)
    assert "\n" not in str(e.value)


def test_the_inputs_a_model_was_made_for_are_in_its_name(tmp_path):
    from cisr_zoom.core import models
    from cisr_zoom.core.checkpoint import describe_checkpoint, save_checkpoint
    spec = models.generator_spec("liif", encoder="edsr-baseline", hidden=8, n_hidden=1,
                                 encoder_args={"n_resblocks": 1, "n_feats": 4})
    names = {}
    for inputs in ("photos", "clean", "elsewhere", None):
        p = tmp_path / f"{inputs}.pth"
        save_checkpoint(p, models.make(spec), spec, meta={"stage": "liif", **({"inputs": inputs} if inputs else {})})
        names[inputs] = describe_checkpoint(p).display_name
    assert names == {"photos": "LIIF (EDSR-baseline, photos)", "clean": "LIIF (EDSR-baseline, clean inputs)",
                     "elsewhere": "LIIF (EDSR-baseline)", None: "LIIF (EDSR-baseline)"}
