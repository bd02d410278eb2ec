"""The tracking store: what ncsweep reads from and writes to MLflow, as one small interface.

Features (leaderboard, export, report, study table, ``ncsweep ui``) and the runtime read and
write through a :class:`TrackingStore` and get plain records back (:class:`RunRecord`,
:class:`ExperimentRecord`), never MLflow's entities. Two implementations:

- ``MlflowStore`` (``mlflow_store.py``): MLflow's ``MlflowClient``, with its HTTP retries
  during a server outage (``runs.py`` says how long) and bulk metric-history reads;
- ``MemoryStore`` (``memory_store.py``): a process-local store for fast tests, with the
  same semantics for the calls below (tag filters, ordering, latest metrics, histories).

:func:`open_store` picks one from a tracking URI: ``memory://NAME`` is the in-memory store
``NAME`` (the same object on every call in the process), anything else MLflow
(``factory.py``, apart so that this module imports neither implementation).

Search semantics (both): deleted runs are left out; runs come newest first (start time
descending, then run id), or with ``descending_by="metrics.<key>"`` by that metric's latest
value, highest first, runs without it last. A run's ``metrics`` are the latest value of each
key, latest by ``(step, timestamp, value)``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "ArtifactNotFound",
    "ExperimentRecord",
    "History",
    "MetricPoint",
    "RunNotFound",
    "RunRecord",
    "TrackingError",
    "TrackingStore",
    "descending_metric",
    "newest_first",
]

History = dict[str, dict[str, list[tuple[int, float]]]]
"""``{run_id: {metric key: [(step, value), ...] sorted by step}}``; a step logged twice
(a resumed trial) keeps its last value."""

MEMORY_SCHEME = "memory://"


class TrackingError(Exception):
    """The store refused a call (MLflow's ``MlflowException``, or its in-memory twin)."""


class RunNotFound(TrackingError, LookupError):
    """No run with that id (with MLflow: any error reading the run, e.g. a malformed id)."""


class ArtifactNotFound(TrackingError, FileNotFoundError):
    """The run has no artifact at that path."""


class MetricPoint(NamedTuple):
    """One logged value: ``key`` at optimizer ``step``, written at ``timestamp_ms``."""

    key: str
    value: float
    timestamp_ms: int
    step: int


@dataclass
class ExperimentRecord:
    experiment_id: str
    name: str
    deleted: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    creation_ms: int | None = None


@dataclass
class RunRecord:
    """One run as the features read it: ``metrics`` holds each key's latest value."""

    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_ms: int
    end_ms: int | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def newest_first(runs: Iterable[RunRecord]) -> list[RunRecord]:
    """``runs`` in search order: start time descending, then run id (MLflow's natural order)."""
    return sorted(runs, key=lambda r: (-(r.start_ms or 0), r.run_id))


def descending_metric(descending_by: str | None) -> str | None:
    """The metric key of ``descending_by="metrics.<key>"``; None for the default order
    (None or ``"start_time"``); a ValueError naming the allowed values otherwise."""
    if descending_by in (None, "start_time"):
        return None
    kind, _, key = descending_by.partition(".")
    if kind != "metrics" or not key:
        raise ValueError(f"descending_by={descending_by!r}: 'start_time' or 'metrics.<key>'")
    return key


class TrackingStore(abc.ABC):
    """The operations ncsweep uses (module docstring for the shared semantics)."""

    uri: str

    # experiments
    @abc.abstractmethod
    def get_experiment(self, name: str) -> ExperimentRecord | None:
        """The experiment called ``name`` (deleted ones too), or None."""

    @abc.abstractmethod
    def newest_experiment(self) -> ExperimentRecord | None:
        """The most recently created active experiment, or None."""

    @abc.abstractmethod
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        """A new experiment's id; a TrackingError if the name is taken."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    # runs
    @abc.abstractmethod
    def create_run(self, experiment_id: str, run_name: str, tags: dict[str, str]) -> RunRecord:
        """A new RUNNING run started now."""

    @abc.abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The run (deleted ones too); RunNotFound if there is none."""

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_id: str,
        tags: dict[str, str] | None = None,
        *,
        status: str | None = None,
        ended_since: int | None = None,
        descending_by: str | None = None,
        max_results: int | None = None,
    ) -> list[RunRecord]:
        """Active runs of the experiment whose tags equal all of ``tags`` (and whose status
        is ``status``, and that ended at or after ``ended_since`` ms), newest first or by
        ``descending_by="metrics.<key>"``; all of them unless ``max_results``."""

    @abc.abstractmethod
    def set_status(self, run_id: str, status: str) -> None:
        """Change the run's status, leaving its end time as it is."""

    @abc.abstractmethod
    def end_run(self, run_id: str, status: str, end_ms: int | None = None) -> None:
        """Close the run with ``status`` at ``end_ms`` (default now)."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft delete: searches no longer find it, ``get_run`` still does."""

    @abc.abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Write metrics, params (a logged param cannot change) and tags in one call."""

    @abc.abstractmethod
    def set_tag(self, run_id: str, key: str, value: str) -> None: ...

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    # metric histories
    @abc.abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """Every logged ``(step, value)`` of ``key``, in the order they were written
        (timestamp, then step, then value); a step logged twice appears twice."""

    @abc.abstractmethod
    def metric_histories(self, run_ids: Iterable[str], keys: Iterable[str]) -> History:
        """Histories of ``keys`` for ``run_ids`` in few reads (:data:`History`)."""

    # artifacts
    @abc.abstractmethod
    def log_text(self, run_id: str, text: str, artifact_file: str) -> None: ...

    @abc.abstractmethod
    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        """Store the file ``local_path`` under ``artifact_path/`` (its own name kept)."""

    @abc.abstractmethod
    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        """Store every file under ``local_dir`` under ``artifact_path/`` (paths kept)."""

    @abc.abstractmethod
    def download_artifact(self, run_id: str, path: str, dst_dir: str) -> str:
        """Copy artifact ``path`` (a file or a folder) into ``dst_dir``; returns the local
        path. ArtifactNotFound (with MLflow: a TrackingError or an OSError) if it is not
        there."""
