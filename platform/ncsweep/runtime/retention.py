"""What a finished sweep keeps in its storage: pruning trial checkpoints (``keep_checkpoints``).

While a trial runs, Tune (or Ray Train) keeps its last ``run.keep_checkpoints`` checkpoints
so a lost worker or a killed driver resumes it. Once the trial has ended, only two things
ever read a checkpoint again: ``ncsweep evaluate`` (the state at the run's
``ncsweep.checkpoint`` tag, its final checkpoint) and nothing else: exports and the
confirmation stage read specs from MLflow. So, per policy:

- ``all``: nothing is removed;
- ``final``: every ended trial keeps only its final checkpoint (the tagged one, else the
  newest ``checkpoint_*``);
- ``best``: the runs in ``candidates`` (the caller's top trials per family) keep their final
  checkpoint, every other ended trial none; its run is tagged ``ncsweep.checkpoint_pruned``
  so ``ncsweep evaluate`` says why there is no state.

Only checkpoint folders inside the sweep's own storage (``<storage>/<name>/``: a Tune run's
``trial_*/checkpoint_*`` and Ray Train's ``train/<key>/checkpoint_*``) are touched, never a
folder of a run still RUNNING in MLflow. The caller holds the sweep's lease and calls this
after every Tune run of the sweep has returned; calling it again removes nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import fsspec

from ..status import RunState
from ..tracking import TAG_CHECKPOINT, TAG_TRIAL, RunRecord, open_store
from .evaluation_runs import TAG_PRUNED
from .trial import TRIAL_PREFIX

__all__ = [
    "KEEP_POLICIES",
    "TAG_PRUNED",
    "Pruned",
    "folder_bytes",
    "prune_checkpoints",
]

KEEP_POLICIES = ("best", "final", "all")
CHECKPOINT_PREFIX = "checkpoint_"
TRAIN_FOLDER = "train"


@dataclass
class Pruned:
    """What a pruning pass did: bytes of each top folder of the sweep (a family's Tune run,
    ``train``, a confirmation run) before and after, and the checkpoint folders removed."""

    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(self.before.values()) - sum(self.after.values())


def _bare(path: str) -> str:
    """``path`` without a scheme and trailing slash (Ray reports ``s3://`` paths bare)."""
    return path.split("://", 1)[-1].rstrip("/")


def folder_bytes(fs, path: str) -> int:
    """Bytes under ``path`` (0 when it does not exist)."""
    return int(fs.du(path, total=True)) if fs.exists(path) else 0


def _run_folders(fs, root: str) -> dict[str, tuple[str, list[str]]]:
    """``{run folder: (top folder, [checkpoint folders, oldest first])}`` under the sweep's
    folder ``root``: each Tune run's ``trial_*`` and Ray Train's ``train/<key>``."""
    found: dict[str, tuple[str, list[str]]] = {}
    for top in fs.ls(root, detail=True):
        if top["type"] != "directory":
            continue
        top_name = top["name"].rstrip("/").rsplit("/", 1)[-1]
        for run in fs.ls(top["name"], detail=True):
            name = run["name"].rstrip("/").rsplit("/", 1)[-1]
            if run["type"] != "directory":
                continue
            if top_name != TRAIN_FOLDER and not name.startswith(TRIAL_PREFIX):
                continue
            checkpoints = sorted(
                e["name"].rstrip("/")
                for e in fs.ls(run["name"], detail=True)
                if e["type"] == "directory"
                and e["name"].rstrip("/").rsplit("/", 1)[-1].startswith(CHECKPOINT_PREFIX)
            )
            found[_bare(run["name"])] = (top_name, checkpoints)
    return found


def prune_checkpoints(
    folder: str,
    runs: Iterable[RunRecord],
    candidates: set[str],
    policy: str,
    tracking_uri: str | None = None,
) -> Pruned:
    """Remove the checkpoints ``policy`` does not keep (module docstring).

    Args:
        folder: the sweep's folder, ``<storage>/<name>`` (local or ``s3://``).
        runs: the sweep's training runs (search and confirmation), for their final
            checkpoint (tag ``ncsweep.checkpoint``), trial key and status.
        candidates: run ids whose final checkpoint ``best`` keeps.
        tracking_uri: where to tag runs whose final checkpoint was removed (None: no tags).

    Returns:
        What was removed, and each top folder's bytes before and after.
    """
    if policy not in KEEP_POLICIES:
        raise ValueError(f"keep_checkpoints: {policy!r}; allowed: {', '.join(KEEP_POLICIES)}")
    fs, root = fsspec.core.url_to_fs(folder)
    fs.invalidate_cache()
    outcome = Pruned()
    if not fs.exists(root):
        return outcome
    found = _run_folders(fs, root)
    tops = {top for top, _ in found.values()}
    outcome.before = {top: folder_bytes(fs, f"{root}/{top}") for top in sorted(tops)}
    if policy == "all":
        outcome.after = dict(outcome.before)
        return outcome
    owner: dict[str, RunRecord] = {}  # run folder -> its MLflow run
    busy: set[str] = set()  # trial keys of runs still RUNNING
    for record in runs:
        tagged = record.tags.get(TAG_CHECKPOINT)
        if tagged:
            owner[_bare(tagged).rsplit("/", 1)[0]] = record
        if record.status == RunState.RUNNING:
            busy.add(record.tags.get(TAG_TRIAL, ""))
    store = open_store(tracking_uri) if tracking_uri else None
    for path, (_, checkpoints) in found.items():
        run = owner.get(path)
        key = path.rsplit("/", 1)[-1].removeprefix(TRIAL_PREFIX)
        if (run is not None and run.status == RunState.RUNNING) or key in busy:
            continue  # never while a trial runs
        final = _bare(run.tags[TAG_CHECKPOINT]) if run else (checkpoints or [""])[-1]
        keep = policy == "final" or (run is not None and run.run_id in candidates)
        for checkpoint in checkpoints:
            if keep and checkpoint == final:
                continue
            fs.rm(checkpoint, recursive=True)
            outcome.removed.append(checkpoint)
            if run is not None and checkpoint == final and store is not None:
                if TAG_PRUNED not in run.tags:
                    store.set_tag(run.run_id, TAG_PRUNED, f"keep_checkpoints={policy}")
                    run.tags[TAG_PRUNED] = f"keep_checkpoints={policy}"  # the caller's copy
    fs.invalidate_cache()
    outcome.after = {top: folder_bytes(fs, f"{root}/{top}") for top in sorted(tops)}
    return outcome
