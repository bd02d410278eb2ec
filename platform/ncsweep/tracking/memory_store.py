"""An in-memory tracking store for fast tests (``store.py`` for the shared semantics).

``open_store("memory://NAME")`` returns the same :class:`MemoryStore` for ``NAME`` on every
call in the process, so code that takes a tracking URI (``find_parent(uri, ...)``,
``collect_rows``, ``start_run``) reads and writes it like MLflow; :func:`drop_memory_store`
forgets one. Nothing leaves the process: Ray workers in other processes do not see it.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..status import RunState
from .store import (
    ArtifactNotFound,
    ExperimentRecord,
    History,
    MetricPoint,
    RunNotFound,
    RunRecord,
    TrackingError,
    TrackingStore,
    descending_metric,
    newest_first,
)

__all__ = ["MemoryStore", "drop_memory_store", "memory_store"]

_STORES: dict[str, MemoryStore] = {}
_STORES_LOCK = threading.Lock()


def memory_store(uri: str) -> MemoryStore:
    """The store named by ``memory://NAME`` (made on first use)."""
    with _STORES_LOCK:
        if uri not in _STORES:
            _STORES[uri] = MemoryStore(uri)
        return _STORES[uri]


def drop_memory_store(uri: str) -> None:
    with _STORES_LOCK:
        _STORES.pop(uri, None)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _Run:
    record: RunRecord
    deleted: bool = False
    points: dict[str, list[MetricPoint]] = field(default_factory=dict)
    latest: dict[str, MetricPoint] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)


