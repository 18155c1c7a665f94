"""Learning-rate schedules for short budgets: a factor on the base lr as a function of progress.

``[train] schedule`` selects one:

* ``constant``: the base lr throughout (the CPU configs' original recipe);
* ``multistep`` (the default): ``lr *= gamma`` at each of ``milestones`` (iterations counted
  from the schedule's origin, see below), LIIF's recipe; no milestones means a constant lr;
* ``cosine``: linear warm-up over ``warmup_iters``, then a half cosine from the base lr down to
  ``min_lr_ratio * lr`` at the end of the budget.

The *budget* ends the schedule: ``budget_iters`` iterations and/or ``budget_minutes`` minutes
of training time (whichever ends first), both counted from the schedule's origin, the iteration
at which this schedule started (a fresh run or ``init_g``: 0; recorded in the checkpoint so a
resumed run continues the same curve). Progress is the larger of the two fractions, so a
time budget decays to the end however fast the machine is. After the budget the lr stays at its
final value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Sequence, Tuple

SCHEDULES = ("constant", "multistep", "cosine")


@dataclass(frozen=True)
class LRSchedule:
    """``factor(iters, minutes)`` multiplies the base lr; both arguments are since the origin."""

    kind: str = "multistep"
    milestones: Tuple[int, ...] = ()
    gamma: float = 0.5
    warmup_iters: int = 0
    budget_iters: int = 0          # 0: none
    budget_minutes: float = 0.0    # 0: none
    min_lr_ratio: float = 0.0

    @classmethod
    def from_config(cls, tcfg: Dict[str, Any]) -> "LRSchedule":
        return cls(kind=str(tcfg["schedule"]), milestones=tuple(int(m) for m in tcfg["milestones"]),
                   gamma=float(tcfg["gamma"]), warmup_iters=int(tcfg["warmup_iters"]),
                   budget_iters=int(tcfg["budget_iters"]), budget_minutes=float(tcfg["budget_minutes"]),
                   min_lr_ratio=float(tcfg["min_lr_ratio"]))

    def progress(self, iters: int, minutes: float) -> float:
        """Fraction of the budget used, in [0, 1] (0 when there is no budget)."""
        fr = 0.0
        if self.budget_iters > 0:
            fr = max(fr, iters / self.budget_iters)
        if self.budget_minutes > 0:
            fr = max(fr, minutes / self.budget_minutes)
        return min(fr, 1.0)

    def factor(self, iters: int, minutes: float = 0.0) -> float:
        if self.kind == "constant":
            return 1.0
        if self.kind == "multistep":
            return self.gamma ** sum(1 for m in self.milestones if iters >= m)
        # cosine
        if self.warmup_iters > 0 and iters < self.warmup_iters:
            return (iters + 1) / self.warmup_iters
        p = self.progress(iters, minutes)
        if self.warmup_iters > 0 and self.budget_iters > 0 and self.budget_minutes <= 0:
            span = max(self.budget_iters - self.warmup_iters, 1)
            p = min(max(iters - self.warmup_iters, 0) / span, 1.0)
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * p))

    def describe(self) -> Dict[str, Any]:
        """Plain data for the model card."""
        d: Dict[str, Any] = {"type": self.kind}
        if self.kind == "multistep":
            d.update(milestones=list(self.milestones), gamma=self.gamma)
        if self.kind == "cosine":
            d.update(warmup_iters=self.warmup_iters, min_lr_ratio=self.min_lr_ratio)
        if self.budget_iters:
            d["budget_iters"] = self.budget_iters
        if self.budget_minutes:
            d["budget_minutes"] = self.budget_minutes
        return d


def validate_schedule(tcfg: Dict[str, Any]) -> str | None:
    """An error text for an inconsistent ``[train]`` schedule, or None."""
    if tcfg["schedule"] not in SCHEDULES:
        return f"train.schedule must be one of {', '.join(SCHEDULES)}, got {tcfg['schedule']!r}"
    ms: Sequence = tcfg["milestones"]
    if not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in ms):
        return f"train.milestones must be positive iteration numbers, got {ms!r}"
    if not (isinstance(tcfg["gamma"], (int, float)) and 0 < float(tcfg["gamma"]) <= 1):
        return f"train.gamma must be in (0, 1], got {tcfg['gamma']!r}"
    for key in ("warmup_iters", "budget_iters"):
        if int(tcfg[key]) < 0:
            return f"train.{key} must be >= 0"
    if not (float(tcfg["budget_minutes"]) >= 0 and math.isfinite(float(tcfg["budget_minutes"]))):
        return "train.budget_minutes must be a finite number >= 0"
    if not 0 <= float(tcfg["min_lr_ratio"]) <= 1:
        return "train.min_lr_ratio must be in [0, 1]"
    if tcfg["schedule"] == "cosine" and not (int(tcfg["budget_iters"]) or float(tcfg["budget_minutes"])):
        return "train.schedule = 'cosine' needs a budget: set train.budget_iters or train.budget_minutes"
    if tcfg["schedule"] != "multistep" and ms:
        return "train.milestones only apply to train.schedule = 'multistep' (the default)"
    return None
