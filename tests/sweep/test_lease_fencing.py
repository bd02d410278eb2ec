"""Issue 28: the lease is a lock with a fencing token, and nothing finished is deleted.

Slow or failing storage is the real store (a local folder, the S3 API server) behind a
wrapper that delays or fails its calls, as a hung request or an outage does; the lease
logic itself is the real one. Each scenario checks that at most one driver holds the lease
at any moment (the first gives it up before the second takes it) and that a write of the
old holder never lands over the new one's lease.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ncsweep.runtime.lease import Lease, LeaseHeld, LeaseLost, read_lease
from ncsweep.runtime.lease_store import lease_store
from ncsweep.runtime.ownership import TAG_STORAGE, owner_tags
from ncsweep.runtime.trial import TrialContext
from ncsweep.runtime.tuning import drop_orphans, open_parent
from ncsweep.status import RunState
from ncsweep.tracking import TAG_FAMILY, TAG_KIND, TAG_SWEEP, TAG_TRIAL, finish_run, open_store


class Degraded:
    """The real lease store; once ``delay`` is set its writes wait that long before they
    reach the store (a request in flight), once ``broken`` every call fails."""

    def __init__(self, inner):
        self.inner, self.conditional, self.where = inner, inner.conditional, inner.where
        self.delay, self.broken = 0.0, False

    def _enter(self, write: bool) -> None:
        if self.broken:
            raise OSError("storage unreachable")
        if write and self.delay:
            time.sleep(self.delay)

    def read(self):
        self._enter(False)
        return self.inner.read()

    def create(self, data):
        self._enter(True)
        return self.inner.create(data)

    def replace(self, data, version):
        self._enter(True)
        return self.inner.replace(data, version)

    def remove(self, version):
        self._enter(True)
        return self.inner.remove(version)


TIMES = {"stale_after_s": 0.6, "heartbeat_s": 0.1, "margin_s": 0.2, "settle_s": 0.05}


class Timeline:
    """When each driver held the lease, on this process's monotonic clock."""

    def __init__(self):
        self.events: list[tuple[float, str]] = []

    def mark(self, what: str) -> None:
        self.events.append((time.monotonic(), what))

    def at(self, what: str) -> float:
        return next(t for t, w in self.events if w == what)

    def lease(self, storage, name, command, store, who):
        return Lease(
            storage,
            name,
            command,
            store=store,
            say=lambda text: self.mark(f"{who}: {text}"),
            on_lost=lambda holder: self.mark(f"{who} lost"),
            **TIMES,
        )


def _url(storage: str) -> str:
    return f"{storage}/s/lease.json"


def test_a_heartbeat_write_that_stalls_past_the_takeover_never_lands(storage):
    times = Timeline()
    slow = Degraded(lease_store(_url(storage)))
    first = times.lease(storage, "s", "sweep", slow, "first")
    first.acquire()
    times.mark("first acquired")
    slow.delay = 3.0  # every write from now on hangs for 3 s: the heartbeat stalls
    time.sleep(0.3)  # a write already in flight lands
    second = times.lease(storage, "s", "resume", lease_store(_url(storage)), "second")
    second.acquire()  # watches the stalled lease stop changing, then takes it
    times.mark("second acquired")
    try:
        assert first.lost.is_set()
        assert times.at("first lost") < times.at("second acquired")  # one holder at a time
        with pytest.raises(LeaseLost, match="not deleting"):
            first.verify("deleting runs")
        time.sleep(3.5)  # the stalled heartbeat write arrives now, after the takeover
        holder = read_lease(storage, "s")
        assert holder.token == second.token and holder.generation == first.generation + 1
        assert not second.lost.is_set(), times.events
        second.verify("deleting runs")
        assert not second.lost.is_set(), times.events
    finally:
        second.release()
        first.release()


def test_a_holder_that_cannot_read_its_storage_stops_before_it_is_taken_over(storage):
    times = Timeline()
    failing = Degraded(lease_store(_url(storage)))
    first = times.lease(storage, "s", "sweep", failing, "first")
    first.acquire()
    times.mark("first acquired")
    failing.broken = True  # its reads and writes fail from now on; others' do not
    second = times.lease(storage, "s", "resume", lease_store(_url(storage)), "second")
    second.acquire()
    times.mark("second acquired")
    try:
        assert times.at("first lost") < times.at("second acquired")
        with pytest.raises(LeaseLost):
            first.verify("replacing the journal")
        assert read_lease(storage, "s").token == second.token
    finally:
        second.release()
        first.release()


