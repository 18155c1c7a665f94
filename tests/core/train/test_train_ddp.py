"""The trainer under torchrun: 2 CPU processes, gloo backend, tiny model, a few iterations.

DistributedDataParallel averages the two processes' gradients, each drawing its own samples, so
the result must equal one process trained on both processes' batches together.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from cisr_zoom.core.checkpoint import read_checkpoint
from cisr_zoom.core.train.data import Batch, iteration_rng
from cisr_zoom.core.train.trainer import Trainer


class _BothRanks(Trainer):
    """Single-process reference: iteration i's batch is rank 0's batch followed by rank 1's."""

    def next_batch(self, it):
        bs = int(self.cfg["datasets"]["train"]["batch_size"])
        a, b = (self.sampler.batch(iteration_rng(self.cfg["seed"], it, r), bs) for r in (0, 1))
        return Batch(*(torch.cat([x, y]) for x, y in zip((a.lr, a.coords, a.cells, a.gt, a.scales),
                                                         (b.lr, b.coords, b.cells, b.gt, b.scales))), a.patch)


@pytest.mark.slow
def test_torchrun_gloo_two_processes(tmp_path, train_images, make_config):
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(f"""
name = "ddp"
seed = 1
[network_g]
hidden = 16
n_hidden = 2
image_skip = true
encoder_args = {{n_resblocks = 1, n_feats = 8}}
[datasets.train]
dirs = ["{train_images}"]
lr_patch = 16
n_points = 128
batch_size = 2
scale_max = 3.0
[train]
max_iters = 4
checkpoint_every = 2
log_every = 1
threads = 1
bf16 = false
lr_g = 1e-3
""")
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "cisr_zoom.core.cli", "train", "--config", str(cfg_file), "--out", str(out),
                           "--device", "cpu"], capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("last.pth: iteration 4") == 1  # only rank 0 reports and writes
    assert "2 process(es)" in proc.stderr
    ck = read_checkpoint(out / "last.pth")
    assert ck["train"]["iteration"] == 4 and ck["meta"]["hardware"]["processes"] == 2
    log = [json.loads(x)["iter"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3, 4]
    assert sorted(p.name for p in out.iterdir()) == ["last.pth", "log.jsonl"]

    # equals a single process trained on the union of both ranks' batches (averaged gradients)
    from cisr_zoom.core.train.config import load_config
    ref = _BothRanks(load_config(cfg_file), tmp_path / "ref", log=lambda s: None)
    ref.run()
    got = ck["model"]["sd"]
    exp = ref.model.net_g.state_dict()
    init = Trainer(load_config(cfg_file), tmp_path / "init", log=lambda s: None).model.net_g.state_dict()
    moved = max((exp[k] - init[k]).abs().max().item() for k in exp)
    diff = max((got[k] - exp[k]).abs().max().item() for k in exp)
    assert moved > 1e-3 and diff < 1e-5, (diff, moved)  # measured: diff ~1e-8, moved ~4e-3
