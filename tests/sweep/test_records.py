"""One read of a sweep's runs, and its snapshot: read instead of MLflow only while it matches
the parent run as it ended, or, while the sweep runs, its driver's lease generation, with
what changed since read from MLflow (in-memory store, snapshot in a local folder)."""

from __future__ import annotations

import gzip
import time
import uuid

import pytest
from test_leaderboard_store import _sweep, _trial

from ncsweep.config import SpecError
from ncsweep.runtime.ownership import TAG_GENERATION
from ncsweep.sweep.confirmation import confirmed_results
from ncsweep.sweep.leaderboard import collect_rows
from ncsweep.sweep.records import (
    SNAPSHOT_FILE,
    LiveSnapshot,
    SweepRecords,
    read_sweep,
    save_snapshot,
)
from ncsweep.tracking import TAG_ORPHANED, MetricPoint, finish_run, open_store
from ncsweep.tracking.memory_store import drop_memory_store


@pytest.fixture
def uri():
    name = f"memory://records-{uuid.uuid4().hex[:8]}"
    yield name
    drop_memory_store(name)


def _ended_sweep(uri: str) -> tuple[str, list[str]]:
    experiment, parent = _sweep(uri)
    runs = [
        _trial(uri, experiment, parent, "ce", "ce_1", 0.80),
        _trial(uri, experiment, parent, "ce", "ce_2", 0.85),
        _trial(uri, experiment, parent, "nonl", "nonl_1", 0.70, status="FAILED"),
    ]
    open_store(uri).set_tag(runs[0], TAG_ORPHANED, "1")
    finish_run(uri, parent, "FINISHED")
    return parent, runs


def _snapshot(uri: str, storage: str) -> int:
    records = read_sweep(uri, "lb")
    ended = open_store(uri).get_run(records.parent.run_id).end_ms
    save_snapshot(storage, "lb", records, ended)
    return ended


def test_a_matching_snapshot_is_read_instead_of_mlflow(uri, tmp_path):
    parent, runs = _ended_sweep(uri)
    live = read_sweep(uri, "lb")
    assert not live.from_snapshot and live.parent.run_id == parent
    assert {r.run_id for r in live.runs} == set(runs)
    assert {r.run_id for r in live.children()} == set(runs[1:])  # the orphan left out
    _snapshot(uri, str(tmp_path))
    assert (tmp_path / "lb" / SNAPSHOT_FILE).is_file()

    # a trial changed after the snapshot: the snapshot is what is read (documented)
    open_store(uri).log_batch(runs[1], tags={"late": "edit"})
    snap = read_sweep(uri, "lb", str(tmp_path))
    assert snap.from_snapshot and "snapshot of its end" in snap.source()
    assert snap.runs == live.runs  # every field, orphan tag included
    assert "late" not in {k for r in snap.runs for k in r.tags}
    # and what is built on it is the same
    assert collect_rows(uri, "lb", records=snap) == collect_rows(uri, "lb", records=live)
    assert confirmed_results(uri, "lb", records=snap) == confirmed_results(uri, "lb")


def test_a_snapshot_not_matching_the_parent_run_is_not_read(uri, tmp_path):
    parent, _ = _ended_sweep(uri)
    storage = str(tmp_path)
    ended = _snapshot(uri, storage)
    store = open_store(uri)

    store.set_status(parent, "RUNNING")  # resumed: running again
    assert not read_sweep(uri, "lb", storage).from_snapshot
    store.end_run(parent, "FINISHED", ended + 5)  # and ended again, later
    assert not read_sweep(uri, "lb", storage).from_snapshot
    store.end_run(parent, "FINISHED", ended)
    assert read_sweep(uri, "lb", storage).from_snapshot

    # another sweep's parent run (same name, another tracking store) never matches
    other = f"memory://records-{uuid.uuid4().hex[:8]}"
    try:
        _ended_sweep(other)
        assert not read_sweep(other, "lb", storage).from_snapshot
    finally:
        drop_memory_store(other)

    # an unreadable snapshot: MLflow answers
    (tmp_path / "lb" / SNAPSHOT_FILE).write_bytes(gzip.compress(b"{not json"))
    assert not read_sweep(uri, "lb", storage).from_snapshot
    (tmp_path / "lb" / SNAPSHOT_FILE).write_bytes(b"truncated")
    assert not read_sweep(uri, "lb", storage).from_snapshot


def test_no_sweep_of_that_name_is_a_spec_error(uri, tmp_path):
    with pytest.raises(SpecError, match="no MLflow sweep run named 'lb'"):
        read_sweep(uri, "lb", str(tmp_path))


