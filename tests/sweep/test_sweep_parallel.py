"""Families in parallel: one driver runs every family's Tune run at once, sharing the
cluster, with the same per-family budgets, studies and MLflow layout; a stop (here a spent
time budget) ends every family as resumable, and the resume runs each trial once."""

from __future__ import annotations

import pytest
from rich.console import Console

from ncsweep.status import RunState
from ncsweep.sweep import SweepConfig, collect_rows, run_sweep
from ncsweep.sweep.leaderboard import child_runs, find_parent
from ncsweep.sweep.study import load_study
from ncsweep.sweep.tuning import SweepInterrupted

pytestmark = pytest.mark.slow

FAMILIES = ["ce", "ntce"]


def _parallel_sweep(name: str, tmp_path, uri: str, trials: int, epochs: int, **settings):
    """Two families, each one trial at a time (the test cluster has 2 CPUs), no ASHA."""
    return SweepConfig(
        name=name,
        families=FAMILIES,
        trials=trials,
        max_concurrent=1,
        parallel_families=True,
        storage=str(tmp_path / "ray"),
        tracking_uri=uri,
        scheduler="none",
        overrides=[f"run.epochs={epochs}", "eval.val_nc=false"],
        **settings,
    )


def _spans(uri: str, name: str) -> dict[str, list[tuple[int, int]]]:
    """``{family: [(start, end) of each trial run, ms]}``."""
    experiment_id, parent = find_parent(uri, name)
    spans: dict[str, list[tuple[int, int]]] = {}
    for run in child_runs(uri, experiment_id, parent):
        family = run.data.tags["ncsweep.loss"]
        spans.setdefault(family, []).append((run.info.start_time, run.info.end_time))
    return spans


def test_families_run_at_once_with_their_own_budgets_and_studies(
    ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = _parallel_sweep("together", tmp_path, mlflow_server, 3, 3)
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


def test_a_stop_ends_every_family_resumably_and_the_resume_runs_each_trial_once(
    ray_session, mlflow_server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    # 5 s: Tune takes ~4 s to start the first trials, a ce trial of 25 epochs ~2 s
    config = _parallel_sweep("halted", tmp_path, mlflow_server, 4, 25, time_budget="5s")
    console = Console(record=True, width=200)
    with pytest.raises(SweepInterrupted):
        run_sweep(config, console, out_dir=tmp_path / "best")
    assert "budget of 5 s spent" in console.export_text()
    experiment_id, parent = find_parent(mlflow_server, "halted")
    finished = [r for r in collect_rows(mlflow_server, "halted") if r.status == RunState.FINISHED]
    assert len(finished) < 8, "the budget did not stop the sweep"

    resumed = config.model_copy(update={"time_budget": None})
    run_sweep(resumed, Console(width=200), out_dir=tmp_path / "best", resume=True)
    rows = collect_rows(mlflow_server, "halted")
    assert sorted(r.status for r in rows) == [RunState.FINISHED] * 8
    assert len({(r.family, r.trial_id) for r in rows}) == 8
    for family in FAMILIES:
        assert len(load_study(config.storage, "halted", family).trials) == 4
