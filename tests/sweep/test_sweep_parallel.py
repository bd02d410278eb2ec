"""Families in parallel: one driver runs every family's Tune run at once, sharing the
cluster, with the same per-family budgets, studies and MLflow layout. (A stop of such a
sweep and its resume: ``test_sweep_budget.py``.)"""

from __future__ import annotations

from rich.console import Console

from ncsweep.runtime.journal import load_study
from ncsweep.status import RunState
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.leaderboard import child_runs, find_parent

FAMILIES = ["ce", "ntce"]


def _spans(uri: str, name: str) -> dict[str, list[tuple[int, int]]]:
    """``{family: [(start, end) of each trial run, ms]}``."""
    experiment_id, parent = find_parent(uri, name)
    spans: dict[str, list[tuple[int, int]]] = {}
    for run in child_runs(uri, experiment_id, parent):
        family = run.tags["ncsweep.loss"]
        spans.setdefault(family, []).append((run.start_ms, run.end_ms))
    return spans


def test_families_run_at_once_with_their_own_budgets_and_studies(
    ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    # each family one trial at a time: the test cluster's 2 CPUs hold one of each
    config = SweepConfig(
        name="together",
        families=FAMILIES,
        trials=3,
        max_concurrent=1,
        parallel_families=True,
        storage=str(tmp_path / "ray"),
        tracking_uri=mlflow_server,
        scheduler="none",
        overrides=["run.epochs=3", "eval.val_nc=false"],
        confirm_top=0,
    )
    outcome = run_sweep(config, Console(width=200), out_dir=tmp_path / "best")
    rows = collect_rows(mlflow_server, "together")
    for family in FAMILIES:
        mine = [r for r in rows if r.family == family]
        assert [r.status for r in mine] == [RunState.FINISHED] * 3, family
        assert len(load_study(config.storage, "together", family).trials) == 3
        assert (tmp_path / "best" / f"{family}.yaml").exists()
    assert len(outcome.exported) == len(FAMILIES)

    spans = _spans(mlflow_server, "together")
    overlapping = [
        (a, b) for a in spans["ce"] for b in spans["ntce"] if a[0] < b[1] and b[0] < a[1]
    ]
    # one after another, no ce trial would overlap an ntce trial
    assert overlapping, spans
