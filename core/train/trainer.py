"""The training loop of every stage, single process or DDP.

What is trained, and how, is the stage's model (BasicSR's split, :mod:`.stages`): stage ``liif``
(:class:`.stage_sr.SRModel`: the generator on ``pixel_opt.weight * L1`` plus the optional
period, LDL and perceptual terms), stage ``cisrgan`` (:class:`.stage_gan.GANModel`, built on
it: a discriminator, the RaGAN term, one generator step then one discriminator step per
iteration) and stage ``distill`` (:class:`.stage_distill.DistillModel`: an LM-LIIF twin of the
``train.init_g`` teacher on cached features). Each loss term is built from its ``*_opt`` table
(:mod:`.loss_terms`). The :class:`Trainer` keeps the loop: data, the lr schedule, logging,
validation, checkpoints and snapshots, stop signals and limits.

Outputs in ``out_dir`` (written by rank 0 only): ``last.pth`` (atomic; model, optimizer and
counters, resumable; its ``meta`` is the model card), optional ``iter_NNNNNNN.pth`` snapshots,
``log.jsonl`` (one JSON object per logged iteration), ``config.toml``-equivalent in the meta.

Determinism: the model is initialised from ``seed``; the data of iteration ``i`` on rank ``r``
comes from ``numpy.random.default_rng([seed, i, r])``, so a resumed run continues exactly
(on the same hardware and thread count). Distributed: started by ``torchrun`` (``WORLD_SIZE``
> 1 in the environment): gloo on CPU, nccl on CUDA, gradients averaged by
DistributedDataParallel, each rank drawing its own samples.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.distributed as dist

from ..atomic import append_text, atomic_write_text, make_dirs, remove_empty_dirs
from ..checkpoint import read_checkpoint, save_checkpoint
from ..model_check import check_entry
from ..signals import STOP_SIGNALS
from ..devices import cpu_name, pick_device, speed_flags
from .data import ImageBank, PairSampler, iteration_rng
from .degrade import DegradeSpec
from .schedule import LRSchedule
from .stage_gan import discriminator_spec
from .stage_sr import TrainError, generator_spec, resolve_bf16, same_generator
from .stages import model_class
from .tb_log import ScalarLog
from .validation import ValidationSpec, Validator, describe as describe_validation, split_holdout

#: the stage helpers' names, importable from here as before the split
__all__ = ["Trainer", "TrainResult", "TrainError", "train", "generator_spec", "same_generator",
           "discriminator_spec", "resolve_bf16", "LAST", "LOG", "VGG19_FILENAME", "VGG19_URL"]

LAST = "last.pth"
LOG = "log.jsonl"

VGG19_FILENAME = "vgg19-dcbbb7d3.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbbb7d3.pth"


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: Optional[str] = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[DistInfo, torch.device]:
    """Join the process group when started by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), pick_device(device_name)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    base = pick_device(device_name)
    if base.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = base, "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, backend), device


def hardware_description(device: torch.device, world: int) -> Dict[str, Any]:
    info: Dict[str, Any] = {"device": device.type, "processes": world, "torch": str(torch.__version__),
                            "platform": platform.platform(), "cpu_threads": torch.get_num_threads(),
                            "cpu_count": os.cpu_count()}
    cpu = _cpu_model()
    if cpu:
        info["cpu"] = cpu
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_model() -> str:
    return cpu_name()


@dataclass
class TrainResult:
    out_dir: Path
    iteration: int
    stopped_by: str                     # "max_iters", "max_minutes", "signal"
    last_losses: Dict[str, float] = field(default_factory=dict)
    iters_per_hour: float = 0.0
    is_main: bool = True
    signum: Optional[int] = None        # the stop signal, when stopped_by == "signal"


@dataclass
class _Loop:
    """What the loop carries from one iteration to the next."""

    t0: float                           # monotonic start of this session
    window_t: float                     # start of the current rate window (time, iteration)
    window_i: int
    saved_at: int                       # iteration of the last last.pth
    validated_at: int = -1
    rate: float = 0.0                   # iterations per second over the last window
    last: Dict[str, float] = field(default_factory=dict)   # the last step's loss values
    pending: Any = None                 # the prefetched next batch (a future)


