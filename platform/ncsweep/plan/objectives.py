"""What a sweep optimises: accuracy, how fast the geometry collapses, or a suite's metric.

``--objective`` (``SweepSettings.objective``) is one of

- ``accuracy``: maximise ``val/acc1``;
- ``pareto``: maximise ``val/acc1`` and minimise ``objective/nc_steps`` (multi-objective);
- ``nc-at-accuracy``: the paper's claim as an objective, the fewest steps to the NC
  threshold among the trials within ``accuracy_delta`` points (default 0.5, one point =
  0.01) of the best ``val/acc1`` *of the same family* (each family is its own study, and a
  family is judged against its own best accuracy; a cross-family floor is a
  ``--constraint val/acc1>=ce-0.5``). Optuna minimises ``objective/nc_steps`` with the
  constraint ``val/acc1>=family-<delta>`` (``plan/constraints.py``) whose bound is the
  family's best accuracy so far; the leaderboard and the export apply it with every
  trial's final accuracy;
- ``eval/<suite>/<key>``: a metric an evaluation suite measures at the end of each trial
  (``evaluate/``). Its direction and meaning come from the suite's registry entry
  (``SuiteKey``); keys that compare with a baseline run (mCE, long-tail and transfer gains)
  and keys without a direction are refused. The sweep turns the suite on for every trial
  (``eval.suites``); its options come from ``eval.suite_options``.

A suite runs only at the end of a trial, so the objective is in the final result alone:
earlier results carry the key with ``None`` (Tune's strict metric check wants the key in
every result). The searcher learns from final results only; ASHA, when on, keeps stopping
trials by ``val/acc1`` at its rungs (the only signal there), and a stopped trial never
measures the objective (Optuna: PRUNED). A finished trial whose suite left the key
unmeasured (an empty long-tail group) is told to Optuna as FAIL and ranks nowhere.

``nc_steps`` is the optimizer step at which an NC score first reached the threshold
(``nc_iters/<name>``). A run that never got there is *censored*: it counts as its total
number of steps, so "never" is never better than "at the last step". ``mean`` averages the
censored steps over every NC metric the run reports; the choices are
``geometry.descriptors.OBJECTIVE_NC_METRICS``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .. import metric_keys as keys

__all__ = [
    "ACCURACY",
    "NC_STEPS",
    "EVAL_PREFIX",
    "Objective",
    "as_objective",
    "nc_steps",
    "pareto_front",
    "resolve_objective",
]

ACCURACY = keys.VAL_ACC1
NC_STEPS = keys.OBJECTIVE_NC_STEPS
EVAL_PREFIX = "eval/"


@dataclass(frozen=True)
class Objective:
    """A resolved ``--objective``.

    Attributes:
        name: as given (``accuracy``, ``pareto``, ``eval/probes/acc/probe``).
        metrics: the Tune/Optuna metric keys, first = the one a family's best trial is
            ranked by (leaderboard, export, parent run).
        modes: ``max``/``min`` per metric (Optuna: maximize/minimize).
        suite: the evaluation suite that measures it (``None`` for accuracy/pareto).
        meaning: one line, from the suite registry for an eval objective.
    """

    name: str
    metrics: tuple[str, ...]
    modes: tuple[str, ...]
    suite: str | None = None
    meaning: str = ""

    @property
    def pareto(self) -> bool:
        return len(self.metrics) > 1

    @property
    def metric(self) -> str:
        return self.metrics[0]

    @property
    def mode(self) -> str:
        return self.modes[0]

    @property
    def directions(self) -> list[str]:
        """Optuna's study directions."""
        return ["maximize" if m == "max" else "minimize" for m in self.modes]

    def value(self, metrics: dict[str, float]) -> float | None:
        """The ranking metric's value in ``metrics``; None if absent or not finite."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)

    def score(self, metrics: dict[str, float]) -> float:
        """Larger is better, whatever the direction; unmeasured is worst (``-inf``)."""
        value = self.value(metrics)
        if value is None:
            return -math.inf
        return value if self.mode == "max" else -value


_FIXED = {
    "accuracy": Objective("accuracy", (ACCURACY,), ("max",), meaning="validation top-1"),
    "pareto": Objective(
        "pareto",
        (ACCURACY, NC_STEPS),
        ("max", "min"),
        meaning="validation top-1 up, steps to the NC threshold down",
    ),
    "nc-at-accuracy": Objective(
        "nc-at-accuracy",
        (NC_STEPS,),
        ("min",),
        meaning="steps to the NC threshold down, within accuracy_delta points of the "
        "family's best validation top-1",
    ),
}


def _usable(suite) -> list[str]:
    return [k.describe() for k in suite.keys if k.direction and not k.baseline]


def resolve_objective(name: str) -> Objective:
    """``accuracy``, ``pareto`` or ``eval/<suite>/<key>`` -> :class:`Objective`.

    Raises:
        ValueError: an unknown form, suite or key, a comparison key (needs a baseline run)
            or a key without a direction; the message lists what is allowed.
    """
    if name in _FIXED:
        return _FIXED[name]
    from ..evaluate import get_suite, list_suites

    forms = f"{', '.join(_FIXED)}, or eval/<suite>/<key> with <suite> one of " + ", ".join(
        list_suites()
    )
    if not name.startswith(EVAL_PREFIX):
        raise ValueError(f"unknown objective {name!r}; allowed: {forms}")
    suite_name, _, key = name[len(EVAL_PREFIX) :].partition("/")
    if suite_name not in list_suites():
        raise ValueError(f"unknown suite {suite_name!r} in {name!r}; allowed: {forms}")
    suite = get_suite(suite_name)
    allowed = f"allowed keys of suite {suite_name}: " + "; ".join(_usable(suite))
    declared = suite.key(key)
    if declared is None:
        raise ValueError(f"suite {suite_name} reports no key {key!r}; {allowed}")
    if declared.baseline:
        raise ValueError(
            f"{name} compares with a baseline run, which a trial does not have (compute it "
            f"after the sweep with ncsweep evaluate --baseline RUN); {allowed}"
        )
    if declared.direction is None:
        raise ValueError(f"{name} is not a score (no better direction); {allowed}")
    return Objective(name, (name,), (declared.direction,), suite_name, declared.meaning)


def nc_steps(metrics: dict[str, float], nc_metric: str = "mean") -> float | None:
    """Censored steps to the NC threshold for ``nc_metric`` (a name or ``mean``); None if the
    run reported no NC scores yet."""
    total = metrics.get(keys.TOTAL_STEPS)
    names = sorted(keys.per_metric(keys.NC_SCORE, metrics))
    if nc_metric != "mean":
        names = [n for n in names if n == nc_metric]
    if not names or total is None:
        return None
    steps = [float(metrics.get(keys.NC_ITERS + n, total)) for n in names]
    return sum(steps) / len(steps)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points for (maximise first, minimise second).

    A point is dominated when another is at least as good in both and better in one.
    """
    front = []
    for i, (acc_i, steps_i) in enumerate(points):
        dominated = any(
            acc_j >= acc_i and steps_j <= steps_i and (acc_j > acc_i or steps_j < steps_i)
            for j, (acc_j, steps_j) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


def as_objective(objective: str | Objective) -> Objective:
    """``objective`` resolved (a name) or as it is (an :class:`Objective`)."""
    return objective if isinstance(objective, Objective) else resolve_objective(objective)
