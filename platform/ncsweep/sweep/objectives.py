"""What a sweep optimises: accuracy, and how fast the geometry collapses.

``nc_steps`` is the optimizer step at which an NC score first reached the threshold
(``nc_iters/<name>``). A run that never got there is *censored*: it counts as its total
number of steps, so "never" is never better than "at the last step". ``mean`` averages the
censored steps over every NC metric the run reports; the choices are
``geometry.descriptors.OBJECTIVE_NC_METRICS``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import metric_keys as keys

__all__ = ["ACCURACY", "NC_STEPS", "nc_steps", "pareto_front"]

ACCURACY = keys.VAL_ACC1
NC_STEPS = keys.OBJECTIVE_NC_STEPS


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
