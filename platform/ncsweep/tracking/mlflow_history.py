"""Metric histories of many runs in a few requests (the one adapter to MLflow's bulk APIs;
``MlflowStore.metric_histories`` reads through it).

``MlflowClient.get_metric_history`` (public) is one request per (run, key); a report over
1,000 trials would make thousands (``tests/bench/bench_report.py``: 100 trials, 6 keys:
5.3 s against 0.2 s in bulk). MLflow has bulk reads that its public client does not expose:

- a tracking server answers ``GET /ajax-api/2.0/mlflow/metrics/get-history-bulk`` for up to
  100 runs and one key (at most 25,000 points per answer; a full answer is split and asked
  again, so nothing is cut off);
- a database store (``sqlite:``, ``postgresql:``, ...) has ``get_metric_history_bulk``, one
  SQL query per key and chunk of runs.

They are used only with the MLflow versions in :data:`CHECKED_MLFLOW` (the range
pyproject.toml allows; tests/report/test_report_data.py compares them with the public reads).
Any other version, and any other store (``file:``), reads through the public
``get_metric_history``, several requests at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import mlflow
from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request

from .store import History

__all__ = [
    "CHECKED_MLFLOW",
    "POINTS_PER_REQUEST",
    "RUNS_PER_REQUEST",
    "bulk_reads",
    "metric_histories",
]

RUNS_PER_REQUEST = 100
POINTS_PER_REQUEST = 25_000
_BULK_ENDPOINT = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"
_PARALLEL_READS = 8

CHECKED_MLFLOW = ((3, 10), (3, 17))
"""Oldest and newest ``(major, minor)`` of MLflow whose bulk reads were checked."""


def bulk_reads(version: str = mlflow.__version__) -> bool:
    """Whether this MLflow version is one the bulk reads were checked with."""
    major_minor = tuple(int(part) for part in version.split(".")[:2])
    return CHECKED_MLFLOW[0] <= major_minor <= CHECKED_MLFLOW[1]


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _server_points(uri: str, run_ids: list[str], key: str) -> list[tuple[str, int, float]]:
    response = http_request(
        get_default_host_creds(uri),
        _BULK_ENDPOINT,
        "GET",
        params={"run_id": run_ids, "metric_key": key, "max_results": POINTS_PER_REQUEST},
    )
    response.raise_for_status()
    points = response.json().get("metrics", [])
    if len(points) >= POINTS_PER_REQUEST and len(run_ids) > 1:
        half = len(run_ids) // 2
        return _server_points(uri, run_ids[:half], key) + _server_points(uri, run_ids[half:], key)
    return [(p["run_id"], int(p.get("step", 0)), float(p["value"])) for p in points]


def _store_points(store, run_ids: list[str], key: str) -> list[tuple[str, int, float]]:
    rows = store.get_metric_history_bulk(run_ids=run_ids, metric_key=key, max_results=None)
    return [(r.run_id, int(r.step), float(r.value)) for r in rows]


def _one_by_one(client: MlflowClient, run_ids: list[str], key: str, parallel: int):
    def read(run_id: str) -> list[tuple[str, int, float]]:
        return [
            (run_id, int(m.step), float(m.value)) for m in client.get_metric_history(run_id, key)
        ]

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return [point for points in pool.map(read, run_ids) for point in points]


def metric_histories(uri: str, run_ids: Sequence[str], keys: Sequence[str]) -> History:
    """Histories of ``keys`` for ``run_ids``; one request per key and 100 runs.

    A step logged twice (a resumed trial) keeps its last value.
    """
    out: History = defaultdict(lambda: defaultdict(list))
    run_ids = sorted(set(run_ids))
    if not run_ids or not keys:
        return {}
    client = MlflowClient(uri)
    server = uri.startswith(("http://", "https://"))
    store = None
    if bulk_reads() and not server:
        store = client._tracking_client.store  # the bulk query is on the store only
    for key in dict.fromkeys(keys):
        for chunk in _chunks(run_ids, RUNS_PER_REQUEST):
            if server and bulk_reads():
                points = _server_points(uri, chunk, key)
            elif hasattr(store, "get_metric_history_bulk"):
                points = _store_points(store, chunk, key)
            else:  # a request per run: several at once to a server, one by one to a file
                points = _one_by_one(client, chunk, key, _PARALLEL_READS if server else 1)
            by_step: dict[tuple[str, int], float] = {}
            for run_id, step, value in points:
                by_step[(run_id, step)] = value
            for (run_id, step), value in by_step.items():
                out[run_id][key].append((step, value))
    return {
        run: {key: sorted(series) for key, series in metrics.items()}
        for run, metrics in out.items()
    }
