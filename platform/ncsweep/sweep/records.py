"""One read of a sweep's MLflow runs, shared by whatever reads the whole sweep (leaderboard,
confirmation, export, retention, report, ``--status``), and its snapshot beside the sweep.

Why one read: MLflow's run search returns each run whole (every latest metric, param and
tag: about 150 values for a trial) and a tracking server builds each one from its tables,
about 7 ms a run on a 2-core machine. At 5,000 trials one search of the children takes half
a minute, and a command that read them once for its leaderboard and again for the
confirmation stage took twice that.

Why a snapshot: once a sweep's driver has finished, its runs no longer change. The driver
writes the child runs it read at the end (``runs.json.gz`` beside ``sweep.yaml``, in the
sweep's storage), with its parent run's id and end time. A reader that finds the parent run
ended at that same millisecond reads the snapshot instead of searching: one object, not
5,000 runs from the server. A sweep that runs again (``ncsweep resume``, ``ncsweep
confirm``) re-opens its parent run and ends it later, so an older snapshot no longer
matches and is not read; its driver writes a new one. A run changed by hand in the MLflow UI
after the sweep ended is not seen through the snapshot: ``--storage`` left out (or the
snapshot deleted) reads MLflow itself.

While it runs, the driver rewrites the snapshot every :data:`LIVE_EVERY_S` (:class:`LiveSnapshot`):
the runs as it read them, when it began that read, and its lease generation (the parent
run's ``ncsweep.lease_generation``, new for every driver that takes the sweep's lease). A
reader that finds the parent RUNNING under that generation starts from the snapshot and
reads again only the runs that are running now or ended since shortly before the
snapshot's read (:func:`refresh`): a few hundred runs at most, not every trial, so
``--status`` of a running 5,000-trial sweep is as current as a full search at a fraction of
its cost. The driver reads every run again after each family's Tune run, when Tune's
verdicts, orphan tags and removals change runs that had already ended.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, replace

import fsspec

from ..config import SpecError
from ..defaults import default_storage
from ..plan.state import SweepConfig, load_state, sweep_dir
from ..runtime.ownership import TAG_GENERATION
from ..status import RunState
from ..tracking import (
    PARENT_TAG,
    STAGE_SEARCH,
    TAG_KIND,
    TAG_STAGE,
    TAG_SWEEP,
    RunNotFound,
    RunRecord,
    TrackingStore,
    open_store,
    require_reachable,
    sweep_results,
)
from ..tracking.store import newest_first

__all__ = [
    "LIVE_EVERY_S",
    "SNAPSHOT_FILE",
    "LiveSnapshot",
    "NamedSweep",
    "SweepRecords",
    "parent_run",
    "read_named_sweep",
    "read_sweep",
    "refresh",
    "save_snapshot",
    "select_runs",
]

SNAPSHOT_FILE = "runs.json.gz"
_FORMAT = 2
_ENDED = (RunState.FINISHED, RunState.FAILED, RunState.KILLED)
LIVE_EVERY_S = 30.0  # how often a running driver rewrites its snapshot
# A run's end time is its trial's clock: a refresh reads again what ended this long before
# the last read, for clocks a little behind the driver's. (A run read as running that ended
# earlier still, or whose end reached the server late, is read by itself: ``refresh``.)
_CLOCK_SLACK_MS = 10_000

_log = logging.getLogger("ncsweep.sweep")


@dataclass
class SweepRecords:
    """A sweep's runs as read once: its experiment, its parent run (the newest run tagged
    as the sweep) and every child run, those tagged ``ncsweep.orphaned`` included;
    ``from_snapshot``: read from the sweep's snapshot, not from MLflow."""

    experiment_id: str
    parent: RunRecord
    runs: list[RunRecord]
    from_snapshot: bool = False
    snapshot_read_ms: int | None = None  # a running driver's snapshot: when it read them

    def children(self, stage: str | None = STAGE_SEARCH, orphans: bool = False) -> list[RunRecord]:
        """:func:`select_runs` of the sweep's child runs."""
        return select_runs(self.runs, stage, orphans)

    def source(self) -> str:
        """Where the runs were read from, in words."""
        if not self.from_snapshot:
            return "MLflow (one search of every run)"
        if self.snapshot_read_ms is None:
            return f"the sweep's snapshot of its end ({SNAPSHOT_FILE})"
        age = max(0.0, time.time() - self.snapshot_read_ms / 1000)
        return (
            f"its running driver's snapshot ({SNAPSHOT_FILE}, {age:.0f} s old) and, from "
            f"MLflow, the runs running now or ended since"
        )


