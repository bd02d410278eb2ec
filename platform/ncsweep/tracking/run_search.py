"""MLflow's run search as both MLflow readers ask for it (``mlflow_store.py`` through
``MlflowClient``, ``fast_read.py`` through the REST API): the filter string, the order and
the paging, for ``store.TrackingStore.search_runs``'s arguments."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .store import RunRecord, descending_metric

__all__ = ["PAGE", "collect_pages", "run_filter", "run_order"]

PAGE = 50_000  # the most runs MLflow returns in one search


def run_filter(
    tags: dict[str, str] | None, status: str | None, ended_since: int | None = None
) -> str:
    """MLflow's filter string for runs with all ``tags`` (and ``status``, and an end time
    at or after ``ended_since`` ms)."""
    terms = [f"tags.`{k}` = '{v}'" for k, v in (tags or {}).items()]
    if status is not None:
        terms.append(f"attributes.status = '{status}'")
    if ended_since is not None:
        terms.append(f"attributes.end_time >= {int(ended_since)}")
    return " and ".join(terms)


def run_order(descending_by: str | None) -> list[str] | None:
    """MLflow's ``order_by`` for ``descending_by`` (``store.TrackingStore.search_runs``)."""
    key = descending_metric(descending_by)
    if key is not None:
        return [f"metrics.`{key}` DESC"]
    return None if descending_by is None else ["attributes.start_time DESC"]


def collect_pages(
    fetch: Callable[[int, str | None], tuple[Iterable[RunRecord], str | None]], limit: int | None
) -> list[RunRecord]:
    """The runs of a paged search, all of them or the first ``limit``: ``fetch(size,
    token)`` returns a page of at most ``size`` (<= :data:`PAGE`) runs and the next page's
    token (None after the last)."""
    runs: list[RunRecord] = []
    token = None
    while True:
        page, token = fetch(min(limit - len(runs), PAGE) if limit else PAGE, token)
        runs.extend(page)
        if not token or (limit and len(runs) >= limit):
            return runs
