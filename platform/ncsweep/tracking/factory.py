"""``open_store``: the tracking store for a URI (``store.py`` describes the interface)."""

from __future__ import annotations

from .store import MEMORY_SCHEME, TrackingStore

__all__ = ["open_store"]


def open_store(target: str | TrackingStore, read_only: bool = False) -> TrackingStore:
    """The store for a tracking URI (``memory://NAME``: the in-memory store ``NAME``;
    otherwise MLflow), or ``target`` itself when it already is a store.

    ``read_only``: the caller mostly reads (a leaderboard): a server or SQLite file is read
    without importing MLflow where it can be (``fast_read.py``); writes still work."""
    if isinstance(target, TrackingStore):
        return target
    if target.startswith(MEMORY_SCHEME):
        from .memory_store import memory_store

        return memory_store(target)
    if read_only:
        from .fast_read import FastReadStore, serves

        if serves(target):
            return FastReadStore(target)
    from .mlflow_store import MlflowStore

    return MlflowStore(target)
