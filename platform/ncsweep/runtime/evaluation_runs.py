"""Finished runs in MLflow: their spec, their checkpoint (local or ``s3://``), their baseline.

A training run logs its spec as the ``spec.yaml`` artifact and the location of its last
checkpoint as tag ``ncsweep.checkpoint`` (``train.trainer``). Ray reports an S3 checkpoint
path without its scheme (``bucket/prefix/...``); when the run's ``run.storage_path`` is an
``s3://`` URI, the scheme is put back. The state is read with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import torch

from .. import metric_keys as keys
from ..config import ExperimentSpec, SpecError, read_yaml, spec_from_dict
from ..losses import loss_info
from ..status import RunState
from ..tracking import TAG_CHECKPOINT, TAG_FAMILY, TAG_SWEEP, RunNotFound, TrackingError, open_store
from ..train.checkpoint import STATE_FILE

__all__ = [
    "RunRef",
    "resolve_run",
    "read_state",
    "default_baseline",
    "TAG_STUDY",
    "TAG_SEED",
    "TAG_VARIANT",
]

# set on a run whose final checkpoint the sweep's keep_checkpoints removed (retention.py)
TAG_PRUNED = "ncsweep.checkpoint_pruned"
TAG_STUDY = "ncsweep.study"
TAG_SEED = "ncsweep.seed"
TAG_VARIANT = "ncsweep.variant"


@dataclass
class RunRef:
    run_id: str
    experiment_id: str
    spec: ExperimentSpec
    checkpoint: str  # resolve_run refuses a run without one
    tags: dict[str, str]
    metrics: dict[str, float]
    status: str


def _checkpoint_uri(tags: dict[str, str], spec: ExperimentSpec) -> str | None:
    location = tags.get(TAG_CHECKPOINT)
    if not location:
        return None
    storage = spec.run.storage_path or ""
    if "://" not in location and storage.startswith("s3://") and not Path(location).exists():
        return "s3://" + location.lstrip("/")
    return location


def _spec_of(data: dict[str, Any], source: str) -> ExperimentSpec:
    """The run's spec; a spec written before loss options became per family (every option,
    ``None`` for unused ones) is read by keeping only the family's own options."""
    data.pop("provenance", None)
    try:
        return spec_from_dict(data, source)
    except SpecError:
        loss = data.get("loss")
        if not isinstance(loss, dict) or "name" not in loss:
            raise
        try:
            own = {o.name for o in loss_info(loss["name"]).options}
        except ValueError:
            raise SpecError(f"{source}: unknown loss {loss['name']!r}") from None
        data = {**data, "loss": {k: v for k, v in loss.items() if k == "name" or k in own}}
        return spec_from_dict(data, source)


def _run_id_from_config(path: Path) -> str:
    data = read_yaml(path)
    run_id = (data.get("provenance") or {}).get("mlflow_run_id")
    if not run_id:
        raise SpecError(
            f"{path}: no provenance.mlflow_run_id; give a run id or an exported config "
            "(ncsweep export writes provenance)"
        )
    return str(run_id)


def resolve_run(uri: str, ref: str) -> RunRef:
    """``ref`` is an MLflow run id or an exported config file (its provenance names the run).

    Raises:
        SpecError: no such run, a run without ``spec.yaml``, or without a checkpoint.
    """
    path = Path(ref)
    run_id = (
        _run_id_from_config(path) if path.suffix in (".yaml", ".yml") or path.is_file() else ref
    )
    store = open_store(uri)
    try:
        run = store.get_run(run_id)
    except RunNotFound:
        raise SpecError(
            f"no MLflow run {run_id!r} at {uri} (give a run id or an exported config)"
        ) from None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = read_yaml(store.download_artifact(run_id, "spec.yaml", tmp))
    except (TrackingError, OSError, SpecError):
        raise SpecError(
            f"run {run_id}: no spec.yaml artifact; it was not made by ncsweep train"
        ) from None
    spec = _spec_of(data, f"run {run_id} spec.yaml")
    tags = dict(run.tags)
    checkpoint = _checkpoint_uri(tags, spec)
    if TAG_PRUNED in tags:
        raise SpecError(
            f"run {run_id}: its checkpoint was removed when its sweep ended "
            f"({tags[TAG_PRUNED]}: only each family's top candidates keep theirs); train its "
            "config again (ncsweep train --config, from ncsweep export) or run sweeps with "
            "--keep-checkpoints final"
        )
    if checkpoint is None:
        raise SpecError(
            f"run {run_id} ({run.status}) has no checkpoint (tag {TAG_CHECKPOINT}); only "
            "finished training runs can be evaluated"
        )
    return RunRef(
        run_id,
        run.experiment_id,
        spec,
        checkpoint,
        tags,
        dict(run.metrics),
        run.status,
    )


def read_state(location: str) -> dict[str, Any]:
    """The checkpoint's ``state.pt`` (local directory or ``s3://``), ``weights_only=True``."""
    url = f"{location.rstrip('/')}/{STATE_FILE}"
    try:
        with fsspec.open(url, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError) as err:
        raise SpecError(f"checkpoint {url} cannot be read ({type(err).__name__}: {err})") from None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def default_baseline(uri: str, run: RunRef) -> str | None:
    """The CE run of the same study (same seed and variant) or sweep (best ``val/acc1``)."""
    if run.tags.get(TAG_FAMILY) == "ce":
        return None
    scope = {}
    if TAG_STUDY in run.tags:
        scope = {k: run.tags[k] for k in (TAG_STUDY, TAG_SEED, TAG_VARIANT) if k in run.tags}
    elif TAG_SWEEP in run.tags:
        scope = {TAG_SWEEP: run.tags[TAG_SWEEP]}
    else:
        return None
    runs = open_store(uri).search_runs(
        run.experiment_id,
        {**scope, TAG_FAMILY: "ce"},
        status=RunState.FINISHED,
        descending_by=f"metrics.{keys.VAL_ACC1}",
        max_results=1,
    )
    return runs[0].run_id if runs else None
