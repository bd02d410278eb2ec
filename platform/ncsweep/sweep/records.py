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
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass

import fsspec

from ..config import SpecError
from ..defaults import default_storage
from ..plan.state import SweepConfig, load_state, sweep_dir
from ..status import RunState
from ..tracking import (
    PARENT_TAG,
    STAGE_SEARCH,
    TAG_KIND,
    TAG_STAGE,
    TAG_SWEEP,
    RunRecord,
    TrackingStore,
    open_store,
    require_reachable,
    sweep_results,
)

__all__ = [
    "SNAPSHOT_FILE",
    "NamedSweep",
    "SweepRecords",
    "parent_run",
    "read_named_sweep",
    "read_sweep",
    "save_snapshot",
    "select_runs",
]

SNAPSHOT_FILE = "runs.json.gz"
_FORMAT = 1
_ENDED = (RunState.FINISHED, RunState.FAILED, RunState.KILLED)


@dataclass
class SweepRecords:
    """A sweep's runs as read once: its experiment, its parent run (the newest run tagged
    as the sweep) and every child run, those tagged ``ncsweep.orphaned`` included;
    ``from_snapshot``: read from the sweep's snapshot, not from MLflow."""

    experiment_id: str
    parent: RunRecord
    runs: list[RunRecord]
    from_snapshot: bool = False

    def children(self, stage: str | None = STAGE_SEARCH, orphans: bool = False) -> list[RunRecord]:
        """:func:`select_runs` of the sweep's child runs."""
        return select_runs(self.runs, stage, orphans)


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
    runs = _snapshot_runs(storage, sweep, parent) if storage else None
    if runs is not None:
        return SweepRecords(experiment_id, parent, runs, from_snapshot=True)
    runs = store.search_runs(experiment_id, {PARENT_TAG: parent.run_id})
    return SweepRecords(experiment_id, parent, runs)


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


def save_snapshot(storage: str, sweep: str, records: SweepRecords, parent_end_ms: int) -> None:
    """Write ``records``' child runs as the snapshot of sweep ``sweep`` whose parent run
    ended at ``parent_end_ms``; call it after the parent run has ended."""
    data = {
        "format": _FORMAT,
        "parent_run_id": records.parent.run_id,
        "parent_end_ms": parent_end_ms,
        "runs": [asdict(run) for run in records.runs],
    }
    fs, path = fsspec.core.url_to_fs(f"{sweep_dir(storage, sweep)}/{SNAPSHOT_FILE}")
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        handle.write(gzip.compress(json.dumps(data).encode(), compresslevel=5))


def _snapshot_runs(storage: str, sweep: str, parent: RunRecord) -> list[RunRecord] | None:
    """The snapshot's runs if it was written for ``parent`` as it ended; else None."""
    if parent.status not in _ENDED or parent.end_ms is None:
        return None
    try:
        fs, path = fsspec.core.url_to_fs(f"{sweep_dir(storage, sweep)}/{SNAPSHOT_FILE}")
        with fs.open(path, "rb") as handle:
            data = json.loads(gzip.decompress(handle.read()))
    except (OSError, ValueError):  # none yet, or unreadable: MLflow answers
        return None
    if (
        data.get("format") != _FORMAT
        or data.get("parent_run_id") != parent.run_id
        or data.get("parent_end_ms") != parent.end_ms
    ):
        return None
    return [RunRecord(**run) for run in data["runs"]]
