"""How a sweep runs: :class:`SweepSettings`, what a preset's ``sweep:`` section may set.

A leaf of the sweep package (presets and the searcher read it); ``settings.SweepConfig``
adds which sweep (name, preset, families, storage, tracking) and the order of precedence.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..geometry.descriptors import OBJECTIVE_NC_METRICS

__all__ = ["SweepSettings", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"30m"``, ``"1.5h"``, ``"2d"`` in seconds."""
    value = text.strip().lower()
    scale = _UNITS.get(value[-1:], None)
    number = value[:-1] if scale else value
    try:
        return float(number) * (scale or 1)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a duration; use seconds or a number with s, m, h or d (e.g. 2h)"
        ) from None


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
        description="accuracy, pareto, or eval/<suite>/<key> (plan/objectives.py)",
    )
    nc_metric: str = Field("mean", description="pareto objective: 'mean' or an NC metric name")
    parallel_families: bool = Field(
        True,
        description="run every family's Tune run at once in one driver, sharing the "
        "cluster (each keeps its own trial budget, study and limit of trials at once); off: "
        "one family after another",
    )
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
    confirm_top: int = Field(
        3,
        ge=0,
        description="after the search, re-run each family's top this many complete trials "
        "by the objective (pareto: the front first, then by accuracy) over confirm_seeds "
        "seeds; 0: no confirmation stage",
    )
    confirm_seeds: int = Field(
        5,
        ge=0,
        description="seeds each confirmed config runs with: seed+1 .. seed+confirm_seeds "
        "(1..confirm_seeds by default; the search trains every trial with seed); 0: no "
        "confirmation stage",
    )
    time_budget: float | None = Field(
        None,
        gt=0,
        description="seconds (or 90s, 30m, 2h) this run of the command may take; then the "
        "sweep stops as resumable",
    )
    gpu_hours: float | None = Field(
        None,
        gt=0,
        description="GPU-hours this run of the command may hold (GPUs per trial x trials at "
        "once x hours); then the sweep stops as resumable",
    )

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _gpu_hours_need_gpus(self) -> SweepSettings:
        if self.gpu_hours is not None and self.gpus_per_trial <= 0:
            raise ValueError("gpu_hours: needs gpus_per_trial > 0 (GPU-hours count held GPUs)")
        return self

    def budget_s(self, concurrent: int) -> float | None:
        """Seconds this run of the command may take: the time budget, or the GPU-hours
        spread over the GPUs ``concurrent`` trials hold, whichever is less."""
        budgets = [self.time_budget] if self.time_budget else []
        if self.gpu_hours:
            budgets.append(self.gpu_hours * 3600 / (self.gpus_per_trial * concurrent))
        return min(budgets) if budgets else None

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
    def confirms(self) -> bool:
        """Whether the sweep has a confirmation stage (``sweep/confirm_stage.py``)."""
        return self.confirm_top > 0 and self.confirm_seeds > 0

    @property
    def confirm_seed_list(self) -> list[int]:
        """The confirmation stage's seeds: the ``confirm_seeds`` after the search's own
        ``seed``, so a confirmation run never repeats a search trial's initialisation, data
        order, augmentation or train/val split (1..S with the default seed 0)."""
        return list(range(self.seed + 1, self.seed + 1 + self.confirm_seeds))

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
