"""The report's reads on a synthetic sweep in the in-memory tracking store (no MLflow
server; ``test_report_data.py`` reads the same sweep from a real server)."""

from __future__ import annotations

import uuid

import pytest
from report_synthetic import CURVE_KEYS, make_sweep

from ncsweep.report.data import load_sweep
from ncsweep.tracking import MetricPoint, open_store
from ncsweep.tracking.memory_store import drop_memory_store


@pytest.fixture
def uri():
    name = f"memory://report-{uuid.uuid4().hex[:8]}"
    yield name
    drop_memory_store(name)


def test_statuses_config_spaces_and_best_of_a_running_sweep(uri):
    make_sweep(uri, "syn", 14, running=True)
    data = load_sweep(uri, "syn")
    statuses = [t.status for t in data.trials]
    assert statuses.count("failed") == 2 and statuses.count("stopped early") == 2
    assert statuses.count("running") == 1 and statuses.count("finished") == 9
    assert data.parent_status == "RUNNING" and data.parent_end_ms is None
    assert data.config["families"] == ["ce", "nonl"] and data.config["objective"] == "pareto"
    assert data.families == ["ce", "nonl"]
    assert [t.row.family for t in data.trials] == ["ce"] * 7 + ["nonl"] * 7
    failed = [t for t in data.trials if t.status == "failed"]
    assert all(t.failure.startswith("non-finite loss at step") for t in failed)
    # each family's search space, read back from the parent's artifacts
    assert set(data.spaces) == {"ce", "nonl"}
    assert "optim.lr" in {p.key for p in data.spaces["nonl"]}
    # best: the finished trial with the highest val/acc1
    for family, best in data.best.items():
        mine = [t for t in data.trials if t.row.family == family and t.row.complete]
        assert best.row.acc1 == max(t.row.acc1 for t in mine)


def test_histories_by_step_and_cached(uri):
    make_sweep(uri, "syn", 4, evals=5, steps_per_eval=10)
    data = load_sweep(uri, "syn")
    run_ids = [t.row.run_id for t in data.trials]
    keys = [f"nc/{CURVE_KEYS[0]}", "val/acc1"]
    got = data.histories(run_ids, keys)
    store = open_store(uri)
    for run_id in run_ids:
        for key in keys:
            assert [s for s, _ in got[run_id][key]] == [10, 20, 30, 40, 50]
            assert got[run_id][key] == sorted(store.metric_history(run_id, key))
    # a second read comes from the cache: a point written since does not show
    store.log_batch(run_ids[0], metrics=[MetricPoint(keys[0], 1.0, 0, 60)])
    assert data.histories(run_ids[:1], keys[:1])[run_ids[0]][keys[0]] == got[run_ids[0]][keys[0]]
    assert load_sweep(uri, "syn").histories(run_ids[:1], keys[:1])[run_ids[0]][keys[0]][-1] == (
        60,
        1.0,
    )


def test_a_finished_sweep_has_its_end_time(uri):
    make_sweep(uri, "done", 4)
    data = load_sweep(uri, "done")
    assert data.parent_status == "FINISHED" and data.parent_end_ms
    assert {t.status for t in data.trials} == {"finished"}
