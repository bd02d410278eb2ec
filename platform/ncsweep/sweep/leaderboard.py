"""The leaderboard of a sweep, read from MLflow (so it works while the sweep runs, after it,
and from any machine that reaches the tracking server).

One row per search trial (its MLflow child run; a confirmation run is not a trial of the
search: ``child_runs``); the best trial of a family is the finished,
full-budget trial with the best value of the sweep's objective (``objectives.Objective``:
``val/acc1`` for ``accuracy`` and ``pareto``, else the ``eval/<suite>/<key>`` in its
direction); ties: higher ``val/acc1``, then fewer steps to the NC threshold. A trial
without a value of the objective is never the best.

Constraints (``--constraint``, and the ``nc-at-accuracy`` objective's accuracy floor:
``plan/constraints.py``) are judged here with every trial's final values, relative bounds
from the best complete trial of their family: an infeasible trial is marked, ranks after
every feasible one, and is never a family's best (nor on its Pareto front, nor exported).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field

from rich.console import JustifyMethod
from rich.table import Table

from .. import metric_keys as keys
from ..geometry.descriptors import paper_five
from ..plan.constraints import Constraint, references, sweep_constraints, violation
from ..plan.objectives import ACCURACY, NC_STEPS, Objective, as_objective, nc_steps
from ..status import RunState
from ..tracking import (
    PARENT_TAG,
    STAGE_SEARCH,
    TAG_FAMILY,
    TAG_TRIAL,
    RunRecord,
    open_store,
)
from .records import SweepRecords, parent_run, read_sweep, select_runs

__all__ = [
    "TrialRow",
    "collect_rows",
    "child_runs",
    "row_from_run",
    "rank_key",
    "find_parent",
    "sweep_objective",
    "sweep_constraint_list",
    "judge",
    "best_per_family",
    "leaderboard_table",
    "nc_steps_table",
    "pareto_table",
    "rows_to_csv",
    "rows_to_json",
    "PAPER_FIVE",
]

#: The NC metrics the paper reports (``geometry.descriptors``), one column each.
PAPER_FIVE = paper_five()


@dataclass
class TrialRow:
    family: str
    trial_id: str
    run_id: str
    status: str
    acc1: float | None
    mean_nc_score: float | None
    nc_steps: float | None
    step: int | None
    total_steps: int | None
    nc_iters: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    #: each constraint's violation (``> 0``: infeasible), by its text (:func:`judge`)
    violations: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """Meets every constraint of the sweep (one without constraints: always)."""
        return all(v <= 0 for v in self.violations.values())

    @property
    def complete(self) -> bool:
        """Finished its whole budget (not stopped early by ASHA, not failed)."""
        return (
            self.status == RunState.FINISHED
            and self.step is not None
            and self.total_steps is not None
            and self.step >= self.total_steps
        )


def find_parent(uri: str, sweep: str) -> tuple[str, str]:
    """(experiment id, parent run id) of sweep ``sweep``; SpecError if there is none."""
    experiment_id, parent = parent_run(open_store(uri, read_only=True), sweep)
    return experiment_id, parent.run_id


def sweep_objective(uri: str, sweep: str) -> str:
    """The objective sweep ``sweep`` ran with, from its parent run's params (``accuracy``
    for a sweep that did not record one)."""
    _, parent = find_parent(uri, sweep)
    return open_store(uri, read_only=True).get_run(parent).params.get("objective", "accuracy")


def sweep_constraint_list(uri: str, sweep: str) -> list[Constraint]:
    """The constraints sweep ``sweep`` ran with, from its parent run's params (its
    ``constraint`` list, and the ``nc-at-accuracy`` objective's floor)."""
    _, parent = find_parent(uri, sweep)
    return _parent_constraints(open_store(uri, read_only=True).get_run(parent).params)


def _parent_constraints(params: dict[str, str]) -> list[Constraint]:
    """:func:`sweep_constraint_list` from the sweep's parent run's ``params``."""
    # MLflow stores the list param as its Python repr
    texts = ast.literal_eval(params.get("constraint", "[]") or "[]")
    return sweep_constraints(
        list(texts), params.get("objective", "accuracy"), float(params.get("accuracy_delta", 0.5))
    )


