"""The leaderboard and the export, read from trials written into the in-memory tracking
store the way a sweep leaves them in MLflow (no Ray, no MLflow server).
``test_sweep_e2e.py`` checks the same on a real sweep."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
import yaml

from ncsweep.sweep.export import export_best, pareto_rows
from ncsweep.sweep.leaderboard import (
    best_per_family,
    collect_rows,
    leaderboard_table,
    rows_to_csv,
    rows_to_json,
    sweep_objective,
)
from ncsweep.tracking import (
    PARENT_TAG,
    TAG_FAMILY,
    TAG_KIND,
    TAG_SWEEP,
    TAG_TRIAL,
    MetricPoint,
    ensure_experiment,
    finish_run,
    log_params,
    open_store,
    start_run,
)
from ncsweep.tracking.memory_store import drop_memory_store

TOTAL = 100


@pytest.fixture
def uri():
    name = f"memory://leaderboard-{uuid.uuid4().hex[:8]}"
    yield name
    drop_memory_store(name)


def _sweep(
    uri: str, name: str = "lb", objective: str = "accuracy", **params: object
) -> tuple[str, str]:
    experiment = ensure_experiment(uri, name)
    parent = start_run(uri, experiment, name, {TAG_SWEEP: name, TAG_KIND: "sweep"})
    log_params(uri, parent, {"objective": objective, **params})
    return experiment, parent


def _trial(
    uri: str,
    experiment: str,
    parent: str,
    family: str,
    trial: str,
    acc1: float | None,
    *,
    step: int = TOTAL,
    status: str = "FINISHED",
    nc_iters: int | None = None,
    extra: dict[str, float] | None = None,
) -> str:
    tags = {TAG_SWEEP: "lb", TAG_FAMILY: family, TAG_TRIAL: trial, TAG_KIND: "train"}
    run_id = start_run(uri, experiment, trial, tags, parent_run_id=parent)
    metrics = {"step": step, "total_steps": TOTAL, "nc_score/nc1": 90.0, **(extra or {})}
    if acc1 is not None:
        metrics["val/acc1"] = acc1
    if nc_iters is not None:
        metrics["nc_iters/nc1"] = nc_iters
    points = [MetricPoint(k, float(v), 0, step) for k, v in metrics.items()]
    store = open_store(uri)
    store.log_batch(run_id, metrics=points)
    spec = {"loss": {"name": family}, "run": {"name": trial, "storage_path": "/tmp/x"}}
    store.log_text(run_id, yaml.safe_dump(spec), "spec.yaml")
    if status != "RUNNING":
        finish_run(uri, run_id, status)
    return run_id


def test_best_per_family_is_the_best_complete_trial(uri):
    experiment, parent = _sweep(uri)
    _trial(uri, experiment, parent, "ce", "ce_1", 0.80)
    best_ce = _trial(uri, experiment, parent, "ce", "ce_2", 0.85)
    # better accuracy but not complete: stopped early, failed, still running
    _trial(uri, experiment, parent, "ce", "ce_3", 0.99, step=40, status="KILLED")
    _trial(uri, experiment, parent, "ce", "ce_4", 0.98, status="FAILED")
    _trial(uri, experiment, parent, "ce", "ce_5", 0.97, status="RUNNING")
    _trial(uri, experiment, parent, "nonl", "nonl_1", None)  # no objective value: never best
    best_nonl = _trial(uri, experiment, parent, "nonl", "nonl_2", 0.70)
    rows = collect_rows(uri, "lb")

    assert len(rows) == 7
    # by family, best first (incomplete trials too: the ranking is by value)
    assert [r.trial_id for r in rows] == [
        "ce_3", "ce_4", "ce_5", "ce_2", "ce_1", "nonl_2", "nonl_1"
    ]  # fmt: skip
    assert [r.complete for r in rows[:3]] == [False, False, False]
    best = best_per_family(rows)
    assert {f: r.run_id for f, r in best.items()} == {"ce": best_ce, "nonl": best_nonl}

    table = leaderboard_table(rows, "Leaderboard: lb")
    cells = {c.header: c._cells for c in table.columns}
    assert cells["family"] == ["ce", "nonl"]
    assert cells["val/acc1"] == ["0.8500", "0.7000"]
    assert cells["trials ok/stop/fail"] == ["2/2/1", "2/0/0"]
    assert sweep_objective(uri, "lb") == "accuracy"


def test_ties_go_to_fewer_steps_to_the_nc_threshold(uri):
    experiment, parent = _sweep(uri)
    _trial(uri, experiment, parent, "ce", "slow", 0.9, nc_iters=80)
    fast = _trial(uri, experiment, parent, "ce", "fast", 0.9, nc_iters=30)
    _trial(uri, experiment, parent, "ce", "never", 0.9)  # censored at the budget: 100 steps
    rows = collect_rows(uri, "lb")
    assert [r.trial_id for r in rows] == ["fast", "slow", "never"]
    assert best_per_family(rows)["ce"].run_id == fast
    assert [r.nc_steps for r in rows] == [30.0, 80.0, 100.0]


def test_an_eval_objective_ranks_by_its_direction(uri):
    experiment, parent = _sweep(uri, objective="eval/corruption/mean_error")
    _trial(uri, experiment, parent, "ce", "high", 0.95, extra={"eval/corruption/mean_error": 0.4})
    low = _trial(
        uri, experiment, parent, "ce", "low", 0.80, extra={"eval/corruption/mean_error": 0.2}
    )
    rows = collect_rows(uri, "lb", objective="eval/corruption/mean_error")
    assert best_per_family(rows, "eval/corruption/mean_error")["ce"].run_id == low
    lines = list(csv.DictReader(io.StringIO(rows_to_csv(rows, "eval/corruption/mean_error"))))
    assert [(r["trial_id"], r["objective"]) for r in lines] == [("low", "0.2"), ("high", "0.4")]


def test_export_writes_the_best_spec_with_its_provenance(uri, tmp_path):
    experiment, parent = _sweep(uri)
    _trial(uri, experiment, parent, "ce", "ce_1", 0.80)
    best = _trial(uri, experiment, parent, "ce", "ce_2", 0.85, nc_iters=50)
    rows = collect_rows(uri, "lb")
    written = export_best(uri, "lb", rows, tmp_path / "best", seed=7)

    assert [p.name for p in written] == ["ce.yaml"]
    document = yaml.safe_load(written[0].read_text())
    assert document["loss"] == {"name": "ce"}
    assert document["run"]["name"] is None and document["run"]["storage_path"] is None
    provenance = document["provenance"]
    assert provenance["mlflow_run_id"] == best and provenance["trial_id"] == "ce_2"
    assert provenance["objective"]["value"] == 0.85 and provenance["seed"] == 7
    assert provenance["metrics"]["nc_iters/nc1"] == 50
    assert json.loads(rows_to_json(rows))[0]["run_id"] == best


def test_deleted_and_other_sweeps_runs_are_not_trials(uri):
    experiment, parent = _sweep(uri)
    kept = _trial(uri, experiment, parent, "ce", "ce_1", 0.8)
    orphan = _trial(uri, experiment, parent, "ce", "ce_2", 0.9)
    open_store(uri).delete_run(orphan)  # what drop_orphans does to a trial Tune forgot
    start_run(uri, experiment, "stray", {PARENT_TAG: "someone-else"})
    assert [r.run_id for r in collect_rows(uri, "lb")] == [kept]


def test_constraints_rank_infeasible_trials_last_and_never_export_them(uri, tmp_path):
    # as the sweep logs them: the list param (its repr), relative to the best CE trial
    experiment, parent = _sweep(uri, constraint=["val/acc1>=ce-0.5"], accuracy_delta=0.5)
    _trial(uri, experiment, parent, "ce", "ce_best", 0.90, nc_iters=90)
    _trial(uri, experiment, parent, "ce", "ce_near", 0.896, nc_iters=20)
    kept = _trial(uri, experiment, parent, "scl", "scl_ok", 0.895, nc_iters=60)
    _trial(uri, experiment, parent, "scl", "scl_fast", 0.894, nc_iters=10)
    _trial(uri, experiment, parent, "nonl", "nonl_low", 0.80)  # nothing feasible in nonl
    rows = collect_rows(uri, "lb", objective="pareto")

    feasible = {r.trial_id: r.feasible for r in rows}
    assert feasible == {
        "ce_best": True, "ce_near": True, "scl_ok": True, "scl_fast": False, "nonl_low": False
    }  # fmt: skip
    assert [r.trial_id for r in rows if r.family == "scl"] == ["scl_ok", "scl_fast"]
    assert best_per_family(rows, "pareto")["scl"].run_id == kept
    assert "nonl" not in best_per_family(rows, "pareto")
    assert [r.trial_id for r in pareto_rows(rows, "scl")] == ["scl_ok"]
    cells = {c.header: c._cells for c in leaderboard_table(rows, "lb", "pareto").columns}
    assert cells["trial"][cells["family"].index("nonl")] == "no feasible trial"
    assert cells["trials ok/stop/fail"][cells["family"].index("scl")] == "2/0/0 (1 infeasible)"

    written = export_best(uri, "lb", rows, tmp_path / "best", seed=0, pareto=True)
    assert sorted(p.name for p in written) == [
        "ce.yaml",
        "ce_pareto.yaml",
        "scl.yaml",
        "scl_pareto.yaml",
    ]
    scl = yaml.safe_load((tmp_path / "best" / "scl.yaml").read_text())["provenance"]
    assert scl["trial_id"] == "scl_ok"
    assert scl["constraints"]["val/acc1>=ce-0.5"] == pytest.approx(0.0)
    front = yaml.safe_load((tmp_path / "best" / "scl_pareto.yaml").read_text())["front"]
    assert [m["provenance"]["trial_id"] for m in front] == ["scl_ok"]


def test_nc_at_accuracy_picks_the_fastest_trial_within_delta_of_the_family_best(uri):
    experiment, parent = _sweep(uri, objective="nc-at-accuracy", constraint=[], accuracy_delta=1.0)
    _trial(uri, experiment, parent, "ce", "accurate", 0.90, nc_iters=80)
    fast = _trial(uri, experiment, parent, "ce", "close", 0.891, nc_iters=40)
    _trial(uri, experiment, parent, "ce", "fastest", 0.85, nc_iters=10)  # 5 points below
    rows = collect_rows(uri, "lb", objective="nc-at-accuracy")
    assert [r.trial_id for r in rows] == ["close", "accurate", "fastest"]
    assert best_per_family(rows, "nc-at-accuracy")["ce"].run_id == fast
