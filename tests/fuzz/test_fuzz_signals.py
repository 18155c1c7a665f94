"""Stop signals in the middle of writing: SIGINT, SIGTERM and SIGHUP stop ``cisr upscale`` cleanly
(status 128 + signal, one line, no temporary file); training stops with a checkpoint."""

import signal
import time

import pytest
import torch

from fuzzkit import Result, listing, spawn, tiny_train_config


def _wait_for(predicate, timeout: float, proc=None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_signal_during_upscale_leaves_nothing(tmp_path, assets, signum):
    out = tmp_path / "out"
    out.mkdir()
    # 100 MP: minutes of work, so the signal always arrives mid-write
    p = spawn(["upscale", assets / "photo.png", "-o", out / "big.png", "--size", "10000x10000",
               "--model", assets / "tiny.pth", "-q"])
    try:
        assert _wait_for(lambda: any(x.name.endswith(".part") for x in out.iterdir()), 120, p), \
            p.communicate()[1][-2000:]
        p.send_signal(signum)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    r = Result(p.returncode, err)
    assert r.rc == 128 + signum, r.stderr
    assert "Traceback" not in r.stderr and len(r.lines) == 1, r.stderr
    assert r.lines[0] == f"cisr upscale: interrupted ({signum.name})"
    assert listing(out) == set()


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_signal_during_training_stops_with_a_checkpoint_and_128_plus_signal(tmp_path, assets, signum):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tiny_train_config(assets / "images", max_iters=10**6, checkpoint_every=0, log_every=1))
    run = tmp_path / "run"
    p = spawn(["train", "--config", cfg, "--out", run])
    try:
        assert _wait_for(lambda: (run / "log.jsonl").is_file() and (run / "log.jsonl").stat().st_size > 0, 120, p), \
            p.communicate()[1][-2000:]
        p.send_signal(signum)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 128 + signum and "Traceback" not in err, (p.returncode, err[-2000:])
    lines = err.splitlines()
    assert lines[-1] == f"cisr train: interrupted ({signum.name})", err[-2000:]
    assert any("stopped (signal)" in x for x in lines), err[-2000:]
    ck = torch.load(run / "last.pth", weights_only=True)
    assert ck["train"]["iteration"] >= 1
    assert not [x for x in run.iterdir() if x.name.startswith(".")]
