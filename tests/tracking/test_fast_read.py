"""``open_store(uri, read_only=True)`` (``fast_read.py``) reads what MLflow's own store reads.

The same experiment and runs (tags, params, latest metrics by step with a NaN and a value
logged twice at one step, a deleted run, statuses) read through ``FastReadStore`` and
``MlflowStore``, from a SQLite file and from a tracking server, give equal records; a read
the fast path cannot serve (a missing database file) is MLflow's answer.
"""

from __future__ import annotations

import pytest

from fresh_python import run_fresh
from ncsweep.status import RunState
from ncsweep.tracking import MetricPoint, RunNotFound, open_store
from ncsweep.tracking.fast_read import FastReadStore
from ncsweep.tracking.mlflow_store import MlflowStore


def _fill(uri: str, name: str) -> str:
    store = MlflowStore(uri)
    experiment = store.create_experiment(name, None, {"ncsweep.kind": "training"})
    for index in range(4):
        run = store.create_run(experiment, f"r{index}", {"family": "ce" if index % 2 else "nonl"})
        points = [
            MetricPoint("val/acc1", 0.1 * index, 1000 + index, 1),
            MetricPoint("val/acc1", 0.2 * index, 2000, 2),
            MetricPoint("val/acc1", 0.3 * index, 3000, 2),  # the same step again: latest wins
            MetricPoint("nan/metric", float("nan"), 1000, 1),
        ]
        store.log_batch(run.run_id, points, params={"p": str(index)}, tags={"i": str(index)})
        if index == 3:
            store.delete_run(run.run_id)
        elif index:
            store.end_run(run.run_id, RunState.FINISHED)
    return experiment


def _same(a, b) -> None:
    assert repr(a) == repr(b)  # NaN metrics compare equal by their repr


def _compare(uri: str, name: str) -> None:
    experiment = _fill(uri, name)
    fast, full = open_store(uri, read_only=True), MlflowStore(uri)
    assert isinstance(fast, FastReadStore)
    _same(fast.get_experiment(name), full.get_experiment(name))
    assert fast.get_experiment("no such experiment") is None
    _same(fast.search_runs(experiment), full.search_runs(experiment))
    assert len(fast.search_runs(experiment)) == 3  # the deleted run is left out
    for tags, status, limit in (({"family": "ce"}, None, None), ({}, "FINISHED", 1)):
        _same(
            fast.search_runs(experiment, tags, status=status, max_results=limit),
            full.search_runs(experiment, tags, status=status, max_results=limit),
        )
    ends = sorted(run.end_ms for run in full.search_runs(experiment) if run.end_ms)
    for since in (ends[0], ends[-1], ends[-1] + 1):  # every ended run, the last, none
        _same(
            fast.search_runs(experiment, ended_since=since),
            full.search_runs(experiment, ended_since=since),
        )
        assert len(full.search_runs(experiment, ended_since=since)) == sum(e >= since for e in ends)
    for run in full.search_runs(experiment):
        _same(fast.get_run(run.run_id), full.get_run(run.run_id))
    with pytest.raises(RunNotFound):
        fast.get_run("0" * 32)


def test_sqlite_reads_equal_mlflows(tmp_path):
    _compare(f"sqlite:///{tmp_path / 'mlflow.db'}", "fast-sqlite")


def test_server_reads_equal_mlflows(mlflow_server):
    _compare(mlflow_server, "fast-server")


def test_a_missing_database_holds_nothing_and_a_read_does_not_create_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert open_store(uri, read_only=True).get_experiment("x") is None
    assert not (tmp_path / "fresh.db").exists()  # a refused sweep leaves nothing behind


def test_leaderboard_reads_import_no_mlflow(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _fill(uri, "no-import")
    code = (
        "import sys; from ncsweep.sweep.leaderboard import child_runs; "
        "from ncsweep.tracking import open_store; "
        f"store = open_store({uri!r}, read_only=True); "
        "e = store.get_experiment('no-import'); assert len(store.search_runs(e.experiment_id)) == 3; "
        "print(sorted(m for m in ('mlflow', 'sqlalchemy', 'scipy.stats') if m in sys.modules))"
    )
    assert run_fresh(code) == "[]"
