"""Trial schedulers (``--scheduler``), a registry of Ray Tune's schedulers; every rung and
perturbation is counted in ``evaluation`` (the counter each trial result carries), so
``eval.eval_every`` moves the schedule with the evaluations.

- ``asha`` (default): Tune's ``ASHAScheduler`` on ``val/acc1``; under ``--objective pareto``
  :class:`ParetoASHA`, the same asynchronous successive halving, but a rung ranks its trials
  by Pareto dominance (ASHA on accuracy alone stops a trial whose geometry collapses fastest
  as soon as its accuracy is in the bottom of its rung, though the Pareto objective would
  keep it). An ``eval/<suite>/<key>`` objective is measured only when a trial ends, so
  accuracy is the only signal at a rung.
- ``hyperband``: Tune's ``AsyncHyperBandScheduler`` with every HyperBand bracket
  (``floor(log_eta(max_t / grace)) + 1`` of them, bracket ``s`` starting at ``grace * eta^s``
  evaluations), not the synchronous ``HyperBandScheduler``: that one pauses trials until a
  bracket fills, which with a per-family trial budget of a handful and trials that restart
  from checkpoints (a process and a torch import each) costs more than it saves, and it
  waits on brackets a small sweep never fills. Trials are assigned to brackets at random,
  as Li et al.'s asynchronous variant does.
- ``bohb``: the family's Optuna TPE sampler + the same HyperBand brackets: TPE + Hyperband,
  Optuna's own recommendation (its ``TPESampler`` with ``HyperbandPruner``), instead of Ray's
  ``TuneBOHB`` + ``HyperBandForBOHB``. Why: ``TuneBOHB`` replaces the searcher, i.e. the
  per-family Optuna study that is journalled beside the Tune state and resumed after a killed
  driver, the define-by-run conditional spaces, warm starts and constraints; it needs
  ``hpbandster`` and ``ConfigSpace`` (not installed; hpbandster's last release, 0.7.4, is
  from 2019) and
  ``HyperBandForBOHB`` is synchronous (pauses, as above). BOHB's point is a model that
  learns from every budget: here a trial the brackets stop reaches Optuna as PRUNED with
  its intermediate ``val/acc1`` curve (``searcher.CompletedOnlyOptunaSearch``), and TPE ranks
  pruned trials by the budget they reached and their last value, which is BOHB's
  budget-aware model in Optuna's terms. ``bohb`` therefore requires the TPE sampler.
- ``pbt`` / ``pb2``: Tune's ``PopulationBasedTraining`` / ``PB2`` on ``val/acc1`` every
  ``--perturbation-interval`` evaluations: a trial in the bottom quarter continues from a
  top-quarter trial's checkpoint with mutated hyper-parameters (:func:`mutable_params`:
  the learning rate, temperatures and loss weights of the family's space; PBT perturbs
  by x0.8 / x1.2 or resamples and clips to the space's range, PB2 picks them with a GP
  bandit within the range). Trials checkpoint at every evaluation, so the checkpoint a
  perturbation clones is the state the decision saw; the core applies the new values to the
  restored optimiser and loss and records the change (``train/hyperparameters.py``). PB2
  needs scikit-learn (installed with ncsweep). Both need trials that train in the trial
  process (one CPU worker): a Ray Train trial restores from its own Train checkpoints,
  never from the one PBT hands over (:func:`check_fits`).
- ``none``: every trial runs to the end.

The random draws of ``hyperband``, ``bohb``, ``pbt`` and ``pb2`` (brackets, clones,
perturbations) are seeded by the sweep's ``--seed`` and family (``decision_seeds.py``).

``stop_last_trials=False`` everywhere: a trial that reaches ``max_t`` ends by itself; stopped
by the scheduler it would lose its final evaluation, probes and verdict.
"""

from __future__ import annotations

import importlib.util
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

from ray import tune
from ray.tune.schedulers import (
    ASHAScheduler,
    AsyncHyperBandScheduler,
    FIFOScheduler,
    PopulationBasedTraining,
    TrialScheduler,
)
from ray.tune.schedulers.pb2 import PB2
from ray.tune.search import BasicVariantGenerator

from ..config import ExperimentSpec
from ..metric_keys import EVALUATION
from ..plan.objectives import ACCURACY, NC_STEPS, Objective
from ..plan.settings import SchedulerName, SweepSettings
from ..plan.spaces import Param, SearchSpace
from ..registry import Registry
from .decision_seeds import SeededDecisions
from .trial import INACTIVE

