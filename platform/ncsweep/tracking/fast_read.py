"""Reads without importing MLflow: what a read command (``ncsweep sweep --status``) waits for.

Importing ``mlflow`` takes 1.5-2.5 s and opening its SQLAlchemy store another second plus a
schema check, for a command whose work is one search. :class:`FastReadStore` answers the
three reads a leaderboard needs (``get_experiment``, ``get_run``, ``search_runs``) itself:

- ``http(s)://`` tracking servers through MLflow's REST API (``experiments/get-by-name``,
  ``runs/get``, ``runs/search`` with paging) with the standard library's ``urllib``; basic
  auth from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or the URI's user
  info, a bearer token from ``MLFLOW_TRACKING_TOKEN``;
- ``sqlite:///`` files read-only with ``sqlite3`` from MLflow's tables (``experiments``,
  ``runs``, ``tags``, ``params``, ``latest_metrics``: the latest value per key by step,
  timestamp and value, as MLflow keeps it).

Everything else, and any read it cannot serve (an unreachable server, a database MLflow has
not created or must migrate, ``descending_by`` a metric), goes to ``MlflowStore``, created on
first use: the answers and errors are MLflow's own. ``open_store(uri, read_only=True)`` picks
it; the semantics are ``store.py``'s.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .run_search import collect_pages, run_filter
from .store import (
    ExperimentRecord,
    History,
    MetricPoint,
    RunNotFound,
    RunRecord,
    TrackingStore,
    descending_metric,
    newest_first,
)

__all__ = ["FastReadStore", "serves"]


def serves(uri: str) -> bool:
    """Whether :class:`FastReadStore` reads ``uri`` itself."""
    return uri.startswith(("http://", "https://", "sqlite:///"))


class _Unserved(Exception):
    """This read goes to MLflow's own client."""


