"""MLflow runs for training runs and sweeps, through the tracking store with explicit run ids.

No global ``mlflow.start_run`` state: the driver creates (or re-attaches) a run and hands its
id to the Ray Train workers, where rank 0 logs metrics against the optimizer step. That keeps
logging safe in any process and makes a restarted trial find its run instead of making a new
one. A sweep is a parent run; each trial is a child run tagged ``mlflow.parentRunId``. The
calls go through :func:`factory.open_store`: ``MlflowClient`` (``mlflow_store.py``), or the
in-memory store of a ``memory://`` URI in tests.

Tracking-server outages: every call here goes through MLflow's HTTP client, which retries a
refused or dropped connection and a 408, 429, 500, 502, 503 or 504 answer
``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` times (default 7) after waits of 0, 4, 8, 16, 32, 64 and
120 s (``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`` 2; urllib3 caps one wait at 120 s; mlflow 3.17
``utils/request_utils.py``). A server back
within about 4 minutes loses nothing (``tests/sweep/test_sweep_outages.py`` stops one for
60 s mid-sweep); one that stays away fails the call after that with MLflow's "Max retries
exceeded" error naming the URL, and a trial then fails after one write's retries
(``runtime/mlflow_hooks.py``). A server that accepts but never answers costs up to
``MLFLOW_HTTP_REQUEST_TIMEOUT`` (120 s) more per try. To change the bound, set these
variables for the driver and the Ray job's processes (MLflow allows at most 10 retries).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from pathlib import Path
from typing import Any

from ..config import SpecError
from ..defaults import tracking_uri_default
from ..redact import redact, redact_text
from ..status import RunState
from .factory import open_store
from .identity import TAG_USER, tracking_user
from .links import EXPERIMENT_KIND_TAG, EXPERIMENT_KIND_TRAINING
from .store import MetricPoint, RunRecord

_log = logging.getLogger("ncsweep.tracking")

__all__ = [
    "TAG_FAMILY",
    "TAG_TRIAL",
    "TAG_ORPHANED",
    "sweep_results",
    "TAG_SWEEP",
    "TAG_KIND",
    "TAG_CHECKPOINT",
    "TAG_FAILURE",
    "TAG_STOPPED_EARLY",
    "TAG_INFRA_FAILURE",
    "TAG_RETRIES",
    "TAG_STAGE",
    "TAG_CONFIRMS",
    "TAG_SEED",
    "TAG_STATUS",
    "TAG_CREATE_KEY",
    "STAGE_SEARCH",
    "STAGE_CONFIRM",
    "PARENT_TAG",
    "resolve_tracking_uri",
    "ensure_experiment",
    "start_run",
    "find_run",
    "log_params",
    "log_text",
    "set_tags",
    "clear_failure",
    "failure_reason",
    "finish_run",
    "MetricLogger",
]

TAG_FAMILY = "ncsweep.loss"
TAG_TRIAL = "ncsweep.trial_id"
TAG_SWEEP = "ncsweep.sweep"
TAG_KIND = "ncsweep.kind"
TAG_FAILURE = "ncsweep.failure_reason"
TAG_CHECKPOINT = "ncsweep.checkpoint"  # where the run's last checkpoint is
TAG_STOPPED_EARLY = "ncsweep.stopped_early"  # value: the scheduler that stopped the trial
# a trial that lost its node or actor: the last such reason, and how often Tune restarted it
TAG_INFRA_FAILURE = "ncsweep.infrastructure_failure"
TAG_RETRIES = "ncsweep.retries"
# a sweep trial's stage: the search, or a confirmation run (a top config re-run with another
# seed, tagged with the search trial's run id and its seed); a run without it is a search trial
TAG_STAGE = "ncsweep.stage"
TAG_CONFIRMS = "ncsweep.confirms"
TAG_SEED = "ncsweep.seed"
# a run's verdict as a column the MLflow UI can show (its table has no status column)
TAG_STATUS = "ncsweep.status"
# One value per start_run call: MLflow's client retries a POST answered 504 (or dropped
# after the server acted), so one call can create several runs; they share this key.
TAG_CREATE_KEY = "ncsweep.create_key"
# a trial run the Tune state a driver restored lacks (``runtime.tuning.drop_orphans``): kept
# when FINISHED, deleted otherwise, never one of its sweep's or study's results
TAG_ORPHANED = "ncsweep.orphaned"
STAGE_SEARCH = "search"
STAGE_CONFIRM = "confirm"
PARENT_TAG = "mlflow.parentRunId"


def sweep_results(runs: list[RunRecord]) -> list[RunRecord]:
    """``runs`` without those tagged :data:`TAG_ORPHANED`: what reports, leaderboards and
    confirmation count as a sweep's or study's trials."""
    return [run for run in runs if TAG_ORPHANED not in run.tags]


_MAX_PARAM_BATCH = 100
_MAX_METRIC_BATCH = 1000
_MAX_PARAM_LEN = 6000


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``--tracking-uri``, else ``NCSWEEP_TRACKING_URI``, else ``MLFLOW_TRACKING_URI``, else
    ``sqlite:///<cwd>/mlflow.db`` (``defaults.py``).

    Relative SQLite and file paths are made absolute: Ray workers run in other directories.
    A file store (``file://`` or a plain path) is a SpecError unless MLflow allows it
    (``MLFLOW_ALLOW_FILE_STORE=true`` since MLflow 3.x refuses it), before anything starts.
    """
    uri = uri or tracking_uri_default()
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri.removeprefix("sqlite:///")).resolve())
    if "://" not in uri:
        uri = Path(uri).resolve().as_uri()
    if uri.startswith("file:") and not _file_store_allowed():
        raise SpecError(
            f"tracking URI {uri}: this MLflow refuses file stores. Use a database "
            "(sqlite:///mlflow.db, the default, or postgresql://...) or a tracking server "
            "(http://host:5000), or set MLFLOW_ALLOW_FILE_STORE=true to keep the file store."
        )
    return uri


