"""VGG19 perceptual loss: loading torchvision-format files, and refusing clearly without weights.

The state dict written here holds random tensors with torchvision's keys and shapes: it tests the
LOADING code only and is never used for any reported number.
"""

import pytest
import torch

from cisr_zoom.core import cli
from cisr_zoom.core.models.vgg19 import VGG19Features, layer_names
from cisr_zoom.core.pretrained import PretrainedWeightsUnavailable, load_pretrained_state_dict
from cisr_zoom.core.train.losses import VGGPerceptualLoss
from cisr_zoom.core.train.trainer import VGG19_FILENAME, VGG19_URL, Trainer

# torchvision vgg19: conv indices in `features` and their (out, in) channels
CONVS = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256), (14, 256, 256),
         (16, 256, 256), (19, 512, 256), (21, 512, 512), (23, 512, 512), (25, 512, 512), (28, 512, 512),
         (30, 512, 512), (32, 512, 512), (34, 512, 512)]


@pytest.fixture(scope="module")
def fake_vgg_file(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    sd = {}
    for i, cout, cin in CONVS:
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * 0.01
        sd[f"features.{i}.bias"] = torch.randn(cout, generator=g) * 0.01
    sd["classifier.6.bias"] = torch.zeros(1000)  # classifier entries are ignored
    path = tmp_path_factory.mktemp("vgg") / "vgg19-test.pth"
    torch.save(sd, path)
    return path, sd


def test_layer_indices_follow_torchvision():
    names = layer_names()
    assert names["conv5_4"] == 34 and names["relu5_4"] == 35 and names["conv1_1"] == 0 and names["pool1"] == 4
    assert [i for i, _, _ in CONVS] == [v for k, v in names.items() if k.startswith("conv")]


def test_vgg19_loads_torchvision_state_dict_and_stops_before_relu(fake_vgg_file):
    path, sd = fake_vgg_file
    loaded = load_pretrained_state_dict(VGG19_FILENAME, VGG19_URL, explicit_path=path, download=False)
    loss = VGGPerceptualLoss(loaded, "conv5_4")
    net = loss.vgg
    assert isinstance(net.features[-1], torch.nn.Conv2d) and len(net.features) == 35
    for i, _, _ in CONVS:
        assert torch.equal(net.features[i].weight, sd[f"features.{i}.weight"])
    x = torch.rand(1, 3, 32, 32)
    feat = net(x)
    assert feat.shape == (1, 512, 2, 2) and (feat < 0).any()  # pre-activation features can be negative
    assert not any(p.requires_grad for p in net.parameters())
    pred = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(pred, x).backward()
    assert pred.grad.abs().sum() > 0


def test_wrong_vgg_file_is_refused(tmp_path, fake_vgg_file):
    _, sd = fake_vgg_file
    bad = dict(sd)
    bad["features.34.weight"] = torch.zeros(512, 512, 1, 1)
    with pytest.raises(Exception, match="features.34.weight"):
        VGG19Features().load_torchvision_state_dict(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(PretrainedWeightsUnavailable, match="cannot read"):
        load_pretrained_state_dict(VGG19_FILENAME, VGG19_URL, explicit_path=junk)


def test_found_in_torch_hub_cache(tmp_path, monkeypatch, fake_vgg_file):
    path, sd = fake_vgg_file
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / VGG19_FILENAME).write_bytes(path.read_bytes())
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    got = load_pretrained_state_dict(VGG19_FILENAME, VGG19_URL, download=False)
    assert torch.equal(got["features.0.weight"], sd["features.0.weight"])


def test_stage2_with_vgg_refuses_clearly_without_weights(tmp_path, monkeypatch, train_images, make_config,
                                                         capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    monkeypatch.setenv("CISR_NO_DOWNLOAD", "1")
    cfg = make_config("cisrgan", perceptual_opt={"type": "vgg19", "weight": 1.0},
                      datasets={"train": {"dirs": [str(train_images)]}}, train={"init_g": "unused.pth"})
    with pytest.raises(PretrainedWeightsUnavailable) as e:
        Trainer(cfg, tmp_path / "out", log=lambda s: None)
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "empty_hub" / "checkpoints" / VGG19_FILENAME) in msg
    assert "--vgg-weights" in msg and "fft" in msg and VGG19_URL in msg
    assert not (tmp_path / "out").exists()  # refused before anything was written
    # the same through the command line: one line on stderr, exit status 1
    cfg_file = tmp_path / "vgg.toml"
    cfg_file.write_text(f'name = "v"\nstage = "cisrgan"\n[datasets.train]\nsample = "patches"\n'
                        f'dirs = ["{train_images}"]\n[perceptual_opt]\ntype = "vgg19"\n'
                        f'[train]\ninit_g = "x.pth"\n')
    assert cli.main(["train", "--config", str(cfg_file), "--out", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cisr train: error: VGG19 ImageNet weights") and "\n" not in err


def test_stage2_trainer_uses_given_vgg_file(tmp_path, fake_vgg_file, train_images, make_config, stage1_ckpt):
    path, _ = fake_vgg_file
    cfg = make_config("cisrgan", perceptual_opt={"type": "vgg19", "weight": 1.0, "layer": "conv2_2"},
                      datasets={"train": {"dirs": [str(train_images)]}}, train={"init_g": str(stage1_ckpt)})
    t = Trainer(cfg, tmp_path / "out", vgg_weights=str(path), max_iters=2, log=lambda s: None)
    res = t.run()
    assert res.iteration == 2 and res.last_losses["l_percep"] > 0
    meta = t.meta(0.0, res.last_losses)
    assert meta["losses"]["perceptual"] == {"type": "vgg19", "weight": 1.0, "layer": "conv2_2"}
    assert str(path) in meta["perceptual_term"]


@pytest.fixture
def stage1_ckpt(tmp_path, train_images, make_config):
    cfg = make_config("liif", datasets={"train": {"dirs": [str(train_images)]}})
    Trainer(cfg, tmp_path / "s1", max_iters=1, log=lambda s: None).run()
    return tmp_path / "s1" / "last.pth"


# -- VGG16 (the network `cisr weights fetch` provides) -------------------------------------------

VGG16_CONVS_TO_3_3 = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
                      (14, 256, 256)]


@pytest.fixture(scope="module")
def fake_vgg16_file(tmp_path_factory):
    """Random He-initialised VGG16 convolutions up to conv3_3 in torchvision's layout (loading
    and training-loop plumbing only; never used for a reported number)."""
    g = torch.Generator().manual_seed(1)
    sd = {}
    for i, cout, cin in VGG16_CONVS_TO_3_3:
        sd[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        sd[f"features.{i}.bias"] = torch.zeros(cout)
    path = tmp_path_factory.mktemp("vgg16") / "vgg16-features-test.pth"
    torch.save(sd, path)
    return path


def test_vgg16_default_layer_is_conv5_3_before_activation():
    from cisr_zoom.core.models.vgg16 import VGG16Features, layer_names
    names = layer_names()
    assert names["conv5_3"] == 28 and names["relu5_3"] == 29 and names["pool4"] == 23
    net = VGG16Features()
    assert net.layer == "conv5_3" and len(net.features) == 29 and isinstance(net.features[-1], torch.nn.Conv2d)


def test_vgg16_layer_names_are_validated(make_config):
    from cisr_zoom.core.train.config import TrainConfigError
    with pytest.raises(TrainConfigError, match="conv5_4"):
        make_config("cisrgan", perceptual_opt={"type": "vgg16", "layer": "conv5_4"})
    make_config("cisrgan", perceptual_opt={"type": "vgg16", "layer": "conv3_3"})


def test_stage2_with_vgg16_runs_and_lowers_its_loss(tmp_path, fake_vgg16_file, train_images, make_config,
                                                    stage1_ckpt):
    import json
    cfg = make_config("cisrgan", perceptual_opt={"type": "vgg16", "weight": 1.0, "layer": "conv3_3"},
                      datasets={"train": {"dirs": [str(train_images)]}},
                      train={"init_g": str(stage1_ckpt), "log_every": 1, "checkpoint_every": 100})
    t = Trainer(cfg, tmp_path / "out", vgg_weights=str(fake_vgg16_file), max_iters=40, log=lambda s: None)
    res = t.run()
    log = [json.loads(x) for x in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    per = [e["l_percep"] for e in log]
    assert len(per) == 40
    first, last = sum(per[:8]) / 8, sum(per[-8:]) / 8
    print(f"l_percep first 8 {first:.4f}, last 8 {last:.4f}")
    assert last < 0.9 * first, (first, last)
    meta = t.meta(0.0, res.last_losses)
    assert meta["losses"]["perceptual"] == {"type": "vgg16", "weight": 1.0, "layer": "conv3_3"}
    assert meta["perceptual_term"].startswith("VGG16 conv3_3 features (before activation)")
    assert str(fake_vgg16_file) in meta["perceptual_term"]
    card = torch.load(tmp_path / "out" / "last.pth", weights_only=True)["meta"]
    assert card["losses"]["perceptual"]["type"] == "vgg16"


def test_stage2_with_vgg16_refuses_clearly_without_weights(tmp_path, monkeypatch, train_images, make_config):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    monkeypatch.setenv("CISR_NO_DOWNLOAD", "1")
    cfg = make_config("cisrgan", perceptual_opt={"type": "vgg16"},
                      datasets={"train": {"dirs": [str(train_images)]}}, train={"init_g": "unused.pth"})
    with pytest.raises(PretrainedWeightsUnavailable) as e:
        Trainer(cfg, tmp_path / "out", log=lambda s: None)
    msg = str(e.value)
    assert "\n" not in msg and "cisr weights fetch" in msg and "--vgg-weights" in msg and '"fft"' in msg
    assert not (tmp_path / "out").exists()