def select_runs(
    runs: list[RunRecord], stage: str | None = STAGE_SEARCH, orphans: bool = False
) -> list[RunRecord]:
    """The runs of ``stage`` (``ncsweep.stage``; a run without it is a search trial; None:
    every stage), those tagged ``ncsweep.orphaned`` only with ``orphans``."""
    runs = runs if orphans else sweep_results(runs)
    if stage is None:
        return runs
    return [run for run in runs if run.tags.get(TAG_STAGE, STAGE_SEARCH) == stage]


def read_sweep(
    uri_or_store: str | TrackingStore, sweep: str, storage: str | None = None
) -> SweepRecords:
    """Sweep ``sweep``'s runs: from its snapshot in ``storage`` when that matches the
    parent run (module docstring), else one search of MLflow.

    Raises:
        SpecError: MLflow has no sweep run of that name.
    """
    store = (
        uri_or_store
        if isinstance(uri_or_store, TrackingStore)
        else open_store(uri_or_store, read_only=True)
    )
    experiment_id, parent = parent_run(store, sweep)
    snapshot = _read_snapshot(storage, sweep, parent) if storage else None
    if snapshot is None:
        runs = store.search_runs(experiment_id, {PARENT_TAG: parent.run_id})
        return SweepRecords(experiment_id, parent, runs)
    runs = [RunRecord(**run) for run in snapshot["runs"]]
    if snapshot["parent_end_ms"] is None:  # written while the driver runs
        read_ms = snapshot["read_ms"]
        records = SweepRecords(experiment_id, parent, runs, True, read_ms)
        return refresh(store, records, read_ms)
    return SweepRecords(experiment_id, parent, runs, from_snapshot=True)


def refresh(store: TrackingStore, records: SweepRecords, read_ms: int) -> SweepRecords:
    """``records``, read at ``read_ms``, as they are now: the runs running now and those
    that ended since shortly before ``read_ms`` read again, new ones added (two searches);
    a run running then that neither search finds (ended with an older end time: a trial
    stopped long after its last report) is read by itself."""
    tags = {PARENT_TAG: records.parent.run_id}
    since = read_ms - _CLOCK_SLACK_MS
    fresh = {
        run.run_id: run
        for run in [
            *store.search_runs(records.experiment_id, tags, status=RunState.RUNNING),
            *store.search_runs(records.experiment_id, tags, ended_since=since),
        ]
    }
    by_id = {run.run_id: run for run in records.runs}
    for run_id, run in list(by_id.items()):
        if run.status == RunState.RUNNING and run_id not in fresh:
            try:
                fresh[run_id] = store.get_run(run_id)
            except RunNotFound:
                del by_id[run_id]
    by_id.update(fresh)
    return replace(records, runs=newest_first(by_id.values()))


def parent_run(store: TrackingStore, sweep: str) -> tuple[str, RunRecord]:
    """(experiment id, parent run) of sweep ``sweep``: the newest run tagged as the sweep
    in its experiment; SpecError if there is none."""
    experiment = store.get_experiment(sweep)
    parents = (
        store.search_runs(
            experiment.experiment_id, {TAG_SWEEP: sweep, TAG_KIND: "sweep"}, max_results=1
        )
        if experiment
        else []
    )
    if experiment is None or not parents:
        raise SpecError(f"no MLflow sweep run named {sweep!r} at {store.uri}")
    return experiment.experiment_id, parents[0]


@dataclass
class NamedSweep:
    """A sweep found by name for a read command: its saved settings (None when only
    ``--tracking-uri`` found it), its tracking URI and its runs."""

    state: SweepConfig | None
    uri: str
    records: SweepRecords

    @property
    def objective(self) -> str:
        """The objective it ran with (saved settings, else the parent run's params)."""
        if self.state is not None:
            return self.state.objective
        return self.records.parent.params.get("objective", "accuracy")

    @property
    def nc_metric(self) -> str:
        return self.state.nc_metric if self.state else "mean"


