"""``cisr train --config C --speed-test``: it/s of each speed option for one config, on this machine.

One trainer is built (data loaded once); each option then runs 2 warm-up and ``iters`` timed
iterations of the real training step (data drawing included), from the same weights, on the same
batches. Options: float32 (the baseline), bf16 autocast, channels_last, both, and float32 / bf16
without the prefetch thread (the step waits for its data). Nothing is written; the weights are
restored after each option. Figures are ratios to the float32 baseline of the same run, with the
CPU flags that decide them.

:func:`data_cost` (``python -m cisr_zoom.core.train.speed CONFIG``) times drawing a batch with the
config's degrade table and with the second-order pipeline against a training step, in one run.
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
    model = trainer.model
    state_g = copy.deepcopy(model.net_g.state_dict())
    state_opt = copy.deepcopy(model.opt_g.state_dict())
    net_d, opt_d = getattr(model, "net_d", None), getattr(model, "opt_d", None)
    state_d = copy.deepcopy(net_d.state_dict()) if net_d is not None else None
    state_opt_d = copy.deepcopy(opt_d.state_dict()) if opt_d is not None else None
    rows: List[Dict[str, Any]] = []
    for name, opt in options:
        model.net_g.load_state_dict(state_g)
        model.opt_g.load_state_dict(state_opt)
        if state_d is not None:
            net_d.load_state_dict(state_d)
            opt_d.load_state_dict(state_opt_d)
        model.bf16 = bool(opt["bf16"])
        fmt = torch.channels_last if opt["channels_last"] else torch.contiguous_format
        model.net_g.to(memory_format=fmt)
        model.forward_g = model.ddp_g = TrainForward(model.net_g, fast=bool(cfg["train"]["fast_query"]),
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


def data_cost(cfg: Dict[str, Any], degrades: Dict[str, Dict[str, Any]], iters: int = 6, device: str = "auto",
              data_dirs: Optional[List[str]] = None, report=None) -> List[Dict[str, Any]]:
    """Seconds to draw one batch with each degrade table against seconds of one training step, in
    the same run: one trainer; per table, ``iters`` rounds of (draw the batch, step on it), each part
    timed on its own (no prefetch). Rows ``{"degrade", "data_s", "step_s", "ratio"}`` per table,
    ``ratio = data_s / step_s`` (below 1: the prefetch thread hides the drawing, the step never waits)."""
    from .degrade import Degrader, DegradeSpec
    from .trainer import Trainer

    cfg = copy.deepcopy(cfg)
    cfg["validation"]["holdout"] = 0
    with tempfile.TemporaryDirectory(prefix="cisr-speed-") as tmp:
        trainer = Trainer(cfg, tmp, device=device, data_dirs=data_dirs, log=lambda s: None)
    rows: List[Dict[str, Any]] = []
    it = 1
    for name, table in degrades.items():
        trainer.sampler.degrader = Degrader(DegradeSpec.from_dict(table))
        trainer.step(it, trainer.next_batch(it))        # warm-up
        it += 1
        data = step = 0.0
        for _ in range(iters):
            t0 = time.perf_counter()
            batch = trainer.next_batch(it)
            t1 = time.perf_counter()
            trainer.step(it, batch)
            t2 = time.perf_counter()
            data, step, it = data + t1 - t0, step + t2 - t1, it + 1
        row = {"degrade": name, "data_s": data / iters, "step_s": step / iters, "ratio": data / step,
               "batch_size": int(cfg["datasets"]["train"]["batch_size"])}
        rows.append(row)
        if report is not None:
            report(f"{name}: batch {row['data_s']:.3f} s, step {row['step_s']:.3f} s, ratio {row['ratio']:.3f}")
    return rows


def main(argv=None) -> int:
    """``python -m cisr_zoom.core.train.speed CONFIG [--data DIR ...] [--iters N] [--second-order K=V ...]``:
    seconds per batch drawn with the config's own degrade table and with the second-order
    pipeline, against seconds per training step, in one run (one thread unless --threads)."""
    import argparse
    import sys

    from ..errors import CisrError, error_message
    from .config import load_config, shipped_configs
    ap = argparse.ArgumentParser(prog="python -m cisr_zoom.core.train.speed", description=main.__doc__.split("\n")[1])
    ap.add_argument("config", help="a config file or a shipped config's name")
    ap.add_argument("--data", nargs="+", metavar="DIR", help="training image folders (default: the config's)")
    ap.add_argument("--iters", type=int, default=6, help="timed rounds per table (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    ap.add_argument("--usm-gt", action="store_true", help="also sharpen the HR target in the second-order table")
    args = ap.parse_args(argv)
    try:
        torch.set_num_threads(max(1, args.threads))
        path = shipped_configs().get(args.config, args.config)
        cfg = load_config(path)
        tables = {"config's own": cfg["datasets"]["train"]["degrade"],
                  "second order": {"second_order": True, "usm_gt": bool(args.usm_gt)}}
        rows = data_cost(cfg, tables, iters=args.iters, device="cpu", data_dirs=args.data)
    except (CisrError, OSError, ValueError) as e:
        print(f"error: {error_message(e)}", file=sys.stderr)
        return 1
    print(f"# {cpu_name()}; flags: {' '.join(speed_flags()) or 'none of note'}; torch {torch.__version__}; "
          f"{torch.get_num_threads()} thread(s); batch {rows[0]['batch_size']}")
    print(f"{'degrade':<16} {'batch s':>8} {'per sample ms':>14} {'step s':>8} {'batch/step':>11}")
    for r in rows:
        print(f"{r['degrade']:<16} {r['data_s']:8.3f} {1000 * r['data_s'] / r['batch_size']:14.1f} "
              f"{r['step_s']:8.3f} {r['ratio']:11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
