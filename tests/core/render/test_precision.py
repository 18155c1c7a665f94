"""Precision ``auto``: chosen per device and model, and within its error bound when it is reduced."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cisr_zoom.core import precision as prec
from cisr_zoom.core.precision import AUTO_MAX_ABS_ERROR, resolve_precision
from cisr_zoom.core.render.session import RenderSession


@pytest.mark.parametrize("native_bf16, expected", [(True, "bfloat16"), (False, "float32")])
def test_auto_on_cpu_follows_native_bf16(monkeypatch, native_bf16, expected):
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: native_bf16)
    assert resolve_precision("auto", "cpu") == expected
    # int8 is never the automatic choice (it exceeds the bound on a bundled model)
    assert resolve_precision("auto", "cpu", supported=("float32", "int8")) == "float32"


def test_auto_respects_the_models_precisions(monkeypatch):
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu", supported=("float32",)) == "float32"


@pytest.mark.parametrize("bf16, expected", [(True, "bfloat16"), (False, "float16")])
def test_auto_on_cuda(monkeypatch, bf16, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert resolve_precision("auto", "cuda") == expected
    assert resolve_precision("auto", "cuda", supported=("float32",)) == "float32"


def test_auto_stays_within_half_an_8bit_level(liif_factory, image):
    """What ``auto`` picks on this machine renders within :data:`AUTO_MAX_ABS_ERROR` of float32;
    forced to bfloat16 (as on a CPU with native bf16) it does too. Default initialisation (no
    weight gain): a random model with amplified weights amplifies rounding errors far beyond what
    trained models show (``cisr bench`` measures those)."""
    model = liif_factory(gain=1.0)
    region, size = (-1, -1, 1, 1), (74, 106)
    exact = RenderSession(model, image, precision="float32").render(region, size)
    for session in (RenderSession(model, image, precision="auto"),
                    RenderSession(model, image, precision="bfloat16")):
        out = session.render(region, size)
        assert np.abs(out - exact).max() < AUTO_MAX_ABS_ERROR, session.precision
        assert exact.std() > 0.005
        if session.precision != "float32":
            assert not np.array_equal(out, exact)   # it really ran in the reduced precision
