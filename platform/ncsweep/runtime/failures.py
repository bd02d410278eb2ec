"""Why a run failed: the infrastructure under it, or the run itself.

- **Infrastructure** (:data:`INFRASTRUCTURE`): a node died, a worker or actor was lost, the
  OOM killer or a preemption ended a process. The same trial would succeed elsewhere, so
  a sweep retries it from its last checkpoint on another node, in the same MLflow run, up
  to its ``max_failures`` budget (Tune's trial restarts). Also:

  - ``torch.OutOfMemoryError`` (CUDA memory): on a GPU shared with other processes the
    memory another job holds comes and goes, so the same step fits on a retry or on
    another GPU. A model that can never fit costs ``max_failures`` retries and then fails
    as before: a bounded price, against losing a good trial to a neighbour's peak.
  - ``torch.distributed.DistBackendError`` (NCCL/Gloo lost a peer or a connection): a
    network flap between workers, not the run's arithmetic. Other ``DistError`` kinds (a
    mismatched collective, a bad argument) stay deterministic.
  - :class:`~ncsweep.train.checkpoint.IncompleteCheckpoint`: storage lost a checkpoint's
    file; a restore skips to the checkpoint before it, and should that fail too the
    storage, not the run, is at fault.
- **Deterministic**: everything else (a non-finite loss, a spec the dataset cannot serve,
  a bug). Running it again gives the same failure, so it is recorded and never retried.

Ray wraps the original error, sometimes several times (a worker's ``ActorDiedError`` inside
Ray Train's health-check error inside a ``WorkerGroupError`` inside a ``RayTaskError``):
:func:`causes` walks every public place Ray keeps the inner error.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed
from ray import exceptions as ray_errors
from ray.train import PreemptionError

from ..train.checkpoint import IncompleteCheckpoint

__all__ = ["INFRASTRUCTURE", "InfrastructureFailure", "causes", "is_infrastructure"]

INFRASTRUCTURE: tuple[type[BaseException], ...] = (
    ray_errors.RayActorError,  # ActorDiedError, ActorUnavailableError: node lost, OOM-kill
    ray_errors.NodeDiedError,
    ray_errors.WorkerCrashedError,
    ray_errors.LocalRayletDiedError,
    ray_errors.OutOfMemoryError,
    ray_errors.ObjectLostError,  # OwnerDiedError, ObjectFetchTimedOutError, ...
    ray_errors.ActorPlacementGroupRemoved,
    ray_errors.TaskPlacementGroupRemoved,
    PreemptionError,
    torch.OutOfMemoryError,  # CUDA memory on a shared GPU (module docstring)
    torch.distributed.DistBackendError,  # a collective lost its peer: a network flap
    IncompleteCheckpoint,  # storage lost a checkpoint's file
)

# Attributes under which Ray keeps the error it wraps (RayTaskError.cause, Train's
# WorkerGroupError.worker_failures, ControllerError.controller_failure, the health-check
# error's health_check_failure), besides Python's own chaining.
_NESTED = ("cause", "controller_failure", "health_check_failure", "__cause__", "__context__")


class InfrastructureFailure(RuntimeError):
    """A trial lost its infrastructure (see module docstring): Tune retries it."""


def causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every error nested in it, each once."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(getattr(current, name, None) for name in _NESTED)
        failures = getattr(current, "worker_failures", None)
        if isinstance(failures, dict):
            stack.extend(failures.values())


def is_infrastructure(err: BaseException) -> bool:
    """Whether ``err`` (or an error nested in it) means the run lost its infrastructure."""
    return any(
        isinstance(e, (*INFRASTRUCTURE, InfrastructureFailure))
        for e in causes(err)
        if isinstance(e, BaseException)
    )