__all__ = [
    "SCHEDULERS",
    "ParetoASHA",
    "SchedulerEntry",
    "build_scheduler",
    "check_fits",
    "checkpoints_to_keep",
    "hyperband_brackets",
    "mutable_params",
    "population_search",
    "pareto_ranks",
]


def pareto_ranks(points: dict[str, tuple[float, float]]) -> dict[str, int]:
    """Non-dominated sorting of ``{id: (maximise, minimise)}``: 0 for the Pareto front, 1
    for the front once those are removed, and so on."""
    ranks: dict[str, int] = {}
    left = dict(points)
    rank = 0
    while left:
        front = [
            i
            for i, (up_i, down_i) in left.items()
            if not any(
                up_j >= up_i and down_j <= down_i and (up_j > up_i or down_j < down_i)
                for j, (up_j, down_j) in left.items()
                if j != i
            )
        ]
        for i in front:
            ranks[i] = rank
            del left[i]
        rank += 1
    return ranks


class ParetoASHA(FIFOScheduler):
    """Asynchronous successive halving on two objectives (accuracy up, NC steps down).

    Rungs are at ``grace_period * reduction_factor**k`` evaluations below ``max_t``, as in
    ``ASHAScheduler``. A trial reaching a rung is recorded there with its (accuracy, NC
    steps) and continues if it is on the rung's Pareto front, or among the best
    ``ceil(n / reduction_factor)`` of the ``n`` trials recorded there when they are ordered
    by Pareto rank, then accuracy. A trial without NC steps yet counts as never collapsing.
    """

    def __init__(self, grace_period: int, reduction_factor: int, max_t: int):
        super().__init__()
        self._metric = ACCURACY  # what Tune's strict metric check asks of every result
        self.reduction_factor = reduction_factor
        milestones = []
        milestone = grace_period
        while milestone < max_t:
            milestones.append(milestone)
            milestone *= reduction_factor
        self.rungs: dict[int, dict[str, tuple[float, float]]] = {m: {} for m in milestones}
        self.stopped = 0

    def on_trial_result(self, tune_controller, trial, result: dict[str, Any]) -> str:
        evaluation, accuracy = result.get(EVALUATION), result.get(ACCURACY)
        if evaluation is None or accuracy is None:
            return TrialScheduler.CONTINUE
        steps = result.get(NC_STEPS)
        point = (float(accuracy), math.inf if steps is None else float(steps))
        for milestone in sorted(self.rungs, reverse=True):
            recorded = self.rungs[milestone]
            if evaluation < milestone or trial.trial_id in recorded:
                continue
            recorded[trial.trial_id] = point
            if not self._kept(recorded, trial.trial_id):
                self.stopped += 1
                return TrialScheduler.STOP
            break
        return TrialScheduler.CONTINUE

    def _kept(self, recorded: dict[str, tuple[float, float]], trial_id: str) -> bool:
        ranks = pareto_ranks(recorded)
        if ranks[trial_id] == 0:
            return True
        order = sorted(recorded, key=lambda i: (ranks[i], -recorded[i][0]))
        return order.index(trial_id) < math.ceil(len(recorded) / self.reduction_factor)

    def debug_string(self) -> str:
        sizes = ", ".join(f"{m}: {len(r)}" for m, r in sorted(self.rungs.items()))
        return f"ParetoASHA: rungs {{{sizes}}}, {self.stopped} trials stopped"


def hyperband_brackets(grace: int, reduction_factor: int, max_t: int) -> int:
    """HyperBand's bracket count ``s_max + 1 = floor(log_eta(max_t / grace)) + 1``."""
    return int(math.floor(math.log(max_t / grace, reduction_factor) + 1e-9)) + 1


def mutable_params(space: SearchSpace | None) -> list[Param]:
    """The parameters population-based schedulers mutate: the learning rate, every
    temperature and loss weight the family searches over a range, and that every trial
    has (a conditional parameter may be missing from a trial's config)."""
    if space is None:
        return []
    return [
        p
        for p in space.params
        if not p.when
        and p.type in ("uniform", "loguniform")
        and (
            p.key == "optim.lr"
            or (p.key.startswith("loss.") and p.key.endswith(("temperature", "_weight")))
        )
    ]


