"""The tracking store's contract, checked on both implementations: the in-memory store and
MLflow on a SQLite file (no server); the same checks against the session's MLflow server
are marked slow.

What the features rely on: tag filters, parents and children, newest-first and by-metric
ordering, the latest value of a metric, histories by step, soft deletes, artifacts.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from ncsweep.tracking import (
    PARENT_TAG,
    TAG_FAILURE,
    MetricLogger,
    MetricPoint,
    RunNotFound,
    TrackingError,
    clear_failure,
    ensure_experiment,
    failure_reason,
    find_run,
    finish_run,
    log_params,
    log_text,
    open_store,
    start_run,
)
from ncsweep.tracking.memory_store import MemoryStore, drop_memory_store
from ncsweep.tracking.mlflow_store import MlflowStore


@pytest.fixture(scope="module")
def sqlite_uri(tmp_path_factory):
    """One SQLite file for the module: each test works in its own experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('store')}/mlflow.db"


@pytest.fixture(params=["memory", "sqlite", pytest.param("server", marks=pytest.mark.mlflow)])
def uri(request, sqlite_uri):
    if request.param == "memory":
        name = f"memory://contract-{uuid.uuid4().hex[:8]}"
        yield name
        drop_memory_store(name)
    elif request.param == "sqlite":
        yield sqlite_uri
    else:
        yield request.getfixturevalue("mlflow_server")


@pytest.fixture
def experiment(uri):
    return ensure_experiment(uri, f"contract-{uuid.uuid4().hex[:8]}")


def _run(uri: str, experiment: str, name: str, **tags: str) -> str:
    run_id = open_store(uri).create_run(experiment, name, tags).run_id
    time.sleep(0.003)  # distinct start times: "newest first" is then well defined
    return run_id


def test_open_store_picks_the_implementation(sqlite_uri):
    memory = open_store("memory://picked")
    try:
        assert isinstance(memory, MemoryStore)
        assert open_store("memory://picked") is memory  # one store per name in the process
        assert open_store(memory) is memory
        assert isinstance(open_store(sqlite_uri), MlflowStore)
    finally:
        drop_memory_store("memory://picked")


def test_experiments_by_name_and_newest(uri):
    store = open_store(uri)
    name = f"exp-{uuid.uuid4().hex[:8]}"
    assert store.get_experiment(name) is None
    experiment_id = ensure_experiment(uri, name)
    found = store.get_experiment(name)
    assert found.experiment_id == experiment_id and found.name == name and not found.deleted
    assert found.tags["mlflow.experimentKind"] == "custom_model_development"
    assert ensure_experiment(uri, name) == experiment_id  # found, not made again
    with pytest.raises(TrackingError):
        store.create_experiment(name, None, {})
    time.sleep(0.01)
    later = ensure_experiment(uri, f"exp-{uuid.uuid4().hex[:8]}")
    assert store.newest_experiment().experiment_id == later


def test_a_run_reads_back_as_a_plain_record(uri, experiment):
    store = open_store(uri)
    before = int(time.time() * 1000)
    run_id = _run(uri, experiment, "trial-a", **{"ncsweep.loss": "ce"})
    run = store.get_run(run_id)
    assert run.run_id == run_id and run.experiment_id == experiment
    assert run.run_name == "trial-a" and run.status == "RUNNING"
    assert before - 1000 <= run.start_ms <= int(time.time() * 1000) + 1000
    assert run.end_ms is None
    assert run.tags["ncsweep.loss"] == "ce" and run.params == {} and run.metrics == {}
    with pytest.raises(RunNotFound):
        store.get_run(uuid.uuid4().hex)


