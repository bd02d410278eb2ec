"""How a sweep runs: :class:`SweepSettings`, what a preset's ``sweep:`` section may set.

A leaf of the sweep package (presets and the searcher read it); ``settings.SweepConfig``
adds which sweep (name, preset, families, storage, tracking) and the order of precedence.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..geometry.descriptors import OBJECTIVE_NC_METRICS

__all__ = ["SweepSettings"]


class SweepSettings(BaseModel):
    """How a sweep runs; the preset's ``sweep:`` section sets any of these."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    trials: int = Field(4, ge=1, description="trials per loss family")
    max_concurrent: int | None = Field(
        None, ge=1, description="trials at once (None: what the cluster holds)"
    )
    workers_per_trial: int = Field(1, ge=1, description="Ray Train workers per trial")
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs per trial, split over its workers")
    cpus_per_worker: float = Field(1.0, ge=0, description="CPUs per Ray Train worker")
    seed: int = Field(0, ge=0, description="seeds the samplers and every trial's data split")
    objective: str = Field(
        "accuracy",
        description="accuracy, pareto, or eval/<suite>/<key> (sweep/objectives.py)",
    )
    nc_metric: str = Field("mean", description="pareto objective: 'mean' or an NC metric name")
    scheduler: Literal["asha", "none"] = "asha"
    grace_period: int = Field(1, ge=1, description="evaluations before ASHA may stop a trial")
    reduction_factor: int = Field(3, ge=2)
    max_failures: int = Field(
        3,
        ge=0,
        description="restarts of a trial from its last checkpoint after an infrastructure "
        "failure (node, worker or actor lost, OOM-kill); deterministic failures are never "
        "retried, and preemptions do not count",
    )

    @field_validator("objective")
    @classmethod
    def _known_objective(cls, value: str) -> str:
        from .objectives import resolve_objective

        resolve_objective(value)  # ValueError lists what is allowed
        return value

    @property
    def resolved_objective(self):
        """The resolved objective (``objectives.Objective``): metrics, directions, suite."""
        from .objectives import resolve_objective

        return resolve_objective(self.objective)

    @field_validator("nc_metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value not in OBJECTIVE_NC_METRICS:
            raise ValueError(f"must be one of {', '.join(OBJECTIVE_NC_METRICS)}")
        return value

    @property
    def gpus_per_worker(self) -> float:
        return self.gpus_per_trial / self.workers_per_trial

    def run_resources(self) -> dict[str, Any]:
        """The ``run`` keys of a trial's spec these settings imply."""
        return {
            "workers": self.workers_per_trial,
            "cpus_per_worker": self.cpus_per_worker,
            "gpus_per_worker": self.gpus_per_worker,
        }