def test_two_drivers_starting_at_once_on_a_slow_store_cannot_both_win(storage):
    times = Timeline()
    outcomes: dict[str, object] = {}
    leases = {
        who: times.lease(storage, "s", "sweep", Degraded(lease_store(_url(storage))), who)
        for who in ("a", "b")
    }
    leases["b"].store.delay = 0.5  # b's writes land ten times settle_s late, a's at once
    start = threading.Barrier(2)

    def run(who: str) -> None:
        start.wait()
        try:
            outcomes[who] = leases[who].acquire()
        except LeaseHeld as err:
            outcomes[who] = err

    threads = [threading.Thread(target=run, args=(who,)) for who in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        won = [who for who, outcome in outcomes.items() if isinstance(outcome, Lease)]
        refused = [who for who, outcome in outcomes.items() if isinstance(outcome, LeaseHeld)]
        assert len(won) == 1 and len(refused) == 1, outcomes
        assert read_lease(storage, "s").token == leases[won[0]].token
    finally:
        for lease in leases.values():
            lease.release()


def _run(store, experiment_id: str, key: str, storage: str, status: str) -> str:
    tags = {TAG_SWEEP: "fenced", TAG_KIND: "train", TAG_FAMILY: "ce", TAG_TRIAL: key}
    run_id = store.create_run(experiment_id, key, {**tags, TAG_STORAGE: storage}).run_id
    if status != RunState.RUNNING:
        store.end_run(run_id, status)
    return run_id


def test_drop_orphans_keeps_finished_runs_and_others_and_stops_without_the_lease(
    mlflow_server, tmp_path
):
    storage = str(tmp_path / "ray")
    folder = Path(storage) / "fenced" / "ce"
    store = open_store(mlflow_server)
    lease = Lease(storage, "fenced", "sweep", say=lambda text: None, on_lost=lambda h: None)
    with lease:
        experiment_id, parent = open_parent(
            mlflow_server, "fenced", TAG_SWEEP, "sweep", {}, storage
        )
        assert store.get_run(parent).tags[TAG_STORAGE] == storage
        context = TrialContext(
            "fenced",
            TAG_SWEEP,
            mlflow_server,
            experiment_id,
            parent,
            owner=tuple(owner_tags(storage, "fenced").items()),
        )
        assert dict(context.owner)["ncsweep.lease_generation"] == str(lease.generation)
        finished = _run(store, experiment_id, "fin", storage, RunState.FINISHED)
        orphan = _run(store, experiment_id, "run1", storage, RunState.RUNNING)
        theirs = _run(store, experiment_id, "oth", "/another/storage", RunState.RUNNING)
        for key in ("fin", "run1", "zzz"):
            (folder / f"trial_{key}").mkdir(parents=True)
        # a grid that knows none of them: the worst case (a restore that lost them all)
        drop_orphans(context, [], str(folder), f"{storage}/fenced/train", {TAG_FAMILY: "ce"})
        kept = store.get_run(finished)
        assert kept.status == RunState.FINISHED and "ncsweep.orphaned" in kept.tags
        assert (folder / "trial_fin").is_dir()
        assert store.get_run(theirs).status == RunState.RUNNING  # another storage's
        assert {r.run_id for r in store.search_runs(experiment_id)} >= {finished, theirs}
        assert orphan not in {r.run_id for r in store.search_runs(experiment_id)}
        assert not (folder / "trial_run1").exists() and not (folder / "trial_zzz").exists()

        # another driver takes the lease (as a host whose clock runs ahead might have)
        late = _run(store, experiment_id, "run2", storage, RunState.RUNNING)
        (folder / "trial_run2").mkdir()
        lease.store.replace(
            b'{"token": "x", "command": "sweep", "host": "h", "pid": 1, '
            b'"ray_job": null, "started": 0, "generation": 99, "beat": 0}',
            lease.store.read()[1],
        )
        with pytest.raises(LeaseLost, match="generation 99"):
            drop_orphans(context, [], str(folder), f"{storage}/fenced/train", {TAG_FAMILY: "ce"})
        assert store.get_run(late).status == RunState.RUNNING
        assert late in {r.run_id for r in store.search_runs(experiment_id)}
        assert (folder / "trial_run2").is_dir()
        assert store.get_run(finished).status == RunState.FINISHED
    finish_run(mlflow_server, parent)


def test_a_storage_outage_shorter_than_the_lease_time_keeps_the_lease(storage):
    """A failed renewal is tried again within a tenth of a heartbeat: heartbeats at 2 s, the
    lease time 5 s, the storage down from the lease's start for 4.2 s. Retrying only at each
    heartbeat (2 s, 4 s fail; 6 s is after 5 s) would lose it."""
    notes: list[str] = []
    failing = Degraded(lease_store(_url(storage)))
    times = {"stale_after_s": 5.0, "heartbeat_s": 2.0, "settle_s": 0.05}
    lost = threading.Event()
    lease = Lease(
        storage,
        "s",
        "sweep",
        store=failing,
        say=notes.append,
        on_lost=lambda h: lost.set(),
        **times,
    )
    lease.acquire()
    try:
        failing.broken = True
        time.sleep(4.2)
        failing.broken = False
        time.sleep(1.5)  # past the lease time counted from the last renewal before it
        assert not lost.is_set(), notes
        lease.verify("deleting runs")
        assert read_lease(storage, "s").token == lease.token
        failed = [n for n in notes if n.startswith("lease heartbeat")]
        assert len(failed) == 1, notes  # one note for the outage, not one per retry
        assert any("renewed again after" in n for n in notes), notes
    finally:
        lease.release()
