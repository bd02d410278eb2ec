"""Early stopping follows the objective: under ``pareto`` a rung ranks by dominance on
(accuracy, NC steps), so a trial whose geometry collapses fastest is kept where ASHA on
accuracy alone stops it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from ncsweep.metric_keys import EVALUATION
from ncsweep.plan.objectives import ACCURACY, NC_STEPS, resolve_objective
from ncsweep.plan.settings import SweepSettings
from ncsweep.runtime.schedulers import ParetoASHA, build_scheduler, pareto_ranks

# At the first rung: two accurate trials that collapse slowly, one less accurate trial
# whose geometry collapses in a fifth of the steps, one trial worse on both.
RUNG = [
    ("accurate", 0.95, 800.0),
    ("balanced", 0.93, 600.0),
    ("fast_collapse", 0.80, 120.0),
    ("dominated", 0.78, 900.0),
]


def _feed(scheduler, evaluation: int = 1) -> dict[str, str]:
    decisions = {}
    for name, accuracy, steps in RUNG:
        trial = SimpleNamespace(trial_id=name)
        scheduler.on_trial_add(None, trial)
        result = {EVALUATION: evaluation, ACCURACY: accuracy, NC_STEPS: steps}
        decisions[name] = scheduler.on_trial_result(None, trial, result)
    return decisions


def test_asha_on_accuracy_stops_the_fast_collapsing_trial_pareto_keeps_it():
    asha = ASHAScheduler(
        time_attr=EVALUATION,
        metric=ACCURACY,
        mode="max",
        grace_period=1,
        reduction_factor=2,
        max_t=8,
        stop_last_trials=False,
    )
    assert _feed(asha)["fast_collapse"] == TrialScheduler.STOP

    pareto = _feed(ParetoASHA(grace_period=1, reduction_factor=2, max_t=8))
    assert pareto["fast_collapse"] == TrialScheduler.CONTINUE  # on the rung's Pareto front
    assert pareto["dominated"] == TrialScheduler.STOP  # worse on both than fast_collapse
    assert pareto["accurate"] == pareto["balanced"] == TrialScheduler.CONTINUE


def test_pareto_rungs_decide_once_per_rung_and_only_at_rungs():
    scheduler = ParetoASHA(grace_period=1, reduction_factor=2, max_t=8)
    assert sorted(scheduler.rungs) == [1, 2, 4]
    first = _feed(scheduler, evaluation=1)
    again = _feed(scheduler, evaluation=1)  # already recorded at rung 1: no new decision
    assert set(again.values()) == {TrialScheduler.CONTINUE}
    assert first["dominated"] == TrialScheduler.STOP and scheduler.stopped == 1
    trial = SimpleNamespace(trial_id="late")
    no_accuracy = {EVALUATION: 2, ACCURACY: None, NC_STEPS: None}  # a failed verdict
    assert scheduler.on_trial_result(None, trial, no_accuracy) == TrialScheduler.CONTINUE
    assert "late" not in scheduler.rungs[2]


def test_a_trial_without_nc_steps_counts_as_never_collapsing():
    scheduler = ParetoASHA(grace_period=1, reduction_factor=2, max_t=4)
    for name, accuracy, steps in [("collapsed", 0.9, 300.0), ("not_yet", 0.9, None)]:
        result = {EVALUATION: 1, ACCURACY: accuracy, NC_STEPS: steps}
        decision = scheduler.on_trial_result(None, SimpleNamespace(trial_id=name), result)
    assert decision == TrialScheduler.STOP  # same accuracy, dominated by the collapsed one


def test_pareto_ranks_peel_fronts():
    points = {"a": (0.9, 100.0), "b": (0.8, 50.0), "c": (0.7, 200.0), "d": (0.6, 300.0)}
    assert pareto_ranks(points) == {"a": 0, "b": 0, "c": 1, "d": 2}


@pytest.mark.parametrize(
    ("objective", "scheduler", "kind"),
    [
        ("pareto", "asha", ParetoASHA),
        ("accuracy", "asha", ASHAScheduler),
        ("eval/probes/acc/probe", "asha", ASHAScheduler),
        ("pareto", "none", FIFOScheduler),
    ],
)
def test_the_scheduler_follows_the_objective(objective, scheduler, kind):
    settings = SweepSettings(objective=objective, scheduler=scheduler)
    built = build_scheduler(settings, resolve_objective(objective), max_evals=8)
    assert type(built) is kind
