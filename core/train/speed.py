"""``cisr train --config C --speed-test``: it/s of each speed option for one config, on this machine.

One trainer is built (data loaded once); each option then runs 2 warm-up and ``iters`` timed
iterations of the real training step (data drawing included), from the same weights, on the same
batches. Options: float32 (the baseline), bf16 autocast, channels_last, both, and float32 / bf16
without the prefetch thread (the step waits for its data). Nothing is written; the weights are
restored after each option. Figures are ratios to the float32 baseline of the same run, with the
CPU flags that decide them.
"""

from __future__ import annotations

import copy
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

import torch

from ..devices import cpu_name, speed_flags

OPTIONS = (
    ("float32", dict(bf16=False, channels_last=False, prefetch=True)),
    ("bf16", dict(bf16=True, channels_last=False, prefetch=True)),
    ("float32 + channels_last", dict(bf16=False, channels_last=True, prefetch=True)),
    ("bf16 + channels_last", dict(bf16=True, channels_last=True, prefetch=True)),
    ("float32, no prefetch", dict(bf16=False, channels_last=False, prefetch=False)),
    ("bf16, no prefetch", dict(bf16=True, channels_last=False, prefetch=False)),
)


def _timed(trainer, first_it: int, n: int, prefetch: bool) -> float:
    """Seconds for iterations ``first_it .. first_it + n - 1`` (data drawing included)."""
    pool = ThreadPoolExecutor(1) if prefetch else None
    try:
        t0 = time.perf_counter()
        pending = pool.submit(trainer.next_batch, first_it) if pool else None
        for it in range(first_it, first_it + n):
            if pool:
                batch = pending.result()
                if it + 1 < first_it + n:
                    pending = pool.submit(trainer.next_batch, it + 1)
            else:
                batch = trainer.next_batch(it)
            trainer.step(it, batch)
        return time.perf_counter() - t0
    finally:
        if pool:
            pool.shutdown(wait=True)


def speed_test(cfg: Dict[str, Any], iters: int = 6, device: str = "auto",
               data_dirs: Optional[List[str]] = None, options=OPTIONS,
               report=None) -> List[Dict[str, Any]]:
    """One row per option: ``{"option", "it_per_s", "ratio", ...}`` (ratio to the first option)."""
    from .forward import TrainForward
    from .trainer import Trainer

    cfg = copy.deepcopy(cfg)
    cfg["validation"]["holdout"] = 0
    with tempfile.TemporaryDirectory(prefix="cisr-speed-") as tmp:
        trainer = Trainer(cfg, tmp, device=device, data_dirs=data_dirs, log=lambda s: None)
    state_g = copy.deepcopy(trainer.net_g.state_dict())
    state_opt = copy.deepcopy(trainer.opt_g.state_dict())
    state_d = copy.deepcopy(trainer.net_d.state_dict()) if trainer.net_d is not None else None
    state_opt_d = copy.deepcopy(trainer.opt_d.state_dict()) if trainer.opt_d is not None else None
    rows: List[Dict[str, Any]] = []
    for name, opt in options:
        trainer.net_g.load_state_dict(state_g)
        trainer.opt_g.load_state_dict(state_opt)
        if state_d is not None:
            trainer.net_d.load_state_dict(state_d)
            trainer.opt_d.load_state_dict(state_opt_d)
        trainer.bf16 = bool(opt["bf16"])
        fmt = torch.channels_last if opt["channels_last"] else torch.contiguous_format
        trainer.net_g.to(memory_format=fmt)
        trainer.forward_g = trainer.ddp_g = TrainForward(trainer.net_g, fast=bool(cfg["train"]["fast_query"]),
                                                         channels_last=bool(opt["channels_last"]))
        _timed(trainer, 1, 2, opt["prefetch"])
        secs = _timed(trainer, 3, iters, opt["prefetch"])
        rows.append({"option": name, "it_per_s": iters / secs, **opt})
        if report is not None:
            report(f"{name}: {iters / secs:.3f} it/s")
    base = rows[0]["it_per_s"]
    flags = speed_flags()
    for r in rows:
        r["ratio"] = r["it_per_s"] / base
        r["cpu"] = cpu_name()
        r["cpu_flags"] = flags
        r["threads"] = torch.get_num_threads()
    return rows


def print_table(rows: List[Dict[str, Any]]) -> None:
    if not rows:
        return
    r0 = rows[0]
    print(f"# {r0['cpu']}; flags: {' '.join(r0['cpu_flags']) or 'none of note'}; torch {torch.__version__}; "
          f"{r0['threads']} thread(s)")
    print(f"{'option':<26} {'it/s':>8} {'x float32':>10}")
    for r in rows:
        print(f"{r['option']:<26} {r['it_per_s']:8.3f} {r['ratio']:10.2f}")
