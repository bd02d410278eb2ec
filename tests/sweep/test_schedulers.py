"""Early stopping follows the objective: under ``pareto`` a rung ranks by dominance on
(accuracy, NC steps), so a trial whose geometry collapses fastest is kept where ASHA on
accuracy alone stops it."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
from ray.tune.schedulers import (
    ASHAScheduler,
    AsyncHyperBandScheduler,
    FIFOScheduler,
    PopulationBasedTraining,
    TrialScheduler,
)
from ray.tune.schedulers.pb2 import PB2
from ray.tune.schedulers.pbt import _explore

from ncsweep.config import load_spec
from ncsweep.metric_keys import EVALUATION
from ncsweep.plan.objectives import ACCURACY, NC_STEPS, resolve_objective
from ncsweep.plan.settings import SweepSettings
from ncsweep.plan.spaces import load_space
from ncsweep.runtime.decision_seeds import SeededDecisions, decision_seed
from ncsweep.runtime.schedulers import (
    SCHEDULERS,
    ParetoASHA,
    build_scheduler,
    check_fits,
    checkpoints_to_keep,
    hyperband_brackets,
    mutable_params,
    pareto_ranks,
    population_search,
)
from ncsweep.runtime.trial import INACTIVE

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
        ("accuracy", "hyperband", AsyncHyperBandScheduler),
        ("accuracy", "bohb", AsyncHyperBandScheduler),
        ("accuracy", "pbt", PopulationBasedTraining),
        ("accuracy", "pb2", PB2),
        ("accuracy", "none", FIFOScheduler),
    ],
)
def test_the_scheduler_follows_the_objective(objective, scheduler, kind):
    settings = SweepSettings(objective=objective, scheduler=scheduler)
    space = load_space("nonl")
    built = build_scheduler(settings, resolve_objective(objective), max_evals=8, space=space)
    # Ray's class itself, or with its random decisions seeded
    assert type(built) is kind or type(built).__bases__ == (SeededDecisions, kind)


def test_every_scheduler_the_cli_offers_is_registered():
    choices = SweepSettings.model_fields["scheduler"].annotation
    assert SCHEDULERS.names() == list(choices.__args__)


def test_hyperband_runs_every_bracket():
    assert hyperband_brackets(1, 3, 9) == 3  # brackets start at 1, 3 and 9 evaluations
    assert hyperband_brackets(1, 3, 8) == 2 and hyperband_brackets(2, 2, 2) == 1
    built = build_scheduler(
        SweepSettings(scheduler="hyperband"), resolve_objective("accuracy"), max_evals=9
    )
    assert len(built._brackets) == 3


def test_population_schedulers_mutate_lr_temperature_and_loss_weights_within_range():
    space = load_space("nonl")
    keys = [p.key for p in mutable_params(space)]
    assert sorted(keys) == [
        "loss.align_weight",
        "loss.temperature",
        "loss.unif_weight",
        "optim.lr",
    ]  # not weight decay, memory (conditional), anchor or batch size
    pbt = build_scheduler(SweepSettings(scheduler="pbt"), resolve_objective("accuracy"), 8, space)
    explored = pbt._custom_explore_fn({"optim.lr": 5.0, "loss.temperature": 0.001})
    assert explored == {"optim.lr": 0.8, "loss.temperature": 0.05}  # the space's bounds
    pb2 = build_scheduler(SweepSettings(scheduler="pb2"), resolve_objective("accuracy"), 8, space)
    assert pb2._hyperparam_bounds["optim.lr"] == [0.05, 0.8]


def test_the_population_is_drawn_from_the_space_with_inactive_conditionals():
    generator, param_space = population_search(load_space("nonl"), 6, seed=3, max_concurrent=2)
    points = generator._points_to_evaluate
    assert len(points) == 6 and set(param_space) == set(points[0])
    memories = [point["loss.memory"] for point in points]  # only where use_memory is on
    assert INACTIVE in memories and any(isinstance(m, int) for m in memories)
    again, _ = population_search(load_space("nonl"), 6, seed=3, max_concurrent=2)
    assert again._points_to_evaluate == points  # seeded


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scheduler": "pbt", "objective": "pareto"}, "ranks trials by val/acc1 alone"),
        ({"scheduler": "hyperband", "objective": "pareto"}, "use asha"),
    ],
)
def test_schedulers_that_rank_by_accuracy_refuse_the_pareto_objective(settings, message):
    with pytest.raises(ValueError, match=message):
        SweepSettings(**settings)


def test_population_schedulers_need_in_process_trials_and_aligned_checkpoints():
    space = load_space("normface")
    pbt = SweepSettings(scheduler="pbt", perturbation_interval=2)
    spec = load_spec(None, ["loss.name=normface"])
    assert check_fits(pbt, spec, True, space) is None
    assert "trial process" in check_fits(pbt, spec, False, space)
    every_5 = load_spec(None, ["loss.name=normface", "run.checkpoint_every=5"])
    assert "set eval.eval_every" in check_fits(pbt, every_5, True, space)
    aligned = load_spec(None, ["loss.name=normface", "run.checkpoint_every=6", "eval.eval_every=3"])
    assert check_fits(pbt, aligned, True, space) is None  # 2 x 3 steps fall on every 6
    off = load_spec(None, ["loss.name=normface", "run.checkpoint_every=4", "eval.eval_every=3"])
    assert "does not fall on the checkpoints" in check_fits(pbt, off, True, space)
    asha = SweepSettings(scheduler="asha")
    assert check_fits(asha, spec, False, space) is None
    assert checkpoints_to_keep(pbt, 2) is None and checkpoints_to_keep(asha, 2) == 2


def test_a_decision_draws_the_same_numbers_for_the_same_key_and_leaves_the_rest_alone():
    random.seed(1)
    np.random.seed(1)
    untouched = (random.random(), np.random.rand())
    random.seed(1)
    np.random.seed(1)

    def draws(*key) -> tuple:
        with decision_seed(*key):
            return random.random(), random.choice(range(1000)), np.random.rand()

    first = draws("0:nonl", "00003", "result", 4)
    assert (random.random(), np.random.rand()) == untouched  # the driver's own draws
    assert draws("0:nonl", "00003", "result", 4) == first
    for other in (("0:nonl", "00003", "result", 5), ("1:nonl", "00003", "result", 4)):
        assert draws(*other) != first
    # PBT's own perturbation (Ray's code, Python's random) follows the seed
    mutations = {"optim.lr": lambda: random.uniform(0.05, 0.8)}

    def perturbed(key: str) -> dict:
        with decision_seed(key):
            return _explore({"optim.lr": 0.1}, mutations, 0.5, (1.2, 0.8), None)[0]

    assert [perturbed("0") for _ in range(3)] == [perturbed("0")] * 3
    assert len({perturbed(str(seed))["optim.lr"] for seed in range(20)}) > 2


def test_hyperband_puts_trials_in_the_same_brackets_for_the_same_seed():
    def brackets(seed: int, family: str) -> list[int]:
        settings = SweepSettings(scheduler="hyperband", seed=seed)
        space = load_space(family)
        built = build_scheduler(settings, resolve_objective("accuracy"), 9, space)
        trials = [SimpleNamespace(trial_id=f"ab12c_{n:05d}") for n in range(30)]
        for trial in trials:
            built.on_trial_add(None, trial)
        return [built._brackets.index(built._trial_info[t.trial_id]) for t in trials]

    first = brackets(0, "nonl")
    assert brackets(0, "nonl") == first and len(set(first)) == 3  # every bracket used
    assert brackets(1, "nonl") != first and brackets(0, "ce") != first