def judge(rows: list[TrialRow], constraints: list[Constraint]) -> None:
    """Set each row's ``violations``; relative bounds from the complete rows."""
    best = references(constraints, ((r.family, r.metrics) for r in rows if r.complete))
    for row in rows:
        row.violations = violation(constraints, row.family, row.metrics, best)


def row_from_run(run: RunRecord, nc_metric: str = "mean") -> TrialRow:
    """One trial's leaderboard row from its MLflow child run (``objective/nc_steps`` added
    to its metrics, computed with ``nc_metric``, for the objectives that rank by it)."""
    m = dict(run.metrics)
    steps = nc_steps(m, nc_metric)
    if steps is not None and math.isfinite(steps):
        m.setdefault(NC_STEPS, steps)
    return TrialRow(
        family=run.tags.get(TAG_FAMILY, "?"),
        trial_id=run.tags.get(TAG_TRIAL, run.run_name),
        run_id=run.run_id,
        status=run.status,
        acc1=m.get(ACCURACY),
        mean_nc_score=keys.mean_nc_score(m),
        nc_steps=steps,
        step=int(m[keys.STEP]) if keys.STEP in m else None,
        total_steps=int(m[keys.TOTAL_STEPS]) if keys.TOTAL_STEPS in m else None,
        nc_iters={k: int(v) for k, v in keys.per_metric(keys.NC_ITERS, m).items()},
        metrics=dict(m),
    )


def child_runs(
    uri: str,
    experiment_id: str,
    parent: str,
    stage: str | None = STAGE_SEARCH,
    orphans: bool = False,
) -> list[RunRecord]:
    """The child runs of sweep run ``parent`` of ``stage`` (``ncsweep.stage``: the search's
    trials by default, where a run without the tag counts; ``confirm``: the confirmation
    runs; None: all), in one search (pages of 50,000). Runs tagged ``ncsweep.orphaned``
    (kept, not the sweep's results: ``tracking.sweep_results``) only with ``orphans``."""
    runs = open_store(uri, read_only=True).search_runs(experiment_id, {PARENT_TAG: parent})
    return select_runs(runs, stage, orphans)


def rank_key(row: TrialRow, objective: Objective) -> tuple[bool, float, float, float]:
    """Larger is better: feasible first, then the objective, then accuracy, then fewer NC
    steps."""
    return (
        row.feasible,
        objective.score(row.metrics),
        row.acc1 or 0.0,
        -(row.nc_steps if row.nc_steps is not None else float("inf")),
    )


def collect_rows(
    uri: str,
    sweep: str,
    nc_metric: str = "mean",
    objective: str | Objective = "accuracy",
    constraints: list[Constraint] | None = None,
    records: SweepRecords | None = None,
) -> list[TrialRow]:
    """Every trial's row, judged by ``constraints`` (default: the sweep's own, from its
    parent run), by family and best first by ``objective``; from ``records`` when the
    caller has read the sweep already (``records.read_sweep``)."""
    records = records or read_sweep(uri, sweep)
    rows = [row_from_run(run, nc_metric) for run in records.children()]
    judge(rows, _parent_constraints(records.parent.params) if constraints is None else constraints)
    goal = as_objective(objective)
    return sorted(rows, key=lambda r: (r.family, tuple(-v for v in rank_key(r, goal)), r.trial_id))


def best_per_family(
    rows: list[TrialRow], objective: str | Objective = "accuracy"
) -> dict[str, TrialRow]:
    """Per family, the complete feasible trial with the best ``objective`` value (module
    docstring); a family without one is absent."""
    goal = as_objective(objective)
    best: dict[str, TrialRow] = {}
    for row in rows:
        if not row.complete or not row.feasible or goal.value(row.metrics) is None:
            continue
        if row.family not in best or rank_key(row, goal) > rank_key(best[row.family], goal):
            best[row.family] = row
    return best