class MemoryStore(TrackingStore):
    """Experiments, runs, metrics and artifacts in dicts, behind one lock."""

    def __init__(self, uri: str = "memory://default"):
        self.uri = uri
        self._lock = threading.RLock()
        self._experiments: dict[str, ExperimentRecord] = {}
        self._runs: dict[str, _Run] = {}
        self._ids = itertools.count(1)

    # experiments
    def get_experiment(self, name: str) -> ExperimentRecord | None:
        with self._lock:
            found = next((e for e in self._experiments.values() if e.name == name), None)
            return copy.deepcopy(found)

    def newest_experiment(self) -> ExperimentRecord | None:
        with self._lock:
            active = [e for e in self._experiments.values() if not e.deleted]
            newest = max(active, key=lambda e: (e.creation_ms, int(e.experiment_id)), default=None)
            return copy.deepcopy(newest)

    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        with self._lock:
            if any(e.name == name for e in self._experiments.values()):
                raise TrackingError(f"experiment {name!r} already exists")
            experiment_id = str(next(self._ids))
            self._experiments[experiment_id] = ExperimentRecord(
                experiment_id, name, tags=dict(tags), creation_ms=_now_ms()
            )
            return experiment_id

    def _experiment(self, experiment_id: str) -> ExperimentRecord:
        if experiment_id not in self._experiments:
            raise TrackingError(f"no experiment with id {experiment_id!r}")
        return self._experiments[experiment_id]

    def restore_experiment(self, experiment_id: str) -> None:
        with self._lock:
            self._experiment(experiment_id).deleted = False

    def delete_experiment(self, experiment_id: str) -> None:
        with self._lock:
            self._experiment(experiment_id).deleted = True

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        with self._lock:
            self._experiment(experiment_id).tags[key] = str(value)

    # runs
    def _run(self, run_id: str) -> _Run:
        if run_id not in self._runs:
            raise RunNotFound(f"no run with id {run_id!r}")
        return self._runs[run_id]

    def _record(self, run: _Run) -> RunRecord:
        record = copy.deepcopy(run.record)
        record.metrics = {k: p.value for k, p in run.latest.items()}
        return record

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        tags: dict[str, str],
        start_ms: int | None = None,
    ) -> RunRecord:
        """As the interface says; ``start_ms`` (tests only) backdates the start."""
        with self._lock:
            self._experiment(experiment_id)
            run_id = uuid.uuid4().hex
            record = RunRecord(
                run_id=run_id,
                experiment_id=experiment_id,
                run_name=run_name,
                status=RunState.RUNNING,
                start_ms=_now_ms() if start_ms is None else start_ms,
                end_ms=None,
                tags={"mlflow.runName": run_name, **{k: str(v) for k, v in tags.items()}},
            )
            self._runs[run_id] = _Run(record)
            return self._record(self._runs[run_id])

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            return self._record(self._run(run_id))

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
        with self._lock:
            found = [
                self._record(run)
                for run in self._runs.values()
                if not run.deleted
                and run.record.experiment_id == experiment_id
                and all(run.record.tags.get(k) == v for k, v in (tags or {}).items())
                and (status is None or run.record.status == status)
                and (ended_since is None or (run.record.end_ms or -1) >= ended_since)
            ]
        found = newest_first(found)
        key = descending_metric(descending_by)
        if key is not None:
            found.sort(key=lambda r: (key in r.metrics, r.metrics.get(key, 0.0)), reverse=True)
        return found[:max_results] if max_results else found

    def set_status(self, run_id: str, status: str) -> None:
        with self._lock:
            self._run(run_id).record.status = str(status)

    def end_run(self, run_id: str, status: str, end_ms: int | None = None) -> None:
        with self._lock:
            record = self._run(run_id).record
            record.status = str(status)
            record.end_ms = _now_ms() if end_ms is None else end_ms

    def delete_run(self, run_id: str) -> None:
        with self._lock:
            self._run(run_id).deleted = True

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            run = self._run(run_id)
            for key, value in (params or {}).items():
                old = run.record.params.get(key)
                if old is not None and old != str(value):
                    raise TrackingError(f"param {key!r} was logged as {old!r}, not {value!r}")
            run.record.params.update({k: str(v) for k, v in (params or {}).items()})
            run.record.tags.update({k: str(v) for k, v in (tags or {}).items()})
            for point in metrics:
                point = MetricPoint(point.key, float(point.value), point.timestamp_ms, point.step)
                run.points.setdefault(point.key, []).append(point)
                latest = run.latest.get(point.key)
                if latest is None or (point.step, point.timestamp_ms, point.value) >= (
                    latest.step,
                    latest.timestamp_ms,
                    latest.value,
                ):
                    run.latest[point.key] = point

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, tags={key: value})

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._lock:
            tags = self._run(run_id).record.tags
            if key not in tags:
                raise TrackingError(f"run {run_id} has no tag {key!r}")
            del tags[key]

    # metric histories
    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        with self._lock:
            points = list(self._run(run_id).points.get(key, []))
        points.sort(key=lambda p: (p.timestamp_ms, p.step, p.value))
        return [(p.step, p.value) for p in points]

    def metric_histories(self, run_ids: Iterable[str], keys: Iterable[str]) -> History:
        keys = list(dict.fromkeys(keys))
        out: History = {}
        for run_id in sorted(set(run_ids)):
            with self._lock:
                if run_id not in self._runs:
                    continue
            for key in keys:
                by_step = dict(self.metric_history(run_id, key))  # a step's last value wins
                if by_step:
                    out.setdefault(run_id, {})[key] = sorted(by_step.items())
        return out

    # artifacts
    def _put(self, run_id: str, path: str, data: bytes) -> None:
        with self._lock:
            self._run(run_id).artifacts[path.strip("/")] = data

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._put(run_id, artifact_file, text.encode("utf-8"))

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        source = Path(local_path)
        self._put(run_id, f"{artifact_path or ''}/{source.name}", source.read_bytes())

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        root = Path(local_dir)
        for source in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = source.relative_to(root).as_posix()
            self._put(run_id, f"{artifact_path or ''}/{relative}", source.read_bytes())

    def download_artifact(self, run_id: str, path: str, dst_dir: str) -> str:
        path = path.strip("/")
        with self._lock:
            artifacts = dict(self._run(run_id).artifacts)
        inside = {k: v for k, v in artifacts.items() if k == path or k.startswith(path + "/")}
        if not inside:
            raise ArtifactNotFound(f"run {run_id} has no artifact {path!r}")
        for name, data in inside.items():
            target = Path(dst_dir) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return str(Path(dst_dir) / path)