def read_named_sweep(name: str, storage: str | None, tracking_uri: str | None) -> NamedSweep:
    """Sweep ``name`` as ``--status`` and ``export`` find it: its settings in ``storage``
    (default storage when None) give the tracking URI unless ``tracking_uri`` is given;
    without settings, ``tracking_uri`` alone. A SpecError says where it looked."""
    where = default_storage(storage)
    try:
        state = load_state(where, name)
    except SpecError:
        if not tracking_uri:
            raise
        state = None
    uri = tracking_uri or (state.tracking_uri if state else "")
    require_reachable(uri)  # a server that is not there: said at once, not after MLflow's retries
    return NamedSweep(state, uri, read_sweep(uri, name, where))


def save_snapshot(
    storage: str,
    sweep: str,
    records: SweepRecords,
    parent_end_ms: int | None,
    read_ms: int | None = None,
) -> None:
    """Write ``records``' child runs as the snapshot of sweep ``sweep`` whose parent run
    ended at ``parent_end_ms`` (call it after the parent run has ended), or, with
    ``parent_end_ms`` None, as read at ``read_ms`` by the running driver of the parent's
    lease generation (:class:`LiveSnapshot`)."""
    data = {
        "format": _FORMAT,
        "parent_run_id": records.parent.run_id,
        "parent_end_ms": parent_end_ms,
        "generation": records.parent.tags.get(TAG_GENERATION),
        "read_ms": read_ms,
        "runs": [asdict(run) for run in records.runs],
    }
    fs, path = fsspec.core.url_to_fs(f"{sweep_dir(storage, sweep)}/{SNAPSHOT_FILE}")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        handle.write(gzip.compress(json.dumps(data).encode(), compresslevel=5))


def _read_snapshot(storage: str, sweep: str, parent: RunRecord) -> dict | None:
    """The snapshot if it was written for ``parent`` as it ended, or while it runs by the
    driver of its lease generation; else None."""
    running = parent.status == RunState.RUNNING
    if not running and (parent.status not in _ENDED or parent.end_ms is None):
        return None
    try:
        fs, path = fsspec.core.url_to_fs(f"{sweep_dir(storage, sweep)}/{SNAPSHOT_FILE}")
        with fs.open(path, "rb") as handle:
            data = json.loads(gzip.decompress(handle.read()))
    except (OSError, ValueError):  # none yet, or unreadable: MLflow answers
        return None
    if data.get("format") != _FORMAT or data.get("parent_run_id") != parent.run_id:
        return None
    if running:
        generation = parent.tags.get(TAG_GENERATION)
        live = data.get("parent_end_ms") is None and data.get("read_ms") is not None
        return data if live and generation and data.get("generation") == generation else None
    return data if data.get("parent_end_ms") == parent.end_ms else None


class LiveSnapshot:
    """While the block runs, a thread rewrites the sweep's snapshot every ``every_s``: a
    full read the first time and after :meth:`read_all`, a :func:`refresh` otherwise. A
    driver without a lease generation (none held) writes none. A failed write is logged
    and tried again at the next turn: the sweep goes on."""

    def __init__(self, storage: str, sweep: str, uri: str, every_s: float = LIVE_EVERY_S) -> None:
        self.storage, self.sweep, self.uri, self.every_s = storage, sweep, uri, every_s
        self._records: SweepRecords | None = None
        self._read_ms = 0
        self._read_all = True
        self._stop = threading.Event()
        self._saving = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="live-snapshot", daemon=True)

    def __enter__(self) -> LiveSnapshot:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop; nothing is written after this returns. A read in flight is not waited for
        (a full one takes half a minute at 5,000 trials): it ends and writes nothing."""
        with self._saving:
            self._stop.set()

    def read_all(self) -> None:
        """Read every run at the next turn (a Tune run ended: its verdicts are written)."""
        self._read_all = True

    def write(self) -> None:
        """One turn: read (all, or what changed) and write the snapshot."""
        store = open_store(self.uri, read_only=True)
        started = int(time.time() * 1000)
        base, self._read_all = (None if self._read_all else self._records), False
        if base is None:
            records = read_sweep(store, self.sweep)
        else:
            _, parent = parent_run(store, self.sweep)
            records = refresh(store, replace(base, parent=parent), self._read_ms)
        if records.parent.status != RunState.RUNNING or not records.parent.tags.get(TAG_GENERATION):
            return
        with self._saving:
            if self._stop.is_set():  # the driver went on: its own snapshot comes at the end
                return
            save_snapshot(self.storage, self.sweep, records, None, started)
        self._records, self._read_ms = records, started

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.write()
            except Exception as err:  # a reader then searches MLflow: slower, not wrong
                _log.warning("sweep %s: run snapshot not written: %s", self.sweep, err)
                self.read_all()
