"""CUDA checks (skipped without a CUDA GPU): run by packaging/gpu/gpu_session.sh on GPU machines."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_training_steps_on_cuda_with_bf16_auto(tmp_path, train_images, make_config):
    from cisr_zoom.core.checkpoint import read_checkpoint
    from cisr_zoom.core.train.trainer import train
    cfg = make_config(train={"max_iters": 4, "bf16": "auto"}, datasets={"train": {"dirs": [str(train_images)]}})
    res = train(cfg, tmp_path / "run", device="cuda", log=lambda s: None)
    meta = read_checkpoint(tmp_path / "run" / "last.pth")["meta"]
    assert res.iteration == 4 and meta["hardware"]["device"] == "cuda"
    assert meta["speed"]["bf16"] == bool(torch.cuda.is_bf16_supported())