def _file_store_allowed() -> bool:
    from mlflow import environment_variables  # here: a read command need not import MLflow

    flag = getattr(environment_variables, "MLFLOW_ALLOW_FILE_STORE", None)
    return flag is None or bool(flag.get())  # MLflow before the flag allowed them


def _default_artifact_location(uri: str, experiment: str) -> str | None:
    """Local stores keep artifacts beside the database; servers choose their own."""
    if uri.startswith("sqlite:///"):
        root = Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts"
        return (root / experiment).as_uri()
    if uri.startswith("file:"):
        return None
    return None


def ensure_experiment(uri: str, name: str, artifact_location: str | None = None) -> str:
    """Create the experiment if needed (in the driver, before any trial) and return its id.

    It is tagged as model training, so that the MLflow UI opens it on its runs table.
    """
    store = open_store(uri)
    found = store.get_experiment(name)
    if found is not None:
        if found.deleted:
            store.restore_experiment(found.experiment_id)
        if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND_TRAINING:
            store.set_experiment_tag(
                found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND_TRAINING
            )
        return found.experiment_id
    location = artifact_location or _default_artifact_location(uri, name)
    try:
        return store.create_experiment(
            name, location, {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND_TRAINING}
        )
    except Exception:
        # Another process created it between our lookup and create.
        found = store.get_experiment(name)
        if found is None:
            raise
        return found.experiment_id


def find_run(uri: str, experiment_id: str, tags: dict[str, str]) -> str | None:
    """The newest run of the experiment carrying all ``tags``, or None."""
    runs = open_store(uri, read_only=True).search_runs(
        experiment_id, tags, descending_by="start_time", max_results=1
    )
    return runs[0].run_id if runs else None


def start_run(
    uri: str,
    experiment_id: str,
    run_name: str,
    tags: dict[str, str],
    parent_run_id: str | None = None,
    reattach: dict[str, str] | None = None,
) -> str:
    """Create a run, or re-attach to the one matching ``reattach`` tags (set it RUNNING).

    Creating is idempotent: the run carries a fresh ``ncsweep.create_key``, and the runs a
    retried request created besides the one returned (same key, nothing logged) are ended
    and deleted, so none stays RUNNING forever; a create whose answer was lost but whose
    run exists returns that run.

    A new run is tagged with the user who created it (``ncsweep.user``, ``identity.py``);
    a re-attached run keeps the user who started it."""
    store = open_store(uri)
    if reattach:
        run_id = find_run(uri, experiment_id, reattach)
        if run_id is not None:
            store.set_status(run_id, RunState.RUNNING)
            store.set_tag(run_id, TAG_STATUS, RunState.RUNNING)
            return run_id
    key = uuid.uuid4().hex
    all_tags = {
        TAG_USER: tracking_user(uri),
        **tags,
        TAG_STATUS: RunState.RUNNING,
        TAG_CREATE_KEY: key,
    }
    if parent_run_id:
        all_tags[PARENT_TAG] = parent_run_id
    created: str | None = None
    error: Exception | None = None
    try:
        created = store.create_run(experiment_id, run_name, all_tags).run_id
    except Exception as err:  # noqa: BLE001 - the server may have created it before failing
        error = err
    copies = store.search_runs(experiment_id, {TAG_CREATE_KEY: key}, descending_by="start_time")
    if created is None:
        if not copies and error is not None:
            raise error
        created = copies[0].run_id
        _log.warning(
            "creating run %r failed (%s), but the server made it: %s", run_name, error, created
        )
    for copy in copies:
        if copy.run_id != created:  # a retried POST's twin: nothing was logged to it
            _log.warning(
                "run %s is a duplicate of %s (a retried create); deleting it", copy.run_id, created
            )
            store.end_run(copy.run_id, RunState.KILLED)
            store.delete_run(copy.run_id)
    return created