class Trainer:
    """Set up from a validated config dict (:func:`~.config.load_config`); :meth:`run` trains.

    The stage's model (:func:`.stages.model_class`: networks, loss terms, optimizers, EMA, the
    step) is ``self.model``; the trainer keeps the loop around it: data, lr schedule, logging,
    validation, checkpoints and snapshots, stop signals and limits."""

    def __init__(self, cfg: Dict[str, Any], out_dir: str | os.PathLike, *, resume: bool = False,
                 max_iters: Optional[int] = None, max_minutes: Optional[float] = None,
                 vgg_weights: Optional[str] = None, device: str = "auto",
                 data_dirs: Optional[List[str]] = None, log: Callable[[str], None] | None = None,
                 allow_benchmark_data: bool = False, new_schedule: bool = False):
        cfg = copy.deepcopy(cfg)
        self.cfg = cfg
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.max_iters = int(max_iters if max_iters is not None else cfg["train"]["max_iters"])
        self.max_minutes = max_minutes
        self.stage = cfg["stage"]
        self.dist, self.device = init_distributed(device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed LR patch shapes
        self.log = log or (lambda s: print(s, file=sys.stderr, flush=True))
        tcfg = cfg["train"]
        if tcfg["threads"]:
            torch.set_num_threads(int(tcfg["threads"]))
        if data_dirs:
            cfg["datasets"]["train"]["dirs"] = [str(d) for d in data_dirs]

        # the networks, loss terms and optimizers (a VGG term's weights are checked first)
        self.model = model_class(self.stage)(cfg, self.device, self.dist, vgg_weights=vgg_weights, log=self.log)
        self.schedule = LRSchedule.from_config(tcfg)
        self.schedule_origin = 0          # iteration at which this lr schedule started
        self.schedule_minutes = 0.0       # training minutes since the origin, before this session
        self.iteration = 0
        self._start_iteration = 0
        self.wall_time_before = 0.0
        self.sessions: List[Dict[str, Any]] = []  # earlier runs of this training (resumes)
        self.init_from: Optional[str] = None
        self.init_iterations = 0          # iterations the init_g checkpoint had seen (campaign total)
        self.resumed_from: Optional[str] = None
        if resume and (self.out_dir / LAST).is_file():
            self._load_resume(self.out_dir / LAST, new_schedule=new_schedule)
        elif resume:
            raise TrainError(f"cannot resume: no checkpoint '{self.out_dir / LAST}' (run without --resume to start)")
        else:
            self.init_from, self.init_iterations = self.model.initialise(tcfg["init_g"])
        self.model.prepare()
        self._setup_data(allow_benchmark_data)
        self._stop_reason: Optional[str] = None
        self._stop_signum: Optional[int] = None
        self.tb = ScalarLog()  # replaced in run() on the main process

    # -- set-up helpers ------------------------------------------------------------------
    def _setup_data(self, allow_benchmark_data: bool) -> None:
        """The training images (less the held-out ones), the pair sampler, and the stage's source
        of batches (the sampler, or stage distill's feature cache)."""
        dcfg = self.cfg["datasets"]["train"]
        bank = ImageBank.from_dirs(dcfg["dirs"], allow_benchmark=allow_benchmark_data)
        self.val_spec = ValidationSpec.from_config(self.cfg["validation"])
        self.bank, held = split_holdout(bank, self.val_spec.holdout)
        self.validator = Validator(self.val_spec, held, self.device) \
            if self.val_spec.enabled and self.dist.is_main else None
        self.last_validation: Dict[str, Any] = {}
        self.degrade = DegradeSpec.from_dict(dcfg["degrade"])
        self.sampler = PairSampler(self.bank, lr_patch=int(dcfg["lr_patch"]), scale_min=float(dcfg["scale_min"]),
                                   scale_max=float(dcfg["scale_max"]), sample=dcfg["sample"],
                                   n_points=int(dcfg["n_points"]), patch_size=int(dcfg["patch_size"]),
                                   augment=bool(dcfg["augment"]), degradation=dcfg["degradation"],
                                   quantize_lr=bool(dcfg["quantize_lr"]), degrade=self.degrade)
        self.source = self.model.batch_source(self.sampler)

    def _load_resume(self, path: Path, new_schedule: bool = False) -> None:
        obj = read_checkpoint(path)
        entry, train = obj["model"], obj.get("train")
        if not isinstance(train, dict) or "iteration" not in train:
            raise TrainError(f"cannot resume from '{path}': it has no training state")
        if not same_generator({"name": entry["name"], "args": entry.get("args") or {}}, self.model.spec_g):
            raise TrainError(f"cannot resume from '{path}': its generator differs from the config's network_g")
        self.model.load_training_state(train, check_entry(entry, f"'{path}'"), path)
        self.iteration = int(train["iteration"])
        self.wall_time_before = float(train.get("wall_time_s", 0.0))
        sched = train.get("schedule") if isinstance(train.get("schedule"), dict) else {}
        if new_schedule:  # a new lr curve from here (the optimizer's moments are kept)
            self.schedule_origin, self.schedule_minutes = self.iteration, 0.0
        else:  # checkpoints from before schedules were recorded started their curve at 0
            self.schedule_origin = int(sched.get("origin_iteration", 0))
            self.schedule_minutes = float(sched.get("minutes", self.wall_time_before / 60.0))
        self.sessions = [dict(x) for x in (obj.get("meta") or {}).get("sessions", []) if isinstance(x, dict)]
        meta = obj.get("meta") or {}
        self.init_from = meta.get("initialised_from")
        self.init_iterations = int(meta.get("initialised_from_iterations", 0) or 0)
        self.resumed_from = str(path)

    # -- one iteration -------------------------------------------------------------------
    def set_lr(self, it: int, minutes: float) -> float:
        """Apply the schedule for iteration ``it`` (``minutes`` of training since the origin)."""
        f = self.schedule.factor(it - 1 - self.schedule_origin, minutes)
        for opt, base in self.model.optimizers():
            for g in opt.param_groups:
                g["lr"] = base * f
        return f

    def next_batch(self, it: int):
        """This rank's batch for iteration ``it`` (reproducible: see :func:`.data.iteration_rng`)."""
        return self.source.batch(iteration_rng(self.cfg["seed"], it, self.dist.rank),
                                 int(self.cfg["datasets"]["train"]["batch_size"]))

    def step(self, it: int, batch=None) -> Dict[str, float]:
        """Draw iteration ``it``'s batch (unless given) and update the networks; returns the loss values."""
        batch = batch if batch is not None else self.next_batch(it)
        return self.model.step(batch.to(self.device, non_blocking=True))

    # -- checkpoints and logs ------------------------------------------------------------
    def meta(self, wall: float, last: Dict[str, float]) -> Dict[str, Any]:
        """The checkpoint's model card: the run, its data and sessions, and the stage's terms."""
        c, model = self.cfg, self.model
        dcfg = c["datasets"]["train"]
        data = self.bank.describe()
        data.update({"degradation": f"{dcfg['degradation']} (antialiased) downsampling of random HR crops, "
                                    f"LR {dcfg['lr_patch']}px" + (", rounded to 8 bits" if dcfg["quantize_lr"] else ""),
                     "scale_range": [dcfg["scale_min"], dcfg["scale_max"]], "sampling": dcfg["sample"],
                     "n_points": dcfg["n_points"] if dcfg["sample"] == "points" else None,
                     "patch_size": dcfg["patch_size"] if dcfg["sample"] == "patches" else None,
                     "batch_size_per_process": dcfg["batch_size"], "augment": dcfg["augment"],
                     "real_photo_degradations": self.degrade.describe()})
        if self.validator is not None:
            data["held_out_for_validation"] = self.validator.names()
        card = {"stage": self.stage, "name": c["name"], "training_data": data, "iterations": self.iteration,
                "wall_time_s": round(wall, 1), "hardware": hardware_description(self.device, self.dist.world_size),
                "losses": model.losses_card(), "perceptual_term": model.perceptual_description,
                "optimizer": model.optimizer_card(),
                "image_skip": bool(c["network_g"]["image_skip"]), "seed": c["seed"],
                "weights": f"EMA of the generator, decay {model.ema.decay}" if model.ema is not None else "generator",
                "initialised_from": self.init_from, "initialised_from_iterations": self.init_iterations,
                "total_iterations": self.init_iterations + self.iteration, "last_losses": last,
                "schedule": dict(self.schedule.describe(), origin_iteration=self.schedule_origin),
                "speed": self.speed_settings(), "validation": self.validation_card(),
                "sessions": self.sessions + [self.session_record(wall)], "config": c}
        card.update(model.card_extras(card))
        return card

    def speed_settings(self) -> Dict[str, Any]:
        """How this run was made fast (model card): chosen settings and the CPU flags they depend on."""
        t = self.cfg["train"]
        return {"bf16": self.model.bf16, "bf16_setting": t["bf16"], "channels_last": bool(t["channels_last"]),
                "fast_query": bool(t["fast_query"]), "prefetch": bool(t["prefetch"]),
                "cpu_flags": speed_flags(), "cpu_threads": torch.get_num_threads()}

    def session_record(self, wall: float) -> Dict[str, Any]:
        """This session's line in the model card's ledger of training runs."""
        secs = wall - self.wall_time_before
        done = self.iteration - self._start_iteration
        rec = {"from_iteration": self._start_iteration, "to_iteration": self.iteration,
               "wall_time_s": round(secs, 1), "minutes": round(secs / 60, 1),
               "it_per_s": round(done / secs, 4) if secs > 0 else None,
               "device": self.device.type, "processes": self.dist.world_size,
               "cpu_threads": torch.get_num_threads(), "cpu": _cpu_model(), "cpu_flags": speed_flags(),
               "bf16": self.model.bf16, "torch": str(torch.__version__)}
        if self.device.type == "cuda":
            rec["gpu"] = torch.cuda.get_device_name(self.device)
        if self.last_validation:
            rec["validation"] = self.last_validation
        return rec

    def validation_card(self) -> Optional[Dict[str, Any]]:
        if self.validator is None:
            return None
        d = describe_validation(self.val_spec, self.validator.names())
        d["last"] = self.last_validation or None
        if self.validator.lpips_note:
            d["note"] = self.validator.lpips_note
        return d

    def save(self, path: Path, wall: float, last: Dict[str, float]) -> None:
        """A checkpoint: the stage's shipped network (the EMA when there is one) as its model, the
        counters, schedule and the stage's training state (optimizers, raw generator,
        discriminator) in ``train``; the model card in ``meta``."""
        minutes = self.schedule_minutes + (wall - self.wall_time_before) / 60.0
        shipped, state = self.model.checkpoint_parts()
        train = {"iteration": self.iteration, "wall_time_s": wall, **state,
                 "schedule": {"origin_iteration": self.schedule_origin, "minutes": minutes}}
        save_checkpoint(path, shipped, self.model.spec_g, meta=self.meta(wall, last), train=train)

    def _prepare_log(self) -> None:
        """Keep only log lines up to the resumed iteration (later ones were never checkpointed)."""
        log = self.out_dir / LOG
        if not log.exists():
            return
        kept = []
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                if int(json.loads(line)["iter"]) <= self.iteration:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue
        atomic_write_text(log, "".join(x + "\n" for x in kept))

    # -- the loop ------------------------------------------------------------------------
    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if signum == signal.SIGINT and self._stop_reason == "signal":
                raise KeyboardInterrupt  # a second Ctrl-C stops at once
            self._stop_reason = "signal"  # finish the iteration, checkpoint, stop
            self._stop_signum = signum
        try:
            return {s: signal.signal(s, handler) for s in STOP_SIGNALS}   # SIGINT, SIGTERM, SIGHUP
        except ValueError:
            return None

    def _should_stop(self, t0: float) -> Optional[str]:
        reason = self._stop_reason
        if reason is None and self.max_minutes is not None and time.monotonic() - t0 >= self.max_minutes * 60:
            reason = "max_minutes"
        if self.dist.enabled:  # every rank must stop at the same iteration
            flag = torch.tensor([1.0 if reason else 0.0], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            if flag.item() > 0 and reason is None:
                reason = "max_minutes"
        return reason

    def run(self) -> TrainResult:
        """Train until ``max_iters``, ``max_minutes`` or a stop signal; rank 0 writes the log, the
        checkpoints and snapshots, and a last checkpoint at the end (never after a failure)."""
        main = self.dist.is_main
        created = self._open_output() if main else []
        old_handler = self._install_signal_handlers()
        t0 = time.monotonic()
        self._start_iteration = self.iteration
        loop = _Loop(t0, t0, self.iteration, saved_at=self.iteration)
        # the next batch is drawn in a second thread while this step computes (CPU: on the other core)
        prefetch = ThreadPoolExecutor(1, thread_name_prefix="prefetch") \
            if (self.device.type == "cuda" or self.cfg["train"]["prefetch"]) else None
        clean = False
        try:
            stopped_by = self._iterate(loop, prefetch)
            if self.validator is not None and loop.validated_at != self.iteration \
                    and self.iteration > self._start_iteration:
                self._validate(self.iteration)  # the final state is always scored
            clean = True
        except KeyboardInterrupt:
            clean = True  # the state after a finished iteration is consistent: keep it
            raise
        except BaseException:
            # e.g. non-finite loss: never overwrite the last good checkpoint
            remove_empty_dirs(created)  # a run that failed before writing anything leaves no folder
            raise
        finally:
            self._close(loop, clean, prefetch, old_handler)
        elapsed = time.monotonic() - t0
        if main:
            self.log(f"[{self.cfg['name']}] stopped ({stopped_by}) at iteration {self.iteration} after "
                     f"{elapsed / 60:.1f} min")
        return TrainResult(self.out_dir, self.iteration, stopped_by, loop.last, loop.rate * 3600, main,
                           self._stop_signum if stopped_by == "signal" else None)

    def _open_output(self) -> List[Path]:
        """Rank 0, before the first iteration: the output folder (the folders it made are
        returned), the TensorBoard log, the log file cut to the resumed iteration; the start line."""
        created = make_dirs(self.out_dir)
        self.tb = ScalarLog(self.out_dir / "tb")
        if self.resumed_from:
            self._prepare_log()
        elif (self.out_dir / LOG).exists():
            (self.out_dir / LOG).unlink()
        what = f"resuming at iteration {self.iteration}" if self.resumed_from else "starting"
        self.log(f"[{self.cfg['name']}] {what}; stage {self.stage}; {len(self.bank.images)} training images; "
                 f"device {self.device}, {self.dist.world_size} process(es), {torch.get_num_threads()} threads; "
                 f"output {self.out_dir}")
        return created

    def _iterate(self, loop: "_Loop", prefetch: Optional[ThreadPoolExecutor]) -> str:
        """The iterations; returns why they stopped (``max_iters``, ``max_minutes`` or ``signal``)."""
        while self.iteration < self.max_iters:
            reason = self._should_stop(loop.t0)
            if reason:
                return reason
            it = self.iteration + 1
            batch = None
            if prefetch is not None:
                batch = loop.pending.result() if loop.pending is not None else None
                loop.pending = prefetch.submit(self.next_batch, it + 1) if it < self.max_iters else None
            self.set_lr(it, self.schedule_minutes + (time.monotonic() - loop.t0) / 60.0)
            loop.last = self.step(it, batch)
            self.iteration = it
            if not all(math.isfinite(v) for v in loop.last.values()):
                raise TrainError(f"loss became non-finite at iteration {it} ({loop.last}); lower the learning rate "
                                 f"or resume from the last checkpoint")
            self._after_step(it, loop)
        return "max_iters"

    def _after_step(self, it: int, loop: "_Loop") -> None:
        """Iteration ``it`` done: its log line, validation, checkpoint and snapshot when due."""
        tcfg = self.cfg["train"]
        ck_every, snap_every = int(tcfg["checkpoint_every"]), int(tcfg["snapshot_every"])
        main = self.dist.is_main
        if it % max(1, int(tcfg["log_every"])) == 0 or it == self.max_iters:
            now = time.monotonic()
            loop.rate = (it - loop.window_i) / max(now - loop.window_t, 1e-9)
            loop.window_t, loop.window_i = now, it
            if main:
                self._log_line(it, now - loop.t0, loop.rate, loop.last)
        if self.validator is not None and self.val_spec.every and it % self.val_spec.every == 0:
            self._validate(it)
            loop.validated_at = it
        checkpoint, snapshot = bool(ck_every and it % ck_every == 0), bool(snap_every and it % snap_every == 0)
        if main and (checkpoint or snapshot):
            wall = self.wall_time_before + time.monotonic() - loop.t0
            if checkpoint:
                self.save(self.out_dir / LAST, wall, loop.last)
                loop.saved_at = it
            if snapshot:
                self.save(self.out_dir / f"iter_{it:07d}.pth", wall, loop.last)

    def _close(self, loop: "_Loop", clean: bool, prefetch: Optional[ThreadPoolExecutor], old_handler) -> None:
        """After the loop, however it ended: the last checkpoint (rank 0, unless the loop failed or
        it is already saved), the prefetch thread, the TensorBoard log, the signal handlers."""
        if self.dist.is_main and clean and self.iteration != loop.saved_at:
            self.save(self.out_dir / LAST, self.wall_time_before + time.monotonic() - loop.t0, loop.last)
            self.log(f"[{self.cfg['name']}] checkpoint at iteration {self.iteration}: {self.out_dir / LAST}")
        if prefetch is not None:
            prefetch.shutdown(wait=True, cancel_futures=True)
        self.tb.close()
        if old_handler is not None:
            for s, h in old_handler.items():
                signal.signal(s, h)

    def _validate(self, it: int) -> None:
        val = self.validator.run(self.model.shipped_net)
        self.last_validation = {"iter": it, **val}
        self._append_log({"iter": it, "val": val})
        self.tb.add(it, {f"val/{s}/{k}": v for s, r in val.items() for k, v in r.items()})
        text = " ".join(validation_text(s, r) for s, r in val.items())
        self.log(f"[{self.cfg['name']}] validation at iteration {it} ({len(self.validator.bank.images)} held-out "
                 f"images): {text}")

    def _append_log(self, rec: Dict[str, Any]) -> None:
        append_text(self.out_dir / LOG, json.dumps(rec) + "\n")

    def _log_line(self, it: int, elapsed: float, rate: float, losses: Dict[str, float]) -> None:
        rec = {"iter": it, "time_s": round(self.wall_time_before + elapsed, 2), "it_per_s": round(rate, 5),
               "lr_g": self.model.opt_g.param_groups[0]["lr"], **{k: round(v, 6) for k, v in losses.items()}}
        self._append_log(rec)
        self.tb.add(it, {"train/" + k: v for k, v in losses.items()} | {"train/lr_g": rec["lr_g"],
                                                                          "train/it_per_s": rate})
        parts = " ".join(f"{k} {v:.5f}" for k, v in losses.items())
        eta = (self.max_iters - it) / rate if rate > 0 else float("inf")
        eta_s = f"{eta / 3600:.1f} h" if math.isfinite(eta) else "?"
        self.log(f"[{self.cfg['name']}] iter {it}/{self.max_iters} {parts} | {rate:.3f} it/s "
                 f"({rate * 3600:.0f} it/h) | eta {eta_s}")


def validation_text(name: str, result: Dict[str, float]) -> str:
    """One validation entry for the log line: ``x4 31.20 dB lpips 0.1500`` for a held-out scale,
    ``photo_x4 cell/bicubic 1.25`` for the real photos (the entry holds what was measured)."""
    parts = [name]
    if "psnr_y" in result:
        parts.append(f"{result['psnr_y']:.2f} dB")
    if "lpips" in result:
        parts.append(f"lpips {result['lpips']:.4f}")
    if "cell_to_bicubic" in result:
        parts.append(f"cell/bicubic {result['cell_to_bicubic']:.2f}")
    return " ".join(parts)


def train(cfg: Dict[str, Any], out_dir: str | os.PathLike, **kwargs) -> TrainResult:
    """Build a :class:`Trainer` and run it; tears the process group down when it made one."""
    trainer = Trainer(cfg, out_dir, **kwargs)
    try:
        return trainer.run()
    finally:
        if trainer.dist.enabled and dist.is_initialized():
            dist.destroy_process_group()