def _clip_to(params: list[Param]) -> Callable[[dict], dict]:
    """PBT's ``custom_explore_fn``: a perturbed value (x0.8, x1.2) stays in its range."""
    bounds = {p.key: p.bounds() for p in params}

    def explore(config: dict) -> dict:
        for key, (low, high) in bounds.items():
            if key in config:
                config[key] = min(max(float(config[key]), low), high)
        return config

    return explore


def _domain(param: Param):
    low, high = param.bounds()
    return (tune.loguniform if param.type == "loguniform" else tune.uniform)(low, high)


@dataclass(frozen=True)
class Build:
    """What a scheduler is built from: the sweep's settings and objective, the most
    evaluations a trial of the family makes, the family's search space."""

    settings: SweepSettings
    objective: Objective
    max_evals: int
    space: SearchSpace | None

    @property
    def grace(self) -> int:
        return min(self.settings.grace_period, self.max_evals)

    @property
    def decision_seed(self) -> str:
        """What seeds the scheduler's random decisions: the sweep's seed and family."""
        return f"{self.settings.seed}:{self.space.family if self.space else ''}"


@dataclass(frozen=True)
class SchedulerEntry:
    """``build``: the Tune scheduler; ``population``: it hands checkpoints between trials
    with new hyper-parameters (trials must train in-process, :func:`check_fits`)."""

    build: Callable[[Build], TrialScheduler]
    population: bool = False


def _asha(b: Build) -> TrialScheduler:
    if b.objective.pareto:
        return ParetoASHA(b.grace, b.settings.reduction_factor, b.max_evals)
    return ASHAScheduler(
        time_attr=EVALUATION,
        metric=ACCURACY,
        mode="max",
        grace_period=b.grace,
        reduction_factor=b.settings.reduction_factor,
        max_t=b.max_evals,
        stop_last_trials=False,
    )


class _SeededHyperBand(SeededDecisions, AsyncHyperBandScheduler):
    """Brackets drawn with the sweep's seed (``decision_seeds.py``)."""


class _SeededPBT(SeededDecisions, PopulationBasedTraining):
    """Clones and perturbations drawn with the sweep's seed (``decision_seeds.py``)."""


class _SeededPB2(SeededDecisions, PB2):
    """Clones and GP starting points drawn with the sweep's seed (``decision_seeds.py``)."""


def _hyperband(b: Build) -> TrialScheduler:
    eta = b.settings.reduction_factor
    return _SeededHyperBand(
        seed=b.decision_seed,
        time_attr=EVALUATION,
        metric=ACCURACY,
        mode="max",
        grace_period=b.grace,
        reduction_factor=eta,
        max_t=b.max_evals,
        brackets=hyperband_brackets(b.grace, eta, b.max_evals),
        stop_last_trials=False,
    )


def _population_options(b: Build) -> tuple[dict[str, Any], list[Param]]:
    params = mutable_params(b.space)
    if not params:  # resolve_plan refuses such a sweep first (check_fits)
        raise ValueError(f"--scheduler {b.settings.scheduler}: nothing to mutate")
    return {
        "time_attr": EVALUATION,
        "metric": ACCURACY,
        "mode": "max",
        "perturbation_interval": b.settings.perturbation_interval,
        "require_attrs": False,  # a failed trial's verdict has no evaluation counter
        "custom_explore_fn": _clip_to(params),
        "log_config": False,  # the trial's MLflow run records its changes
    }, params


def _pbt(b: Build) -> TrialScheduler:
    options, params = _population_options(b)
    return _SeededPBT(
        hyperparam_mutations={p.key: _domain(p) for p in params},
        seed=b.decision_seed,
        **options,
    )


def _pb2(b: Build) -> TrialScheduler:
    options, params = _population_options(b)
    return _SeededPB2(
        hyperparam_bounds={p.key: list(p.bounds()) for p in params},
        seed=b.decision_seed,
        **options,
    )


SCHEDULERS: Registry[SchedulerEntry] = Registry("scheduler", sort=False)
SCHEDULERS.register("asha", SchedulerEntry(_asha))
SCHEDULERS.register("hyperband", SchedulerEntry(_hyperband))
SCHEDULERS.register("bohb", SchedulerEntry(_hyperband))  # + TPE: SweepSettings checks it
SCHEDULERS.register("pbt", SchedulerEntry(_pbt, population=True))
SCHEDULERS.register("pb2", SchedulerEntry(_pb2, population=True))
SCHEDULERS.register("none", SchedulerEntry(lambda b: FIFOScheduler()))
assert SCHEDULERS.names() == list(get_args(SchedulerName)), "settings.SchedulerName"


