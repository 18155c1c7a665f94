"""CUDA checks (skipped without a CUDA GPU): run by packaging/gpu/gpu_session.sh on GPU machines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_bundled_liif_renders_the_same_on_cuda_as_on_the_cpu():
    from cisr_zoom.core.checkpoint import load_checkpoint
    from cisr_zoom.core.eval.benchmark import super_resolve
    rng = np.random.default_rng(0)
    lr = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    cpu = super_resolve(load_checkpoint("liif-edsr-baseline", device="cpu").model.eval(), lr, (72, 72), "cpu")
    gpu = super_resolve(load_checkpoint("liif-edsr-baseline", device="cuda").model.eval(), lr, (72, 72), "cuda")
    assert np.abs(cpu - gpu).max() < 1e-3
