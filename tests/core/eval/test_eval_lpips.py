"""LPIPS: weight-file formats, honest unavailability, and the arithmetic against a direct re-computation.

A randomly initialised AlexNet appears here ONLY to check the arithmetic and the file plumbing;
no reported number is ever computed with it.
"""

import pytest
import torch
import torch.nn.functional as F

from cisr_zoom.core import imagenet_weights as W
from cisr_zoom.core.eval import lpips as L
from cisr_zoom.core.models.alexnet import AlexNet
from cisr_zoom.core.models.vgg16 import VGG16Features
from cisr_zoom.core.pretrained import PretrainedWeightsUnavailable

# torchvision's alexnet state dict: names and shapes (the published file's format)
TORCHVISION_FEATURES = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
}
TORCHVISION_CLASSIFIER = {
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}


@pytest.fixture
def random_features_net():
    torch.manual_seed(0)
    net = AlexNet(classifier=False)
    for p in net.parameters():
        torch.nn.init.normal_(p, 0.0, 0.05)
    return net.eval()


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no downloads."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setenv("CISR_NO_DOWNLOAD", "1")
    monkeypatch.setattr(W, "_lpips_package_file", lambda name: None)
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


def test_alexnet_has_torchvisions_state_dict_layout():
    shapes = {k: tuple(v.shape) for k, v in AlexNet(classifier=False).state_dict().items()}
    assert shapes == TORCHVISION_FEATURES
    with torch.device("meta"):              # shapes only, no 240 MB allocation
        full = AlexNet(classifier=True)
    meta = {k: tuple(v.shape) for k, v in full.state_dict().items()}
    assert meta == {**TORCHVISION_FEATURES, **TORCHVISION_CLASSIFIER}