def test_metrics_latest_value_and_histories_by_step(uri, experiment):
    store = open_store(uri)
    run_id = _run(uri, experiment, "r")
    store.log_batch(
        run_id,
        metrics=[
            MetricPoint("val/acc1", 0.5, 1000, 10),
            MetricPoint("val/acc1", 0.7, 1001, 20),
            MetricPoint("val/acc1", 0.6, 1002, 15),  # logged later, at an earlier step
            MetricPoint("val/acc1", 0.65, 1003, 20),  # step 20 again (a resumed trial)
            MetricPoint("nc/nc1", 3.0, 1000, 10),
        ],
        params={"optim.lr": "0.1"},
        tags={"ncsweep.kind": "train"},
    )
    run = store.get_run(run_id)
    # latest by (step, timestamp, value): step 20's later write
    assert run.metrics == {"val/acc1": 0.65, "nc/nc1": 3.0}
    assert run.params == {"optim.lr": "0.1"} and run.tags["ncsweep.kind"] == "train"
    assert store.metric_history(run_id, "val/acc1") == [
        (10, 0.5),
        (20, 0.7),
        (15, 0.6),
        (20, 0.65),
    ]
    assert store.metric_history(run_id, "absent") == []
    other = _run(uri, experiment, "s")
    store.log_batch(other, metrics=[MetricPoint("val/acc1", 0.1, 5, 1)])
    got = store.metric_histories([run_id, other, run_id], ["val/acc1", "nc/nc1", "absent"])
    assert got[run_id] == {
        "val/acc1": [(10, 0.5), (15, 0.6), (20, 0.65)],  # a step's last value, by step
        "nc/nc1": [(10, 3.0)],
    }
    assert got[other] == {"val/acc1": [(1, 0.1)]}


def test_search_by_tags_status_and_order(uri, experiment):
    store = open_store(uri)
    parent = _run(uri, experiment, "sweep", **{"ncsweep.kind": "sweep"})
    children = [
        _run(uri, experiment, f"t{i}", **{PARENT_TAG: parent, "ncsweep.loss": loss})
        for i, loss in enumerate(["ce", "nonl", "ce", "ce"])
    ]
    stranger = _run(uri, experiment, "x", **{PARENT_TAG: uuid.uuid4().hex})
    found = store.search_runs(experiment, {PARENT_TAG: parent})
    assert [r.run_id for r in found] == children[::-1]  # newest first
    ce = store.search_runs(experiment, {PARENT_TAG: parent, "ncsweep.loss": "ce"})
    assert [r.run_id for r in ce] == [children[3], children[2], children[0]]
    everything = [r.run_id for r in store.search_runs(experiment)]
    assert everything == [stranger, *children[::-1], parent]
    first_two = store.search_runs(experiment, {PARENT_TAG: parent}, max_results=2)
    assert [r.run_id for r in first_two] == [children[3], children[2]]

    for run_id, acc in zip(children[:3], (0.3, 0.9, 0.6), strict=True):
        store.log_batch(run_id, metrics=[MetricPoint("val/acc1", acc, 0, 1)])
    by_acc = store.search_runs(experiment, {PARENT_TAG: parent}, descending_by="metrics.val/acc1")
    # highest first; a run without the metric comes last
    assert [r.run_id for r in by_acc] == [children[1], children[2], children[0], children[3]]

    store.end_run(children[0], "FINISHED", end_ms=1234)
    store.end_run(children[1], "FAILED")
    finished = store.search_runs(experiment, {PARENT_TAG: parent}, status="FINISHED")
    assert [r.run_id for r in finished] == [children[0]]
    assert store.get_run(children[0]).end_ms == 1234
    assert store.get_run(children[1]).end_ms is not None
    ended = store.search_runs(experiment, {PARENT_TAG: parent}, ended_since=1235)
    assert [r.run_id for r in ended] == [children[1]]  # ended now; children[0] at 1234
    assert len(store.search_runs(experiment, {PARENT_TAG: parent}, ended_since=1234)) == 2

    store.delete_run(children[2])
    left = store.search_runs(experiment, {PARENT_TAG: parent})
    assert children[2] not in {r.run_id for r in left} and len(left) == 3
    assert store.get_run(children[2]).run_id == children[2]  # a soft delete


