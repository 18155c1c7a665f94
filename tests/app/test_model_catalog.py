"""The catalog takes families and labels from the checkpoints' descriptions, not file names."""

from __future__ import annotations

import torch

from cisr_zoom.app.model_catalog import BICUBIC, UNKNOWN_FAMILY, ModelCatalog
from cisr_zoom.core import models
from cisr_zoom.core.checkpoint import save_checkpoint


def _save(path, spec, stage):
    torch.manual_seed(0)
    save_checkpoint(path, models.make(spec), spec, meta={"stage": stage})
    return path


def test_family_and_label_come_from_the_checkpoint(tmp_path, tiny_liif_spec):
    gan = _save(tmp_path / "my-liif-finetune.pth", tiny_liif_spec, "cisrgan")   # misleading name
    plain = _save(tmp_path / "gan-experiment.pth", tiny_liif_spec, "liif")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    cat = ModelCatalog(bundled={"bundled-one": gan}, user_paths=[plain, broken])
    bundled, user, bad = cat.entries()
    assert (bundled.family, bundled.label) == ("cisrgan", "CiSRGAN (EDSR-baseline)")
    assert (user.family, user.label) == ("liif", "gan-experiment")        # user files keep their name
    assert (bad.family, bad.label) == (UNKNOWN_FAMILY, "broken")
    assert cat.default_main() == bundled.id
    assert cat.default_compare() == [user.id, bundled.id, BICUBIC]


def test_the_viewer_opens_on_the_same_bundled_model_as_cisr_upscale(tmp_path, tiny_liif_spec):
    from cisr_zoom.core.commands import upscale
    from cisr_zoom.core.defaults import DEFAULT_MODEL
    gan = _save(tmp_path / "g.pth", tiny_liif_spec, "cisrgan")
    liif = _save(tmp_path / "l.pth", tiny_liif_spec, "liif")
    cat = ModelCatalog(bundled={"cisrgan-edsr-baseline": gan, DEFAULT_MODEL: liif})
    assert cat.default_main() == f"bundled:{DEFAULT_MODEL}"
    assert upscale.DEFAULT_MODEL == DEFAULT_MODEL


def test_bundled_twins_are_not_listed(tmp_path, tiny_liif_spec):
    liif = _save(tmp_path / "liif.pth", tiny_liif_spec, "liif")
    twin = tmp_path / "liif-lm.pth"
    torch.manual_seed(0)
    save_checkpoint(twin, models.make(tiny_liif_spec), tiny_liif_spec,
                    meta={"stage": "liif", "twin_of": "liif", "teacher": {"sha256": "0" * 64}})
    cat = ModelCatalog(bundled={"liif": liif, "liif-lm": twin})
    assert [e.id for e in cat.entries()] == ["bundled:liif"]
    assert cat.add_user(twin).id == f"file:{twin.resolve()}"       # a user may still add one as a file
