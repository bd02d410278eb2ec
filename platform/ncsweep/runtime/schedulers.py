"""Early stopping that follows the sweep's objective.

- ``accuracy`` and ``eval/<suite>/<key>``: Ray Tune's ``ASHAScheduler`` on ``val/acc1`` (an
  ``eval/...`` objective is measured only when a trial ends, so accuracy is the only signal
  at a rung; the sweep says so when it starts).
- ``pareto`` (accuracy up, steps to the NC threshold down): :class:`ParetoASHA`, the same
  asynchronous successive halving, but a rung ranks its trials by Pareto dominance. ASHA on
  accuracy alone stops a trial whose geometry collapses fastest as soon as its accuracy is
  in the bottom of its rung, though the Pareto objective would keep it.
- ``--scheduler none``: every trial runs to the end.
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from ..metric_keys import EVALUATION
from ..plan.objectives import ACCURACY, NC_STEPS, Objective
from ..plan.settings import SweepSettings

__all__ = ["ParetoASHA", "build_scheduler", "pareto_ranks"]


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


def build_scheduler(settings: SweepSettings, objective: Objective, max_evals: int):
    """The family's scheduler (module docstring); rungs in evaluations, at most
    ``max_evals``. ``stop_last_trials=False``: a trial that reaches ``max_t`` ends by itself;
    stopped by the scheduler it would lose its final evaluation, probes and verdict."""
    if settings.scheduler == "none":
        return FIFOScheduler()
    grace = min(settings.grace_period, max_evals)
    if objective.pareto:
        return ParetoASHA(grace, settings.reduction_factor, max_evals)
    return ASHAScheduler(
        time_attr=EVALUATION,
        metric=ACCURACY,
        mode="max",
        grace_period=grace,
        reduction_factor=settings.reduction_factor,
        max_t=max_evals,
        stop_last_trials=False,
    )