class FastReadStore(TrackingStore):
    """``store.TrackingStore`` whose leaderboard reads skip MLflow's import (module doc)."""

    def __init__(self, uri: str):
        self.uri = uri
        self._full: TrackingStore | None = None

    @property
    def full(self) -> TrackingStore:
        """MLflow's own store for ``uri`` (imported on first use)."""
        if self._full is None:
            from .mlflow_store import MlflowStore

            self._full = MlflowStore(self.uri)
        return self._full

    # the reads served here ---------------------------------------------------------------
    def get_experiment(self, name: str) -> ExperimentRecord | None:
        try:
            return self._reader().get_experiment(name)
        except _Unserved:
            return self.full.get_experiment(name)

    def get_run(self, run_id: str) -> RunRecord:
        try:
            run = self._reader().get_run(run_id)
        except _Unserved:
            return self.full.get_run(run_id)
        if run is None:
            raise RunNotFound(f"no run {run_id!r} at {self.uri}")
        return run

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
        try:
            if descending_metric(descending_by) is not None:
                raise _Unserved
            runs = self._reader().search_runs(
                experiment_id, tags or {}, status, ended_since, max_results
            )
        except _Unserved:
            return self.full.search_runs(
                experiment_id,
                tags,
                status=status,
                ended_since=ended_since,
                descending_by=descending_by,
                max_results=max_results,
            )
        return runs[:max_results] if max_results else runs

    def _reader(self) -> _Rest | _Sqlite:
        if self.uri.startswith("sqlite:///"):
            return _Sqlite(self.uri)
        return _Rest(self.uri)

    # everything else is MLflow's ---------------------------------------------------------
    def newest_experiment(self) -> ExperimentRecord | None:
        return self.full.newest_experiment()

    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        return self.full.create_experiment(name, artifact_location, tags)

    def restore_experiment(self, experiment_id: str) -> None:
        self.full.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.full.set_experiment_tag(experiment_id, key, value)

    def create_run(self, experiment_id: str, run_name: str, tags: dict[str, str]) -> RunRecord:
        return self.full.create_run(experiment_id, run_name, tags)

    def set_status(self, run_id: str, status: str) -> None:
        self.full.set_status(run_id, status)

    def end_run(self, run_id: str, status: str, end_ms: int | None = None) -> None:
        self.full.end_run(run_id, status, end_ms)

    def delete_run(self, run_id: str) -> None:
        self.full.delete_run(run_id)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[MetricPoint] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.full.log_batch(run_id, metrics, params, tags)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.full.set_tag(run_id, key, value)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.full.delete_tag(run_id, key)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return self.full.metric_history(run_id, key)

    def metric_histories(self, run_ids: Iterable[str], keys: Iterable[str]) -> History:
        return self.full.metric_histories(run_ids, keys)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.full.log_text(run_id, text, artifact_file)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        self.full.log_artifact(run_id, local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        self.full.log_artifacts(run_id, local_dir, artifact_path)

    def download_artifact(self, run_id: str, path: str, dst_dir: str) -> str:
        return self.full.download_artifact(run_id, path, dst_dir)


def _rest_run(run: dict[str, Any]) -> RunRecord:
    info, data = run["info"], run.get("data", {})
    return RunRecord(
        run_id=info["run_id"],
        experiment_id=info["experiment_id"],
        run_name=info.get("run_name", ""),
        status=info["status"],
        start_ms=int(info.get("start_time", 0)),
        end_ms=int(info["end_time"]) if "end_time" in info else None,
        params={p["key"]: p.get("value", "") for p in data.get("params", [])},
        tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics", [])},
    )


class _Rest:
    """MLflow's REST API 2.0 with urllib; any failure is :class:`_Unserved`."""

    def __init__(self, uri: str):
        parts = urllib.parse.urlsplit(uri)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        self.base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.headers = {"Content-Type": "application/json"}
        user = os.environ.get("MLFLOW_TRACKING_USERNAME") or parts.username
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or parts.password
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if user and password:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {pair}"
        elif token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _call(self, path: str, query: dict[str, str] | None = None, body: dict | None = None):
        url = f"{self.base}/api/2.0/mlflow/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise _Unserved from err
        except (OSError, ValueError) as err:
            raise _Unserved from err

    def get_experiment(self, name: str) -> ExperimentRecord | None:
        found = self._call("experiments/get-by-name", {"experiment_name": name})
        if not found:
            return None
        experiment = found["experiment"]
        return ExperimentRecord(
            experiment_id=experiment["experiment_id"],
            name=experiment["name"],
            deleted=experiment.get("lifecycle_stage") == "deleted",
            tags={t["key"]: t.get("value", "") for t in experiment.get("tags", [])},
            creation_ms=int(experiment["creation_time"]) if "creation_time" in experiment else None,
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        found = self._call("runs/get", {"run_id": run_id})
        return _rest_run(found["run"]) if found else None

    def search_runs(
        self,
        experiment_id: str,
        tags: dict[str, str],
        status: str | None,
        ended_since: int | None,
        limit: int | None,
    ) -> list[RunRecord]:

        def fetch(size: int, token: str | None) -> tuple[list[RunRecord], str | None]:
            body: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "filter": run_filter(tags, status, ended_since),
                "run_view_type": "ACTIVE_ONLY",
                "max_results": size,
                "order_by": ["attributes.start_time DESC"],
            }
            if token:
                body["page_token"] = token
            page = self._call("runs/search", body=body)
            if page is None:
                raise _Unserved
            return [_rest_run(run) for run in page.get("runs", [])], page.get("next_page_token")

        return newest_first(collect_pages(fetch, limit))


class _Sqlite:
    """MLflow's SQLite tables, read-only; a file or schema it does not know is _Unserved."""

    def __init__(self, uri: str):
        self.path = Path(uri.removeprefix("sqlite:///")).absolute()

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise _Unserved
        try:
            return sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as err:
            raise _Unserved from err

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        connection = self._connect()
        try:
            return connection.execute(sql, args).fetchall()
        except sqlite3.Error as err:  # a schema MLflow would migrate, a locked file, ...
            raise _Unserved from err
        finally:
            connection.close()

    def get_experiment(self, name: str) -> ExperimentRecord | None:
        if not self.path.exists():  # holds nothing; a read must not create it (MLflow would)
            return None
        rows = self._query(
            "select experiment_id, name, lifecycle_stage, creation_time from experiments "
            "where name = ?",
            (name,),
        )
        if not rows:
            return None
        experiment_id, found, stage, created = rows[0]
        tags = dict(
            self._query(
                "select key, value from experiment_tags where experiment_id = ?", (experiment_id,)
            )
        )
        return ExperimentRecord(str(experiment_id), found, stage == "deleted", tags, created)

    def get_run(self, run_id: str) -> RunRecord | None:
        runs = self._runs("r.run_uuid = ?", [run_id], active_only=False)
        return runs[0] if runs else None

    def search_runs(
        self,
        experiment_id: str,
        tags: dict[str, str],
        status: str | None,
        ended_since: int | None,
        limit: int | None,
    ) -> list[RunRecord]:
        where = ["r.experiment_id = ?"]
        args: list[Any] = [int(experiment_id)]
        for key, value in tags.items():
            where.append(
                "exists (select 1 from tags t where t.run_uuid = r.run_uuid "
                "and t.key = ? and t.value = ?)"
            )
            args += [key, value]
        if status is not None:
            where.append("r.status = ?")
            args.append(status)
        if ended_since is not None:
            where.append("r.end_time >= ?")
            args.append(int(ended_since))
        return newest_first(self._runs(" and ".join(where), args, active_only=True))

    def _runs(self, where: str, args: list[Any], active_only: bool) -> list[RunRecord]:
        if active_only:
            where += " and r.lifecycle_stage = 'active'"
        selected = f"select r.run_uuid from runs r where {where}"
        runs = self._query(
            "select r.run_uuid, r.experiment_id, r.name, r.status, r.start_time, r.end_time "
            f"from runs r where {where}",
            args,
        )
        children: dict[str, dict[str, dict]] = {
            run[0]: {"tags": {}, "params": {}, "metrics": {}} for run in runs
        }
        for table, column, value in (
            ("tags", "tags", "value"),
            ("params", "params", "value"),
            ("latest_metrics", "metrics", "case when is_nan then 'nan' else value end"),
        ):
            for run_id, key, found in self._query(
                f"select run_uuid, key, {value} from {table} where run_uuid in ({selected})",
                args,
            ):
                children[run_id][column][key] = float(found) if column == "metrics" else found
        return [
            RunRecord(
                run_id=run_id,
                experiment_id=str(experiment_id),
                run_name=name or "",
                status=status,
                start_ms=start,
                end_ms=end,
                **children[run_id],
            )
            for run_id, experiment_id, name, status, start, end in runs
        ]