def test_linear_layers_from_the_published_file(shared_dir):
    lins = L.read_linear_layers(shared_dir / "weights" / "lpips" / "v0.1" / "alex.pth")
    assert [tuple(w.shape) for w in lins] == [(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
    assert all(float(w.min()) >= 0 for w in lins)         # v0.1 layers are clamped non-negative
    assert all(float(w.sum()) > 0 for w in lins)


def test_linear_layer_format_errors():
    good = {f"lin{i}.model.1.weight": torch.ones(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    assert len(L.linear_layers_from_state_dict(good)) == 5
    with pytest.raises(ValueError, match="lin3"):
        L.linear_layers_from_state_dict({k: v for k, v in good.items() if not k.startswith("lin3")})
    bad = dict(good, **{"lin0.model.1.weight": torch.ones(1, 32, 1, 1)})
    with pytest.raises(ValueError, match="shape"):
        L.linear_layers_from_state_dict(bad)


def _direct_lpips(net, lins, x0, x1):
    """Straightforward re-computation: explicit AlexNet layers, per-pixel unit norm, channel weights."""
    convs = [net.features[i] for i in (0, 3, 6, 8, 10)]
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def taps(x):
        x = ((x * 2 - 1) - shift) / scale
        out = []
        for k, conv in enumerate(convs):
            if k in (1, 2):
                x = F.max_pool2d(x, 3, 2)
            x = torch.relu(F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding))
            out.append(x)
        return out

    total = torch.zeros(x0.shape[0])
    for a, b, w in zip(taps(x0), taps(x1), lins):
        na = a / (torch.sqrt((a ** 2).sum(1, keepdim=True)) + 1e-10)
        nb = b / (torch.sqrt((b ** 2).sum(1, keepdim=True)) + 1e-10)
        per_pixel = torch.einsum("bchw,c->bhw", (na - nb) ** 2, w.flatten())
        total += per_pixel.mean(dim=(1, 2))
    return total


def test_lpips_arithmetic_matches_direct_recomputation(random_features_net):
    torch.manual_seed(1)
    lins = [torch.rand(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
    model = L.LPIPS(random_features_net, lins)
    x0 = torch.rand(2, 3, 64, 72)
    x1 = (x0 + 0.1 * torch.randn_like(x0)).clamp(0, 1)
    got = model(x0, x1)
    want = _direct_lpips(random_features_net, lins, x0, x1)
    assert got.shape == (2,)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert float(got.min()) > 0
    torch.testing.assert_close(model(x1, x0), got)                  # symmetric
    assert float(model(x0, x0).abs().max()) == 0.0                  # identical -> 0


def test_unavailable_without_weights(offline_hub, shared_dir):
    with pytest.raises(PretrainedWeightsUnavailable, match="AlexNet"):
        L.load_lpips(linear_path=shared_dir / "weights" / "lpips" / "v0.1" / "alex.pth")


def test_unavailable_without_linear_layers(offline_hub):
    with pytest.raises(PretrainedWeightsUnavailable, match="linear layers"):
        L.load_lpips()


def test_load_lpips_from_explicit_files(tmp_path, random_features_net, offline_hub):
    # plumbing only: a torchvision-format file (classifier entries are ignored) and an lpips-format file
    sd = dict(random_features_net.state_dict())
    sd["classifier.6.bias"] = torch.zeros(1000)
    torch.save(sd, tmp_path / "alexnet.pth")
    lins = {f"lin{i}.model.1.weight": torch.full((1, c, 1, 1), 0.5) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(lins, tmp_path / "alex.pth")
    model = L.load_lpips(tmp_path / "alexnet.pth", tmp_path / "alex.pth")
    torch.testing.assert_close(model.net.features[0].weight, random_features_net.features[0].weight)
    assert float(model.lin2.mean()) == 0.5
    # the same file found in the hub cache under its published name
    offline_hub.mkdir(parents=True)
    torch.save(sd, offline_hub / "alexnet-owt-7be5be79.pth")
    torch.save(lins, offline_hub / "lpips-v0.1-alex.pth")
    assert isinstance(L.load_lpips(), L.LPIPS)
    # a file that does not fit the architecture is refused
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(PretrainedWeightsUnavailable, match="do not fit"):
        L.load_lpips(tmp_path / "bad.pth", tmp_path / "alex.pth")


def test_lpips_vgg_arithmetic_matches_direct_recomputation():
    torch.manual_seed(2)
    net = VGG16Features("relu5_3")
    for p in net.parameters():
        torch.nn.init.normal_(p, 0.0, 0.05)
    lins = [torch.rand(1, c, 1, 1) for c in (64, 128, 256, 512, 512)]
    model = L.LPIPS(net.eval(), lins)
    x0 = torch.rand(1, 3, 48, 40)
    x1 = (x0 + 0.1 * torch.randn_like(x0)).clamp(0, 1)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def taps(x):      # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: blocks of 2, 2, 3, 3, 3 convs
        x, out, convs = ((x * 2 - 1) - shift) / scale, [], iter(m for m in net.features if isinstance(m, torch.nn.Conv2d))
        for block, n in enumerate((2, 2, 3, 3, 3)):
            if block:
                x = F.max_pool2d(x, 2, 2)
            for _ in range(n):
                conv = next(convs)
                x = torch.relu(F.conv2d(x, conv.weight, conv.bias, padding=1))
            out.append(x)
        return out

    want = torch.zeros(1)
    for a, b, w in zip(taps(x0), taps(x1), lins):
        na = a / (torch.sqrt((a ** 2).sum(1, keepdim=True)) + 1e-10)
        nb = b / (torch.sqrt((b ** 2).sum(1, keepdim=True)) + 1e-10)
        want += torch.einsum("bchw,c->bhw", (na - nb) ** 2, w.flatten()).mean(dim=(1, 2))
    torch.testing.assert_close(model(x0, x1), want, rtol=1e-5, atol=1e-7)


def test_lpips_readme_examples_with_fetched_weights(shared_dir, monkeypatch):
    """The LPIPS README's example distances, where `cisr weights fetch` has filled the hub cache."""
    import numpy as np
    from PIL import Image
    cache = W.hub_checkpoint_dir()
    need = [cache / W.CONVERTED[k].filename for k in ("alexnet", "vgg16")]
    if not all(p.is_file() for p in need):
        pytest.skip("run `cisr weights fetch` first (needs the converted AlexNet/VGG16 in the hub cache)")
    d = shared_dir / "data" / "lpips-examples"

    def im(name):
        a = np.asarray(Image.open(d / name).convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(a).permute(2, 0, 1)[None]
    ref, p0, p1 = im("ex_ref.png"), im("ex_p0.png"), im("ex_p1.png")
    for net, want in (("alex", (0.722, 0.138)), ("vgg", (0.569, 0.422))):
        m = L.load_lpips(net=net, download=False)
        got = (float(m(ref, p0)), float(m(ref, p1)))
        assert got == pytest.approx(want, abs=5e-4), net