def log_params(uri: str, run_id: str, params: dict[str, Any]) -> None:
    """Log params once; values already logged with the same value are skipped (resume-safe)."""
    store = open_store(uri)
    existing = store.get_run(run_id).params
    fresh = []
    for key, value in params.items():
        text = str(redact(value, key))[:_MAX_PARAM_LEN]
        if key not in existing:
            fresh.append((key, text))
    for i in range(0, len(fresh), _MAX_PARAM_BATCH):
        store.log_batch(run_id, params=dict(fresh[i : i + _MAX_PARAM_BATCH]))


def set_tags(uri: str, run_id: str, tags: dict[str, Any]) -> None:
    open_store(uri).log_batch(run_id, tags={k: str(redact(v, k)) for k, v in tags.items()})


def finish_run(
    uri: str,
    run_id: str,
    status: str = RunState.FINISHED,
    reason: str | None = None,
    end_time_s: float | None = None,
    *,
    tags: dict[str, str] | None = None,
    start_ms: int | None = None,
) -> None:
    """Close a run as FINISHED, FAILED or KILLED (also tag ``ncsweep.status``, and ``tags``);
    a failure reason becomes a tag. ``end_time_s``: when it really ended (epoch seconds, to
    the millisecond) if that was before now; never before the run's start (``start_ms``,
    read from the run when not given)."""
    store = open_store(uri)
    written = {**(tags or {}), TAG_STATUS: status}
    if reason:
        written[TAG_FAILURE] = redact_text(reason)[:5000]
    store.log_batch(run_id, tags=written)
    end_time = None
    if end_time_s is not None:
        start = start_ms if start_ms is not None else store.get_run(run_id).start_ms
        end_time = max(round(end_time_s * 1000), start)
    store.end_run(run_id, status, end_time)


def failure_reason(uri: str, run_id: str) -> str | None:
    return open_store(uri).get_run(run_id).tags.get(TAG_FAILURE)


def clear_failure(uri: str, run_id: str) -> None:
    if failure_reason(uri, run_id) is not None:
        open_store(uri).delete_tag(run_id, TAG_FAILURE)


class MetricLogger:
    """Buffers metrics and writes them with ``log_batch``; non-finite values are dropped.

    Args:
        uri: tracking URI (absolute).
        run_id: the run to log to.
        max_age_s: with ``log(..., flush=None)``, write once the oldest buffered metric is
            this old (a synchronous write per few training steps costs more than the steps).
    """

    def __init__(self, uri: str, run_id: str, max_age_s: float = 10.0):
        self.store = open_store(uri)
        self.run_id = run_id
        self.max_age_s = max_age_s
        self._pending: list[MetricPoint] = []
        self._oldest = 0.0

    def log(self, metrics: dict[str, float], step: int, flush: bool | None = True) -> None:
        now = time.time()
        if not self._pending:
            self._oldest = now
        for key, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                self._pending.append(MetricPoint(key, float(value), int(now * 1000), int(step)))
        if flush or (flush is None and now - self._oldest >= self.max_age_s):
            self.flush()

    def flush(self) -> None:
        while self._pending:
            batch, self._pending = (
                self._pending[:_MAX_METRIC_BATCH],
                self._pending[_MAX_METRIC_BATCH:],
            )
            self.store.log_batch(self.run_id, metrics=batch)


def log_text(uri: str, run_id: str, text: str, artifact_file: str) -> None:
    """Store ``text`` as an artifact of the run (spec YAML, leaderboard, checkpoint path);
    URIs in it lose their credentials first."""
    open_store(uri).log_text(run_id, redact_text(text), artifact_file)