def build_scheduler(
    settings: SweepSettings,
    objective: Objective,
    max_evals: int,
    space: SearchSpace | None = None,
) -> TrialScheduler:
    """The family's scheduler (module docstring); rungs and perturbations in evaluations,
    at most ``max_evals``; ``space``: the family's search space (what PBT/PB2 mutate)."""
    entry = SCHEDULERS.get(settings.scheduler, source="--scheduler")
    return entry.build(Build(settings, objective, max_evals, space))


def checkpoints_to_keep(settings: SweepSettings, keep: int) -> int | None:
    """Checkpoints each trial keeps: ``keep`` (``run.keep_checkpoints``), or all of them
    (None) under a population scheduler. Why all: the checkpoint a perturbation hands to a
    trial is the donor's latest when it decides; the donor keeps evaluating while the
    other trial restarts, and with ``keep`` = 2 Ray deleted it before the restore (a digits
    trial evaluates several times a second). The cost is disk: a trial's evaluations x the
    state's size (model, optimiser)."""
    return None if SCHEDULERS.get(settings.scheduler, source="--scheduler").population else keep


def population_search(
    space: SearchSpace, trials: int, seed: int, max_concurrent: int
) -> tuple[BasicVariantGenerator, dict[str, Any]]:
    """The initial population of a PBT/PB2 family and the Tuner's ``param_space``.

    Ray refuses a searcher (Optuna) beside population-based schedulers: the population is
    ``trials`` configs drawn from the family's space with ``random.Random(seed)`` (the
    conditions of a conditional space honoured), handed to Tune's basic generator as its
    points to evaluate. Tune needs every key of a point in ``param_space``; a parameter a
    point does not have (its condition is off) is :data:`trial.INACTIVE` there, which the
    trial skips."""
    rng = random.Random(seed)
    points = [space.sample(rng) for _ in range(trials)]
    keys = sorted({key for point in points for key in point})
    population = [{key: point.get(key, INACTIVE) for key in keys} for point in points]
    generator = BasicVariantGenerator(
        points_to_evaluate=population, max_concurrent=max_concurrent, random_state=seed
    )
    return generator, dict.fromkeys(keys, INACTIVE)


def check_fits(
    settings: SweepSettings, spec: ExperimentSpec, in_trial: bool, space: SearchSpace
) -> str | None:
    """Why ``settings.scheduler`` cannot schedule trials like ``spec`` of ``space``, or None.

    A population scheduler needs something to mutate (:func:`mutable_params`) and hands a
    checkpoint to another trial: the trial must train in its own process (``in_trial``),
    and every perturbation must find a checkpoint of the evaluation it decided on
    (``run.checkpoint_every``, when set, must divide the steps between perturbations, which
    needs ``eval.eval_every`` in steps)."""
    entry = SCHEDULERS.get(settings.scheduler, source="--scheduler")
    if not entry.population:
        return None
    name = settings.scheduler
    if name == "pb2" and importlib.util.find_spec("sklearn") is None:
        return "--scheduler pb2 needs scikit-learn (pip install scikit-learn); pbt does not"
    if not mutable_params(space):
        return (
            f"--scheduler {name}: {space.family} searches no learning rate, temperature or "
            "loss weight over a range (uniform or loguniform): nothing to mutate"
        )
    if not in_trial:
        return (
            f"--scheduler {name} needs trials that train in the trial process (run.workers=1, "
            "no GPUs): a Ray Train trial restores from its own checkpoints, not the one "
            f"{name} hands over"
        )
    every = spec.run.checkpoint_every
    if every is None:
        return None  # a sweep trial checkpoints at every evaluation
    if spec.eval.eval_every is None:
        return (
            f"--scheduler {name} with run.checkpoint_every={every}: set eval.eval_every too, "
            "so that perturbations (every --perturbation-interval evaluations) fall on "
            "checkpoints"
        )
    steps = settings.perturbation_interval * spec.eval.eval_every
    if steps % every:
        return (
            f"--scheduler {name}: a perturbation every {steps} steps (--perturbation-interval "
            f"{settings.perturbation_interval} x eval.eval_every {spec.eval.eval_every}) does "
            f"not fall on the checkpoints every {every} steps (run.checkpoint_every)"
        )
    return None
