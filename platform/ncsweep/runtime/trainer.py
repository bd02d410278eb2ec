"""Driver side of one training run: MLflow run, ``TorchTrainer``, outcome.

``run_training`` is what ``ncsweep train`` calls in the driver and what each sweep trial
calls inside its Tune function trainable; the Ray Train run is named by the caller (a
sweep uses the trial id) so a restored sweep finds its runs and checkpoints again.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.train
from ray.train.torch import TorchTrainer

from .._environment import QUIET_ENV
from ..config import ExperimentSpec, dump_spec, flatten
from ..defaults import default_storage
from ..metric_keys import STATUS
from ..status import RunState
from ..tracking import (
    TAG_CHECKPOINT,
    TAG_FAMILY,
    TAG_INFRA_FAILURE,
    TAG_KIND,
    TAG_RESOURCES,
    clear_failure,
    ensure_experiment,
    find_run,
    finish_run,
    log_params,
    log_text,
    node_tags,
    provenance_tags,
    resolve_tracking_uri,
    set_tags,
    start_run,
)
from ..train.core import STATUS_FAILED
from .cluster import connect_kwargs
from .failures import is_infrastructure
from .ray_train import train_loop_per_worker

_log = logging.getLogger("ncsweep.train")

__all__ = [
    "RAY_RUN_ENV",
    "TrainOutcome",
    "build_trainer",
    "close_run",
    "ensure_ray",
    "leave_open",
    "open_run",
    "outcome_from_metrics",
    "run_training",
    "worker_resources",
]


@dataclass
class TrainOutcome:
    status: str  # RunState.FINISHED or RunState.FAILED
    run_id: str
    metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    failure_reason: str | None = None
    # the run lost its node, worker or actor (runtime/failures.py): worth a retry elsewhere
    infrastructure: bool = False

    @property
    def ok(self) -> bool:
        return self.status == RunState.FINISHED


# Ray Train V2's controller takes one report per poll, every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S
# (2 s by default): a worker waits that long at each evaluation. ncsweep's runs report only
# at evaluations and checkpoints, so polling every 0.1 s costs the controller little.
RAY_RUN_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}


def ensure_ray(address: str | None = None) -> None:
    """Join ``address`` (or ``RAY_ADDRESS``, which a Ray job's entrypoint has) and never
    start a private instance then; without one, start a local instance (dashboard on
    127.0.0.1). The job's processes get ``QUIET_ENV`` and ``RAY_RUN_ENV``."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    env = {**RAY_RUN_ENV, **QUIET_ENV}
    for key in RAY_RUN_ENV:  # a value the user set wins
        env[key] = os.environ.get(key, env[key])
    ray.init(address=address or None, **connect_kwargs(address, env))


def worker_resources(spec: ExperimentSpec, custom: dict[str, float] | None = None) -> dict:
    """What each worker asks for: CPUs, GPUs (Ray Train's NCCL path when > 0), custom."""
    resources = {"CPU": spec.run.cpus_per_worker, **(custom or {})}
    if spec.run.gpus_per_worker:
        resources["GPU"] = spec.run.gpus_per_worker
    return resources


def _tagged_loop(config: dict) -> None:
    """The Ray Train loop, after recording in the run which node this worker runs on."""
    tracking = config.get("tracking")
    if tracking:
        rank = ray.train.get_context().get_world_rank()
        try:
            set_tags(tracking["uri"], tracking["run_id"], node_tags(rank))
        except Exception as err:  # placement is information; it must not fail the run
            _log.warning("could not record the node in MLflow: %s", err)
    train_loop_per_worker(config)


def build_trainer(
    spec: ExperimentSpec,
    run_name: str,
    tracking: dict[str, str] | None,
    storage_path: str,
    callbacks: list | None = None,
    resources: dict[str, float] | None = None,
) -> TorchTrainer:
    """A ``TorchTrainer``; ``use_gpu`` (the NCCL backend) when the spec asks for GPUs.

    Args:
        resources: custom Ray resources per worker (e.g. ``{"worker_node": 0.01}`` places
            the workers on nodes that declare ``worker_node``).
    """
    r = spec.run
    return TorchTrainer(
        _tagged_loop,
        train_loop_config={
            "spec": spec.model_dump(mode="json"),
            "tracking": tracking,
            "report_evaluations": bool(callbacks),  # a Tune trial reads every evaluation
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=r.workers,
            use_gpu=r.gpus_per_worker > 0,
            resources_per_worker=worker_resources(spec, resources),
        ),
        # ray.train is Train V2's RunConfig at run time (RAY_TRAIN_V2_ENABLED); mypy reads the
        # V1 class it imports first, which has no logging_config
        run_config=ray.train.RunConfig(  # type: ignore[call-arg]
            name=run_name,
            storage_path=storage_path,
            failure_config=ray.train.FailureConfig(max_failures=r.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=r.keep_checkpoints),
            callbacks=callbacks or None,
            # Ray Train logs every report (all metrics) at INFO: far too loud for a person.
            logging_config=ray.train.LoggingConfig(log_level="WARNING"),
        ),
    )


def run_tags(spec: ExperimentSpec) -> dict[str, str]:
    return {
        TAG_FAMILY: spec.loss.name,
        "ncsweep.dataset": spec.data.name,
        "ncsweep.model": spec.model.name,
        **provenance_tags(),
    }


def open_run(
    spec: ExperimentSpec,
    run_name: str,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    reattach: dict[str, str] | None = None,
    extra_tags: dict[str, str] | None = None,
    resources: dict[str, float] | None = None,
    title: str | None = None,
) -> dict[str, str]:
    """Create (or re-attach) the run's MLflow run with its tags, params and spec;
    returns ``{"uri", "run_id"}`` for the process that logs (rank 0).

    ``resources``: the custom Ray resources per worker, recorded with the CPUs and GPUs
    each worker asks for in the tag ``ncsweep.resources`` (JSON). ``title``: the MLflow
    run's name when it is not ``run_name`` (Ray Train's run name, which must stay the key).
    """
    uri = resolve_tracking_uri(tracking_uri)
    experiment_id = ensure_experiment(uri, spec.run.experiment)
    placement = {
        "workers": spec.run.workers,
        "per_worker": worker_resources(spec, resources),
        "use_gpu": spec.run.gpus_per_worker > 0,
    }
    tags = {
        **run_tags(spec),
        TAG_KIND: "train",
        TAG_RESOURCES: json.dumps(placement, sort_keys=True),
        **(extra_tags or {}),
    }
    existing = find_run(uri, experiment_id, reattach) if reattach else None
    run_id = start_run(uri, experiment_id, title or run_name, tags, parent_run_id, reattach)
    if existing is not None:  # a new run got its tags when it was created
        clear_failure(uri, run_id)  # a re-attached run starts this attempt without a verdict
        set_tags(uri, run_id, tags)
    log_params(uri, run_id, flatten(spec.model_dump(mode="json")))
    log_text(uri, run_id, dump_spec(spec), "spec.yaml")
    return {"uri": uri, "run_id": run_id}


def close_run(tracking: dict[str, str], outcome: TrainOutcome) -> TrainOutcome:
    """Record the outcome Ray returned (status, reason, checkpoint location) in MLflow."""
    uri, run_id = tracking["uri"], tracking["run_id"]
    if outcome.checkpoint:
        set_tags(uri, run_id, {TAG_CHECKPOINT: outcome.checkpoint})
        log_text(uri, run_id, outcome.checkpoint + "\n", "checkpoint_location.txt")
    finish_run(uri, run_id, outcome.status, outcome.failure_reason)
    return outcome


def leave_open(tracking: dict[str, str], outcome: TrainOutcome) -> TrainOutcome:
    """An infrastructure failure that will be retried: the run stays RUNNING (the retry
    re-attaches to it) with the reason in ``ncsweep.infrastructure_failure``."""
    set_tags(tracking["uri"], tracking["run_id"], {TAG_INFRA_FAILURE: outcome.failure_reason})
    return outcome


def outcome_from_metrics(
    run_id: str, metrics: dict[str, Any], checkpoint: str | None = None
) -> TrainOutcome:
    """A run's verdict from its last report: ``status = failed`` carries its reason."""
    if metrics.get(STATUS) == STATUS_FAILED:
        reason = str(metrics.get("failure_reason") or "the run reported a failure")
        return TrainOutcome(RunState.FAILED, run_id, metrics, checkpoint, reason)
    return TrainOutcome(RunState.FINISHED, run_id, metrics, checkpoint)


def run_training(
    spec: ExperimentSpec,
    *,
    run_name: str,
    tracking_uri: str | None = None,
    storage_path: str | None = None,
    parent_run_id: str | None = None,
    reattach: dict[str, str] | None = None,
    extra_tags: dict[str, str] | None = None,
    callbacks: list | None = None,
    resources: dict[str, float] | None = None,
    retried: bool = False,
    title: str | None = None,
) -> TrainOutcome:
    """Train one model on Ray Train, tracked as one MLflow run; never raises for run failures.

    The outcome comes from Ray: the last report's ``status``/``failure_reason`` (a run that
    ended itself, e.g. a non-finite loss) or the error ``fit()`` raised; MLflow records it.

    Args:
        run_name: Ray Train run name and MLflow run name (a sweep passes the trial id).
        title: the MLflow run's name instead (a sweep's ``<family>-<trial id>``).
        reattach: tags identifying an existing MLflow run to continue instead of a new one.
        resources: custom Ray resources per worker (see ``build_trainer``).
        retried: the caller retries infrastructure failures (a Tune trial): such a failure
            leaves the MLflow run open for the retry (tag ``ncsweep.infrastructure_failure``)
            and comes back as ``outcome.infrastructure``; otherwise the run is FAILED.
    """
    tracking = open_run(
        spec, run_name, tracking_uri, parent_run_id, reattach, extra_tags, resources, title
    )
    ensure_ray()
    trainer = build_trainer(
        spec,
        run_name,
        tracking,
        default_storage(storage_path or spec.run.storage_path),
        callbacks,
        resources,
    )
    try:
        result = trainer.fit()
    except Exception as err:  # Ray wraps worker errors; the run is failed, the caller goes on
        failed = TrainOutcome(
            RunState.FAILED,
            tracking["run_id"],
            failure_reason=_reason(err),
            infrastructure=is_infrastructure(err),
        )
        if failed.infrastructure and retried:
            return leave_open(tracking, failed)
        return close_run(tracking, failed)
    metrics = dict(result.metrics or {})
    checkpoint = result.checkpoint.path if result.checkpoint else None
    if metrics.get(STATUS) == STATUS_FAILED:
        checkpoint = None  # a verdict, not a model
    outcome = outcome_from_metrics(tracking["run_id"], metrics, checkpoint)
    return close_run(tracking, outcome)


def _reason(err: BaseException) -> str:
    """The innermost message of a Ray-wrapped worker error, on one line."""
    text = str(err).strip().splitlines()
    last = [line for line in text if line.strip()]
    return (last[-1] if last else type(err).__name__)[:1000]