def test_status_and_tags_change(uri, experiment):
    store = open_store(uri)
    run_id = _run(uri, experiment, "r")
    store.end_run(run_id, "KILLED", end_ms=5000)
    store.set_status(run_id, "RUNNING")  # re-attached: the end time stays
    run = store.get_run(run_id)
    assert run.status == "RUNNING" and run.end_ms == 5000
    store.set_tag(run_id, "ncsweep.checkpoint", "/ckpt/3")
    store.set_tag(run_id, "ncsweep.checkpoint", "/ckpt/4")
    assert store.get_run(run_id).tags["ncsweep.checkpoint"] == "/ckpt/4"
    store.delete_tag(run_id, "ncsweep.checkpoint")
    assert "ncsweep.checkpoint" not in store.get_run(run_id).tags


def test_artifacts_round_trip(uri, experiment, tmp_path):
    store = open_store(uri)
    run_id = _run(uri, experiment, "r")
    store.log_text(run_id, "loss: {name: ce}\n", "spec.yaml")
    single = tmp_path / "report.html"
    single.write_text("<html></html>")
    store.log_artifact(run_id, str(single), "report")
    folder = tmp_path / "best"
    (folder / "sub").mkdir(parents=True)
    (folder / "ce.yaml").write_text("a: 1\n")
    (folder / "sub" / "nonl.yaml").write_text("b: 2\n")
    store.log_artifacts(run_id, str(folder), "best_configs")

    out = tmp_path / "out"
    out.mkdir()
    assert Path(store.download_artifact(run_id, "spec.yaml", str(out))).read_text() == (
        "loss: {name: ce}\n"
    )
    got = Path(store.download_artifact(run_id, "report/report.html", str(out)))
    assert got.read_text() == "<html></html>"
    tree = Path(store.download_artifact(run_id, "best_configs", str(out)))
    assert (tree / "ce.yaml").read_text() == "a: 1\n"
    assert (tree / "sub" / "nonl.yaml").read_text() == "b: 2\n"
    with pytest.raises((TrackingError, OSError)):
        store.download_artifact(run_id, "absent.yaml", str(out))


def test_run_helpers_work_on_any_store(uri, experiment):
    """``tracking.runs`` (what the runtime logs with) goes through the store."""
    store = open_store(uri)
    parent = start_run(uri, experiment, "sweep", {"ncsweep.kind": "sweep"})
    child = start_run(uri, experiment, "t0", {"ncsweep.trial_id": "t0"}, parent_run_id=parent)
    assert store.get_run(child).tags[PARENT_TAG] == parent
    assert find_run(uri, experiment, {"ncsweep.trial_id": "t0"}) == child
    assert find_run(uri, experiment, {"ncsweep.trial_id": "nope"}) is None

    finish_run(uri, child, "FAILED", "boom")
    assert failure_reason(uri, child) == "boom"
    assert store.get_run(child).status == "FAILED"
    again = start_run(uri, experiment, "t0", {}, reattach={"ncsweep.trial_id": "t0"})
    assert again == child and store.get_run(child).status == "RUNNING"
    clear_failure(uri, child)
    assert TAG_FAILURE not in store.get_run(child).tags

    log_params(uri, child, {"optim.lr": 0.1})
    log_params(uri, child, {"optim.lr": 0.2, "seed": 3})  # a logged param is kept
    assert store.get_run(child).params == {"optim.lr": "0.1", "seed": "3"}

    logger = MetricLogger(uri, child)
    logger.log({"val/acc1": 0.5, "bad": math.nan, "flag": True}, step=3)
    logger.log({"val/acc1": 0.75}, step=4)
    assert store.get_run(child).metrics == {"val/acc1": 0.75}  # non-finite and bools dropped
    assert store.metric_history(child, "val/acc1") == [(3, 0.5), (4, 0.75)]

    log_text(uri, child, "at s3://key:secret@bucket/x", "where.txt")
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(store.download_artifact(child, "where.txt", tmp)).read_text()
    assert "bucket/x" in text and "secret" not in text  # credentials never stored