def _running_sweep(uri: str) -> tuple[str, str, list[str]]:
    experiment, parent = _sweep(uri)
    open_store(uri).set_tag(parent, TAG_GENERATION, "7")  # the running driver's lease
    runs = [
        _trial(uri, experiment, parent, "ce", "ce_1", 0.80),
        _trial(uri, experiment, parent, "ce", "ce_2", 0.50, status="RUNNING"),
    ]
    return experiment, parent, runs


def _same_runs(a: SweepRecords, b: SweepRecords) -> None:
    assert {r.run_id: r for r in a.runs} == {r.run_id: r for r in b.runs}


def test_a_running_sweeps_snapshot_is_read_with_what_changed_since(uri, tmp_path):
    experiment, parent, (done, running) = _running_sweep(uri)
    late = _trial(uri, experiment, parent, "ce", "ce_3", 0.4, status="RUNNING")
    storage, store = str(tmp_path), open_store(uri)
    LiveSnapshot(storage, "lb", uri).write()
    assert (tmp_path / "lb" / SNAPSHOT_FILE).is_file()
    # after the driver wrote it: the running trial reports and ends, another one starts
    store.log_batch(running, metrics=[MetricPoint("val/acc1", 0.9, 0, 10)])
    finish_run(uri, running, "FINISHED")
    new = _trial(uri, experiment, parent, "nonl", "nonl_1", 0.6, status="RUNNING")
    # and one ends with an end time long before (a trial stopped long after its last
    # report): neither search of what changed finds it, so it is read by itself
    store.end_run(late, "KILLED", end_ms=1)

    fresh, everything = read_sweep(uri, "lb", storage), read_sweep(uri, "lb")
    assert fresh.from_snapshot and not everything.from_snapshot
    assert "running driver's snapshot" in fresh.source() and "MLflow" in everything.source()
    _same_runs(fresh, everything)
    assert {r.run_id for r in fresh.runs} == {done, running, new, late}
    assert collect_rows(uri, "lb", records=fresh) == collect_rows(uri, "lb", records=everything)

    # what it reads again is what runs or ended lately: a run that ended long before the
    # snapshot and was edited since keeps its snapshot copy (a driver reads all after each
    # family's Tune run, when its verdicts are written)
    store.end_run(done, "FINISHED", end_ms=1)
    LiveSnapshot(storage, "lb", uri).write()
    store.log_batch(done, tags={"late": "edit"})
    assert (
        "late" not in next(r for r in read_sweep(uri, "lb", storage).runs if r.run_id == done).tags
    )
    assert "late" in next(r for r in read_sweep(uri, "lb").runs if r.run_id == done).tags


def test_a_running_snapshot_of_another_driver_or_an_ended_parent_is_not_read(uri, tmp_path):
    _, parent, _ = _running_sweep(uri)
    storage, store = str(tmp_path), open_store(uri)
    LiveSnapshot(storage, "lb", uri).write()
    assert read_sweep(uri, "lb", storage).from_snapshot
    store.set_tag(parent, TAG_GENERATION, "8")  # resumed by another driver
    assert not read_sweep(uri, "lb", storage).from_snapshot
    store.set_tag(parent, TAG_GENERATION, "7")
    finish_run(uri, parent, "KILLED")  # interrupted: ended, with no snapshot of its end
    assert not read_sweep(uri, "lb", storage).from_snapshot


def test_the_driver_writes_its_snapshot_while_it_runs_and_only_with_a_lease(uri, tmp_path):
    _, parent, _ = _running_sweep(uri)
    path = tmp_path / "lb" / SNAPSHOT_FILE
    with LiveSnapshot(str(tmp_path), "lb", uri, every_s=0.05):
        for _ in range(200):
            if path.is_file():
                break
            time.sleep(0.05)
    assert path.is_file() and read_sweep(uri, "lb", str(tmp_path)).from_snapshot
    path.unlink()
    open_store(uri).delete_tag(parent, TAG_GENERATION)  # no lease held: nothing to name
    with LiveSnapshot(str(tmp_path), "lb", uri, every_s=0.05) as live:
        time.sleep(0.5)
        live.write()
    assert not path.exists()


def test_nothing_is_written_once_the_driver_left_the_block(uri, tmp_path):
    _running_sweep(uri)
    path = tmp_path / "lb" / SNAPSHOT_FILE
    with LiveSnapshot(str(tmp_path), "lb", uri, every_s=3600) as live:
        pass
    live.write()  # a read that was in flight when the block ended
    assert not path.exists()
