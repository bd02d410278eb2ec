"""One read of a sweep's runs, and its snapshot: read instead of MLflow only while it matches
the parent run as it ended (in-memory store, snapshot in a local folder)."""

from __future__ import annotations

import gzip
import uuid

import pytest
from test_leaderboard_store import _sweep, _trial

from ncsweep.config import SpecError
from ncsweep.sweep.confirmation import confirmed_results
from ncsweep.sweep.leaderboard import collect_rows
from ncsweep.sweep.records import SNAPSHOT_FILE, read_sweep, save_snapshot
from ncsweep.tracking import TAG_ORPHANED, finish_run, open_store
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
    assert snap.from_snapshot
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