def _fmt(value, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def _counts(rows: list[TrialRow]) -> str:
    done = sum(r.complete for r in rows)
    failed = sum(r.status == RunState.FAILED for r in rows)
    infeasible = sum(r.complete and not r.feasible for r in rows)
    return f"{done}/{len(rows) - done - failed}/{failed}" + (
        f" ({infeasible} infeasible)" if infeasible else ""
    )


def leaderboard_table(
    rows: list[TrialRow], title: str, objective: str | Objective = "accuracy"
) -> Table:
    """One row per family: its best trial by ``objective``, and its trials finished/stopped
    early/failed; a column for the objective when it is not ``val/acc1``."""
    goal = as_objective(objective)
    extra = goal.metric != ACCURACY and not goal.pareto
    best = best_per_family(rows, goal)
    judged = sorted({k for r in rows for k in r.violations})
    caption = f"ranked by {goal.metric} ({goal.mode})" + (
        f"; feasible only: {', '.join(judged)}" if judged else ""
    )
    table = Table(title=title, caption=caption)
    table.add_column("family", justify="left")
    if extra:
        table.add_column(f"{goal.metric} ({goal.mode})", justify="right")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        (keys.VAL_ACC1, "right"),
        ("mean NC %", "right"),
        ("NC steps", "right"),
        ("trials ok/stop/fail", "right"),
        ("trial", "left"),
        ("run id", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for family in sorted({r.family for r in rows}):
        mine = [r for r in rows if r.family == family]
        top = best.get(family)
        lead = [_fmt(goal.value(top.metrics) if top else None)] if extra else []
        if top is None:
            none = "no feasible trial" if any(r.complete for r in mine) else "-"
            table.add_row(family, *lead, "-", "-", "-", _counts(mine), none, "-")
            continue
        table.add_row(
            family,
            *lead,
            _fmt(top.acc1),
            _fmt(top.mean_nc_score, ".1f"),
            _fmt(top.nc_steps, ".0f"),
            _counts(mine),
            top.trial_id,
            top.run_id[:12],
        )
    return table


def nc_steps_table(
    rows: list[TrialRow], threshold: float = 95.0, objective: str | Objective = "accuracy"
) -> Table:
    """Steps at which the best trial of each family reached the threshold, per paper metric."""
    table = Table(title=f"Steps to {threshold:g} % NC (best trial per family; - = not reached)")
    table.add_column("family")
    for name in PAPER_FIVE:
        table.add_column(name.replace("_", " "), justify="right")
    for family, top in sorted(best_per_family(rows, objective).items()):
        table.add_row(
            family, *(str(top.nc_iters[n]) if n in top.nc_iters else "-" for n in PAPER_FIVE)
        )
    return table


def pareto_table(fronts: dict[str, list[TrialRow]]) -> Table:
    """The non-dominated trials of each family: accuracy up, steps to the NC threshold down."""
    table = Table(title="Pareto front per family (val/acc1 up, NC steps down)")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("family", "left"),
        (keys.VAL_ACC1, "right"),
        ("NC steps", "right"),
        ("mean NC %", "right"),
        ("trial", "left"),
        ("run id", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for family, front in sorted(fronts.items()):
        for row in front:
            table.add_row(
                family,
                _fmt(row.acc1),
                _fmt(row.nc_steps, ".0f"),
                _fmt(row.mean_nc_score, ".1f"),
                row.trial_id,
                row.run_id[:12],
            )
    return table


_CSV_FIELDS = (
    "family",
    "trial_id",
    "run_id",
    "status",
    "complete",
    "feasible",
    "acc1",
    "mean_nc_score",
    "nc_steps",
    "step",
    "total_steps",
)


def rows_to_csv(rows: list[TrialRow], objective: str | Objective = "accuracy") -> str:
    """One line per trial, in ``rows``' order; an ``objective`` column holds the value of
    the sweep's objective (what the rows are ranked by)."""
    goal = as_objective(objective)
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=[*_CSV_FIELDS, "objective", *(keys.NC_ITERS + n for n in PAPER_FIVE)]
    )
    writer.writeheader()
    for r in rows:
        record = {k: getattr(r, k) for k in _CSV_FIELDS}
        record["objective"] = goal.value(r.metrics)
        record.update({keys.NC_ITERS + n: r.nc_iters.get(n, "") for n in PAPER_FIVE})
        writer.writerow(record)
    return out.getvalue()


def rows_to_json(rows: list[TrialRow]) -> str:
    return json.dumps(
        [{**asdict(r), "complete": r.complete, "feasible": r.feasible} for r in rows], indent=2
    )
