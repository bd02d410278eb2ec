"""Which storage owns a sweep's MLflow runs: one name, one storage, one lease.

A sweep's lease lives in ``<storage>/<name>``, its runs in the MLflow experiment ``name``.
Two sweeps of one name with two storages would hold two leases over one set of runs, and
each one's reconciliation would delete the other's trials. So the parent run and every
trial run carry the storage (``ncsweep.storage``) and the lease generation that created
them (``ncsweep.lease_generation``); a driver refuses a name whose parent run belongs to
another storage (:func:`require_own_name`), and ``drop_orphans`` removes only runs of its
own storage.
"""

from __future__ import annotations

from ..config import SpecError
from ..plan.state import sweep_dir
from ..redact import redact, redact_text
from ..tracking import TAG_KIND, open_store
from .lease import held_generation

__all__ = ["TAG_GENERATION", "TAG_STORAGE", "owner_tags", "owned_by", "require_own_name"]

TAG_STORAGE = "ncsweep.storage"
TAG_GENERATION = "ncsweep.lease_generation"


def _shown(storage: str) -> str:
    return redact_text(storage.rstrip("/"))


def owner_tags(storage: str, name: str) -> dict[str, str]:
    """The tags of a run this process creates for sweep ``name`` in ``storage``."""
    generation = held_generation(sweep_dir(storage, name))
    tags = {TAG_STORAGE: _shown(storage)}
    if generation is not None:
        tags[TAG_GENERATION] = str(generation)
    return tags


def owned_by(tags: dict[str, str], storage: str) -> bool:
    """Whether a run with ``tags`` was created by a sweep in ``storage``."""
    return tags.get(TAG_STORAGE) == _shown(storage)


def require_own_name(
    uri: str, name: str, group_tag: str, kind: str, storage: str, command: str
) -> bool:
    """Whether MLflow at ``uri`` has a parent run of ``name`` (a ``kind`` run); raise
    SpecError (exit 2) when it belongs to another storage, naming both."""
    store = open_store(uri, read_only=True)  # creates nothing: a refused sweep leaves no trace
    experiment = store.get_experiment(name)
    if experiment is None:
        return False
    parents = store.search_runs(experiment.experiment_id, {group_tag: name, TAG_KIND: kind})
    for parent in parents:
        theirs = parent.tags.get(TAG_STORAGE)
        if theirs is not None and theirs != _shown(storage):
            raise SpecError(
                f"{kind} {name!r} already exists in MLflow {redact(uri)} with storage "
                f"{theirs}, not {_shown(storage)}: pass --storage {theirs} to continue it "
                f"(ncsweep resume {name} --storage {theirs}), or choose another --name for "
                f"a new {kind} ({command} would share and reconcile away its runs)"
            )
    return bool(parents)
