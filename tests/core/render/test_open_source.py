"""One descriptor and one way to open a render source for every kind of loaded model: a
LIIF-family checkpoint and a fixed-scale model are described and opened alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cisr_zoom.core.checkpoint import LoadedModel
from cisr_zoom.core.errors import CisrError
from cisr_zoom.core.fixed_scale import FixedScaleInfo, FixedScaleModel
from cisr_zoom.core.render.fixed import FixedScaleSession
from cisr_zoom.core.render.session import RenderSession
from cisr_zoom.core.render.sources import SessionPool, describe_source, open_source

WHOLE = (-1.0, -1.0, 1.0, 1.0)


class _Doubler:
    """A stand-in for a spandrel descriptor: a x2 nearest-neighbour 'model'."""

    model = torch.nn.Conv2d(3, 3, 1)          # its parameters are what a card counts (12)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def to(self, device):
        self.device = torch.device(device)
        return self


def _implicit(tiny_liif) -> LoadedModel:
    return LoadedModel(model=tiny_liif, spec={"name": "liif", "args": {}}, name="tiny", path=Path("tiny.pth"),
                       descriptor=tiny_liif.describe())


def _fixed() -> FixedScaleModel:
    return FixedScaleModel(descriptor=_Doubler(), info=FixedScaleInfo("Doubler", 2, "SR", ("nearest",)),
                           name="doubler", path=Path("doubler.pth"))


def test_every_kind_is_described_alike(tiny_liif):
    inn, fixed = describe_source(_implicit(tiny_liif)), describe_source(_fixed())
    assert (inn.kind, inn.name, inn.native_scale) == ("implicit", "tiny", None)
    assert inn.architecture == "liif" and "LIIF" in inn.display_name and "spec" in inn.facts
    assert (fixed.kind, fixed.name, fixed.native_scale, fixed.display_name) == ("fixed-scale", "doubler", 2,
                                                                                 "Doubler x2")
    assert fixed.facts == {"architecture": "Doubler", "scale": 2, "purpose": "SR", "tags": ["nearest"],
                           "runner": "spandrel", "parameters": 12}
    assert (inn.family, fixed.family) == ("liif", "fixed-scale")


def test_a_checkpoint_that_cannot_render_and_a_stranger_are_refused(tiny_liif):
    lm = _implicit(tiny_liif)
    lm.descriptor = None                      # e.g. a discriminator's checkpoint
    d = describe_source(lm)
    assert not d.renders and d.display_name == "not an image decoder"
    with pytest.raises(CisrError, match="not an image decoder"):
        open_source(lm, np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError):
        describe_source(object())


def test_open_source_opens_each_kind_on_the_image(tiny_liif, rng):
    img = rng.random((9, 11, 3), dtype=np.float32)
    inn = open_source(_implicit(tiny_liif), img, "cpu", "float32", cache_bytes=2**20)
    fixed = open_source(_fixed(), img, "cpu")
    assert isinstance(inn, RenderSession) and isinstance(fixed, FixedScaleSession)
    assert inn.lr_size == fixed.lr_size == (9, 11)
    out = fixed.render(WHOLE, (18, 22))                      # at its native scale: the pixels, doubled
    assert np.allclose(out, np.repeat(np.repeat(img, 2, 0), 2, 1), atol=1e-5)


def test_whole_encodes_the_image_in_one_piece(tiny_liif, rng):
    img = rng.random((70, 60, 3), dtype=np.float32)
    whole = open_source(_implicit(tiny_liif), img, whole=True)
    tiled = open_source(_implicit(tiny_liif), img)
    assert whole.tiles.tile == 70 and tiled.tiles.tile < 70          # one tile, against the view's tiles
    assert np.allclose(whole.render(WHOLE, (140, 120)), tiled.render(WHOLE, (140, 120)), atol=1e-4)


def test_the_pool_opens_through_open_source(tiny_liif, rng, monkeypatch):
    import cisr_zoom.core.render.sources as S
    pool = SessionPool(feature_cache_bytes=2**20)
    pool.model_paths = {"doubler": Path("doubler.pth")}
    pool.set_image(rng.random((6, 8, 3), dtype=np.float32), 1)
    monkeypatch.setattr(S, "load_model", lambda path, device: _fixed())
    source = pool.source("doubler", 1)
    assert isinstance(source, FixedScaleSession) and pool.source("doubler", 1) is source


def test_a_model_that_makes_no_images_is_refused_in_one_line(tiny_liif):
    from cisr_zoom.core.errors import CheckpointError
    lm = _implicit(tiny_liif)
    lm.descriptor = None
    assert describe_source(lm).name == "tiny"                     # described: cisr info lists it
    with pytest.raises(CheckpointError, match="'tiny' is not an image decoder"):
        describe_source(lm, must_render=True)


def test_a_fixed_scale_descriptor_names_its_runner():
    fm = _fixed()
    assert describe_source(fm).facts["runner"] == "spandrel"
    fm.runner = "native"
    assert describe_source(fm).facts["runner"] == "native"


def test_eval_renders_every_kind_through_open_source(tiny_liif, tiny_liif_spec, tmp_path, rng, monkeypatch):
    """``cisr eval``'s model method: an implicit model gives exactly the pixels of
    :func:`super_resolve` (features of the whole image), a fixed-scale one its native output;
    its report names the kind from the descriptor."""
    import cisr_zoom.core.fixed_scale as FS
    from cisr_zoom.core.checkpoint import save_checkpoint
    from cisr_zoom.core.eval import benchmark as B
    from cisr_zoom.core.imageio import to_uint8
    ckpt = tmp_path / "tiny.pth"
    save_checkpoint(ckpt, tiny_liif, tiny_liif_spec)
    lr = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    m = B.model_method(str(ckpt))
    assert m.info["kind"] == "implicit" and m.info["spec"]["name"] == "liif" and m.info["official_liif"] is False
    assert np.array_equal(m.upscale(lr, (39, 51)), to_uint8(B.super_resolve(tiny_liif, lr, (39, 51))))
    monkeypatch.setattr(FS, "load_model", lambda path, device="cpu": _fixed())
    f = B.model_method("doubler")
    assert (f.info["kind"], f.info["scale"], f.info["architecture"]) == ("fixed-scale", 2, "Doubler")
    assert np.array_equal(f.upscale(lr, (26, 34)), np.repeat(np.repeat(lr, 2, 0), 2, 1))


def test_a_file_is_described_alike_without_its_weights(tiny_liif, tiny_liif_spec, tmp_path):
    """The catalog's view of a file: the same descriptor as the loaded model, less the facts
    that need the weights; a file that is no model is one line."""
    from cisr_zoom.core.checkpoint import save_checkpoint
    from cisr_zoom.core.fixed_scale import load_model
    from cisr_zoom.core.render.sources import describe_file
    ckpt = tmp_path / "tiny.pth"
    save_checkpoint(ckpt, tiny_liif, tiny_liif_spec)
    f, loaded = describe_file(ckpt), describe_source(load_model(ckpt))
    assert (f.kind, f.name, f.display_name, f.architecture, f.family, f.native_scale, f.renders) == \
        (loaded.kind, loaded.name, loaded.display_name, loaded.architecture, loaded.family, None, True)
    assert f.facts == {}
    (tmp_path / "junk.pth").write_bytes(b"not a model")
    with pytest.raises(CisrError):
        describe_file(tmp_path / "junk.pth")
