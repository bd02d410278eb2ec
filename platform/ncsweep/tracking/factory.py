"""``open_store``: the tracking store for a URI (``store.py`` describes the interface)."""

from __future__ import annotations

from .store import MEMORY_SCHEME, TrackingStore

__all__ = ["open_store"]


def open_store(target: str | TrackingStore) -> TrackingStore:
    """The store for a tracking URI (``memory://NAME``: the in-memory store ``NAME``;
    otherwise MLflow), or ``target`` itself when it already is a store."""
    if isinstance(target, TrackingStore):
        return target
    if target.startswith(MEMORY_SCHEME):
        from .memory_store import memory_store

        return memory_store(target)
    from .mlflow_store import MlflowStore

    return MlflowStore(target)
