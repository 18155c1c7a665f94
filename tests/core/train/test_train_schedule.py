"""The lr schedules (factor as a function of progress) and the trainer applying them."""

from __future__ import annotations

import json
import math

import pytest

from cisr_zoom.core.train.config import TrainConfigError, from_dict
from cisr_zoom.core.train.schedule import LRSchedule


def test_multistep_without_milestones_is_constant():
    s = LRSchedule("multistep")
    assert [s.factor(i) for i in (0, 10, 10**6)] == [1.0, 1.0, 1.0]


def test_multistep_halves_at_each_milestone():
    s = LRSchedule("multistep", milestones=(10, 20), gamma=0.5)
    assert [s.factor(i) for i in (9, 10, 19, 20, 99)] == [1.0, 0.5, 0.5, 0.25, 0.25]


def test_cosine_warms_up_then_decays_to_the_floor_at_the_iteration_budget():
    s = LRSchedule("cosine", warmup_iters=4, budget_iters=104, min_lr_ratio=0.1)
    assert s.factor(0) == pytest.approx(0.25) and s.factor(3) == pytest.approx(1.0)
    assert s.factor(4) == pytest.approx(1.0)
    assert s.factor(54) == pytest.approx(0.1 + 0.9 * 0.5)        # half way through the decay
    assert s.factor(104) == pytest.approx(0.1) and s.factor(500) == pytest.approx(0.1)
    vals = [s.factor(i) for i in range(4, 105)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))           # monotone decay


def test_cosine_time_budget_ends_the_curve_whatever_the_iteration():
    s = LRSchedule("cosine", budget_iters=10**6, budget_minutes=60)
    assert s.factor(5, minutes=30) == pytest.approx(0.5)
    assert s.factor(5, minutes=60) == pytest.approx(0.0)
    assert s.progress(5, 90) == 1.0


@pytest.mark.parametrize("train, text", [
    ({"schedule": "linear"}, "train.schedule"),
    ({"schedule": "cosine"}, "needs a budget"),
    ({"schedule": "cosine", "budget_iters": 10, "milestones": [5]}, "milestones only apply"),
    ({"milestones": [0]}, "milestones"),
    ({"gamma": 0.0}, "gamma"),
    ({"budget_minutes": -1.0}, "budget_minutes"),
    ({"min_lr_ratio": 2.0}, "min_lr_ratio"),
    ({"bf16": "yes"}, "true, false or"),
])
def test_bad_schedule_settings_are_refused(train, text):
    with pytest.raises(TrainConfigError, match=text):
        from_dict({"train": train})


def test_trainer_follows_the_cosine_curve_and_resume_continues_it(tmp_path, train_images, make_config):
    from cisr_zoom.core.train.trainer import train
    cfg = make_config(train={"schedule": "cosine", "budget_iters": 20, "warmup_iters": 2, "max_iters": 10,
                             "log_every": 1, "checkpoint_every": 5}, datasets={"train": {"dirs": [str(train_images)]}})
    out = tmp_path / "run"
    train(cfg, out, log=lambda s: None)
    cfg["train"]["max_iters"] = 20
    train(cfg, out, resume=True, log=lambda s: None)
    lrs = {r["iter"]: r["lr_g"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "lr_g" in r}
    s = LRSchedule("cosine", warmup_iters=2, budget_iters=20)
    for it in (1, 2, 3, 10, 11, 20):
        assert lrs[it] == pytest.approx(2e-3 * s.factor(it - 1)), it
    assert lrs[20] < lrs[11] < lrs[3]


def test_new_schedule_restarts_the_curve_at_the_resumed_iteration(tmp_path, train_images, make_config):
    from cisr_zoom.core.train.trainer import train
    cfg = make_config(train={"schedule": "cosine", "budget_iters": 10, "max_iters": 10, "log_every": 1},
                      datasets={"train": {"dirs": [str(train_images)]}})
    out = tmp_path / "run"
    train(cfg, out, log=lambda s: None)
    cfg["train"]["max_iters"] = 12
    train(cfg, out, resume=True, new_schedule=True, log=lambda s: None)
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    lrs = {r["iter"]: r["lr_g"] for r in recs if "lr_g" in r}
    assert lrs[10] < 0.05 * 2e-3                      # the first curve ended near zero
    assert lrs[11] == pytest.approx(2e-3)             # the new one starts at the base lr
    assert lrs[12] == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi / 10)))
