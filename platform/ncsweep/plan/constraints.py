"""Constraints on a sweep's trials (``--constraint``, repeatable), and their feasibility.

A constraint is ``METRIC OP BOUND`` with ``OP`` one of ``>=`` and ``<=`` and ``BOUND``

- a number, in the metric's own units: ``val/acc1>=0.95`` (``val/acc1`` is a fraction);
- ``FAMILY`` or ``FAMILY-X`` / ``FAMILY+X``: relative to the best value of ``METRIC``
  among the complete trials of loss family ``FAMILY`` (the largest for ``>=``, the
  smallest for ``<=``), ``X`` in **points**: one point is :data:`POINT` (0.01) of the
  metric, one percentage point of an accuracy. ``val/acc1>=ce-0.5`` keeps trials within
  half a percentage point (0.005) of the best CE trial's validation accuracy. ``family``
  names the trial's own family (``val/acc1>=family-0.5``); the ``nc-at-accuracy``
  objective implies that one (:func:`sweep_constraints`).

Feasibility is a number per constraint, Optuna's convention: the *violation*
``bound - value`` (``>=``) or ``value - bound`` (``<=``), feasible when ``<= 0``. A trial
that did not measure the metric violates it by :data:`UNMEASURED`. A relative bound whose
family has no complete trial yet is unknown: the constraint is skipped (``None``), so the
searcher treats the trial as feasible until the reference exists; the leaderboard and the
export judge again at the end, with every trial of the sweep.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .objectives import ACCURACY

__all__ = [
    "FORM",
    "OWN_FAMILY",
    "POINT",
    "UNMEASURED",
    "Constraint",
    "parse_constraint",
    "references",
    "sweep_constraints",
    "violation",
]

POINT = 0.01
OWN_FAMILY = "family"
UNMEASURED = 1.0
FORM = (
    "METRIC>=BOUND or METRIC<=BOUND, BOUND a number (val/acc1>=0.95) or a loss family's "
    "best value plus/minus points, 1 point = 0.01 (val/acc1>=ce-0.5; 'family' = the "
    "trial's own family)"
)

_PATTERN = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_./-]+?)\s*(?P<op>>=|<=)\s*"
    r"(?:(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|"
    r"(?P<family>[A-Za-z_][A-Za-z0-9_]*)\s*(?:(?P<sign>[-+])\s*(?P<points>\d+\.?\d*|\.\d+))?)\s*$"
)


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``; ``family``: the bound is that family's best ``metric`` plus
    ``offset`` (in metric units, points already scaled), else the bound is ``offset``."""

    text: str
    metric: str
    op: str
    family: str | None
    offset: float

    @property
    def larger_is_better(self) -> bool:
        return self.op == ">="

    def reference_family(self, family: str) -> str | None:
        """The family whose best value sets the bound for a trial of ``family``."""
        return family if self.family == OWN_FAMILY else self.family

    def bound(self, reference: float | None) -> float | None:
        """The bound given the reference family's best value (ignored when absolute)."""
        if self.family is None:
            return self.offset
        return None if reference is None else reference + self.offset

    def violation(
        self, metrics: Mapping[str, float | None], reference: float | None
    ) -> float | None:
        """``> 0``: infeasible by that much; ``None``: unknown (no reference yet)."""
        bound = self.bound(reference)
        if bound is None:
            return None
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(float(value)):
            return UNMEASURED
        return bound - float(value) if self.larger_is_better else float(value) - bound


def parse_constraint(text: str) -> Constraint:
    """``val/acc1>=ce-0.5`` -> :class:`Constraint`; a ``ValueError`` names :data:`FORM`."""
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"bad constraint {text!r}; allowed: {FORM}")
    if match["number"] is not None:
        return Constraint(text.strip(), match["metric"], match["op"], None, float(match["number"]))
    points = float(match["points"] or 0.0) * (-1 if match["sign"] == "-" else 1)
    return Constraint(text.strip(), match["metric"], match["op"], match["family"], points * POINT)


def sweep_constraints(
    texts: Sequence[str], objective: str, accuracy_delta: float
) -> list[Constraint]:
    """A sweep's constraints: its ``--constraint`` texts, and for the ``nc-at-accuracy``
    objective ``val/acc1 >= (own family's best) - accuracy_delta`` points."""
    parsed = [parse_constraint(t) for t in texts]
    if objective == "nc-at-accuracy":
        parsed.append(parse_constraint(f"{ACCURACY}>={OWN_FAMILY}-{accuracy_delta:g}"))
    return parsed


def references(
    constraints: Sequence[Constraint], trials: Iterable[tuple[str, Mapping[str, float | None]]]
) -> dict[tuple[str, str, str], float]:
    """``{(family, metric, op): best value}`` over ``trials``, ``(family, metrics)`` pairs
    of complete trials: what relative bounds are measured from."""
    wanted = {(c.metric, c.op) for c in constraints if c.family is not None}
    best: dict[tuple[str, str, str], float] = {}
    for family, metrics in trials:
        for metric, op in wanted:
            value = metrics.get(metric)
            if value is None or not math.isfinite(float(value)):
                continue
            key = (family, metric, op)
            pick = max if op == ">=" else min
            best[key] = pick(best[key], float(value)) if key in best else float(value)
    return best


def violation(
    constraints: Sequence[Constraint],
    family: str,
    metrics: Mapping[str, float | None],
    best: Mapping[tuple[str, str, str], float],
) -> dict[str, float]:
    """Each known constraint's violation for a trial of ``family`` (``> 0``: infeasible),
    keyed by its text; ``best``: :func:`references`."""
    out = {}
    for c in constraints:
        ref = c.reference_family(family)
        value = c.violation(metrics, best.get((ref, c.metric, c.op)) if ref else None)
        if value is not None:
            out[c.text] = value
    return out
