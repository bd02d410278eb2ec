"""Speed of collapse: when a run reaches a score threshold, and when it matches a reference.

docs/paper.md: "Match CE's converged NC in under 7.5 % of its iterations": for each metric take
the reference (CE) run's FINAL value, find the first step at which another run is at least
as good (direction from :data:`~ncsweep.geometry.metrics.METRIC_DIRECTIONS`), and divide
that step by the reference run's last step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .descriptors import METRIC_DIRECTIONS

__all__ = ["NCProgress", "iterations_to_match"]

History = Iterable[tuple[int, Mapping[str, float]]]


class NCProgress:
    """First step at which each score reached ``threshold`` (%).

    Example:
        >>> p = NCProgress(95.0)
        >>> p.update(10, {"nc1": 90.0}); p.update(20, {"nc1": 96.0}); p.update(30, {"nc1": 97.0})
        >>> p.iters
        {'nc1': 20}
    """

    def __init__(self, threshold: float = 95.0) -> None:
        if not 0.0 <= float(threshold) <= 100.0:
            raise ValueError(f"threshold must be in [0, 100] %, got {threshold}")
        self.threshold = float(threshold)
        self._iters: dict[str, int] = {}

    def update(self, step: int, scores: Mapping[str, float]) -> None:
        """Record scores at ``step``; a score counts the first time it is ≥ threshold."""
        for name, score in scores.items():
            if name not in self._iters and float(score) >= self.threshold:
                self._iters[name] = int(step)

    @property
    def iters(self) -> dict[str, int]:
        """``{name: first step at threshold}``; names that never reached it are absent."""
        return dict(self._iters)

    def state_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "iters": dict(self._iters)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.threshold = float(state["threshold"])
        self._iters = {str(k): int(v) for k, v in state["iters"].items()}


def _at_least_as_good(name: str, value: float, target: float) -> bool:
    if METRIC_DIRECTIONS.get(name, "min") == "max":
        return value >= target
    return value <= target


def iterations_to_match(history: History, reference_history: History) -> dict[str, float | None]:
    """Fraction of the reference run's iterations another run needs to match its final NC.

    Args:
        history: ``[(step, {name: raw value}), ...]`` of the run being measured.
        reference_history: same for the reference run (e.g. CE); its final value of a
            metric is the last one recorded, its length is its largest step.

    Returns:
        ``{name: first step where history is at least as good as the reference's final
        value, divided by the reference's last step}`` for every metric in the reference;
        ``None`` where ``history`` never gets there.
    """
    ref = sorted(reference_history, key=lambda item: item[0])
    run = sorted(history, key=lambda item: item[0])
    if not ref:
        raise ValueError("reference_history is empty")
    last_step = ref[-1][0]
    if last_step <= 0:
        raise ValueError(f"the reference's last step must be > 0, got {last_step}")
    final: dict[str, float] = {}
    for _, values in ref:
        final.update({k: float(v) for k, v in values.items()})
    result: dict[str, float | None] = {}
    for name, target in final.items():
        result[name] = None
        for step, values in run:
            if name in values and _at_least_as_good(name, float(values[name]), target):
                result[name] = step / last_step
                break
    return result
