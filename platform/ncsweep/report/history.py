"""Metric histories of many runs in a few requests (the one adapter to MLflow's bulk APIs).

``MlflowClient.get_metric_history`` is one request per (run, key); a report over 1,000
trials would make thousands. MLflow has bulk reads that its public client does not expose:

- a tracking server answers ``GET /ajax-api/2.0/mlflow/metrics/get-history-bulk`` for up to
  100 runs and one key (at most 25,000 points per answer; a full answer is split and asked
  again, so nothing is cut off);
- a database store (``sqlite:``, ``postgresql:``, ...) has ``get_metric_history_bulk``, one
  SQL query per key and chunk of runs.

Anything else (a ``file:`` store) falls back to one read per run and key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request

__all__ = ["History", "RUNS_PER_REQUEST", "POINTS_PER_REQUEST", "metric_histories"]

History = dict[str, dict[str, list[tuple[int, float]]]]
"""``{run_id: {metric key: [(step, value), ...] sorted by step}}``."""

RUNS_PER_REQUEST = 100
POINTS_PER_REQUEST = 25_000
_BULK_ENDPOINT = "/ajax-api/2.0/mlflow/metrics/get-history-bulk"


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


def _one_by_one(client: MlflowClient, run_ids: list[str], key: str):
    for run_id in run_ids:
        for m in client.get_metric_history(run_id, key):
            yield run_id, int(m.step), float(m.value)


def metric_histories(uri: str, run_ids: Sequence[str], keys: Sequence[str]) -> History:
    """Histories of ``keys`` for ``run_ids``; one request per key and 100 runs.

    A step logged twice (a resumed trial) keeps its last value.
    """
    out: History = defaultdict(lambda: defaultdict(list))
    run_ids = sorted(set(run_ids))
    if not run_ids or not keys:
        return {}
    client = MlflowClient(uri)
    store = None
    if not uri.startswith(("http://", "https://")):
        store = client._tracking_client.store  # the bulk query is on the store only
    for key in dict.fromkeys(keys):
        for chunk in _chunks(run_ids, RUNS_PER_REQUEST):
            if store is None:
                points = _server_points(uri, chunk, key)
            elif hasattr(store, "get_metric_history_bulk"):
                points = _store_points(store, chunk, key)
            else:
                points = list(_one_by_one(client, chunk, key))
            by_step: dict[tuple[str, int], float] = {}
            for run_id, step, value in points:
                by_step[(run_id, step)] = value
            for (run_id, step), value in by_step.items():
                out[run_id][key].append((step, value))
    return {
        run: {key: sorted(series) for key, series in metrics.items()}
        for run, metrics in out.items()
    }
