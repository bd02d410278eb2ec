"""How a sweep runs: :class:`SweepSettings`, what a preset's ``sweep:`` section may set.

A leaf of the plan layer (presets and the searcher read it); ``sweep_config.SweepConfig``
adds which sweep (name, preset, families, storage, tracking) and the order of precedence.
Each setting is declared once, here: its type, bounds, default, help text (the field's
description) and how it appears on the command line (:class:`Flag`). Importing this module
imports neither torch nor the registries, so the CLI builds its options from it at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo

from .samplers import DEFAULT_SAMPLER, SAMPLERS, multi_objective_samplers

__all__ = ["Flag", "SchedulerName", "SweepSettings", "flag_of", "parse_duration"]

#: ``--scheduler`` choices; ``runtime/schedulers.py`` registers one scheduler per name.
SchedulerName = Literal["asha", "hyperband", "bohb", "pbt", "pb2", "none"]
#: schedulers that rank trials by val/acc1 alone (ASHA has a Pareto variant)
_ACCURACY_ONLY = ("hyperband", "bohb", "pbt", "pb2")

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


def startup_trials(trials: int) -> int:
    """Trials TPE samples at random before it models (``n_startup_trials``) in a family of
    ``trials``: the searcher sets it, and the tuning curves take those trials as iid."""
    return max(2, trials // 3)


@dataclass(frozen=True)
class Flag:
    """How a setting appears on the command line; its help is the field's ``description``.

    A setting is one field, ``Annotated[type, Flag(...)]``, and ``ncsweep sweep`` builds
    its option from it (``cli/sweep.py``).

    Attributes:
        panel: the ``--help`` panel: ``search``, ``run``, ``cluster`` or ``output``.
        name: the flag where it is not ``--<field-name>`` (``--set``, ``--spaces``).
        short: a short option (``-n``), if any.
        off: a boolean's off switch (``--one-family-at-a-time``).
    """

    panel: str
    name: str | None = None
    short: str | None = None
    off: str | None = None

    def flag(self, field: str) -> str:
        """The long option of setting ``field``."""
        return self.name or "--" + field.replace("_", "-")


def flag_of(field: FieldInfo) -> Flag | None:
    """The :class:`Flag` a field declares, or None (not a command-line setting)."""
    return next((m for m in field.metadata if isinstance(m, Flag)), None)


class SweepSettings(BaseModel):
    """How a sweep runs; the preset's ``sweep:`` section sets any of these.

    Each field's description is its ``--help`` text (a sentence or two).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: Annotated[int, Flag("search")] = Field(4, ge=1, description="Trials per loss family.")
    seed: Annotated[int, Flag("search")] = Field(
        0, ge=0, description="Seeds the samplers and every trial's data split."
    )
    objective: Annotated[str, Flag("search")] = Field(
        "accuracy",
        description="accuracy; pareto (accuracy up, steps to NC threshold down); "
        "nc-at-accuracy (fewest steps to the NC threshold within --accuracy-delta points of "
        "the family's best val/acc1); or "
        "eval/<suite>/<key>, a metric an evaluation suite measures at the end of each trial, "
        "e.g. eval/probes/acc/probe (the suite is turned on for every trial; direction from "
        "the suite registry; ASHA keeps stopping by val/acc1).",
    )
    nc_metric: Annotated[str, Flag("search")] = Field(
        "mean", description="NC metric of the pareto objective: mean or a metric name."
    )
    sampler: Annotated[str, Flag("search")] = Field(
        DEFAULT_SAMPLER,
        description="Optuna sampler of each family's study: "
        + ", ".join(SAMPLERS)
        + " (under --objective pareto: "
        + ", ".join(multi_objective_samplers())
        + "). Parameters a sampler cannot model are drawn at random (README: Samplers).",
    )
    constraint: Annotated[list[str], Flag("search")] = Field(
        default_factory=list,
        description="Repeatable. METRIC>=BOUND or METRIC<=BOUND; BOUND a number "
        "(val/acc1>=0.95) or a family's best value minus/plus points, 1 point = 0.01 "
        "(val/acc1>=ce-0.5). Optuna steers away from infeasible trials; the leaderboard "
        "ranks them last and the export never writes one.",
    )
    accuracy_delta: Annotated[float, Flag("search")] = Field(
        0.5,
        ge=0,
        description="nc-at-accuracy: how many points (0.01) below the family's best val/acc1 "
        "a trial may be and still count.",
    )
    scheduler: Annotated[SchedulerName, Flag("search")] = Field(
        "asha",  # with tpe, the default bench_search.py found nothing to beat (README)
        description="asha; hyperband (asynchronous, all brackets); bohb (TPE + HyperBand "
        "brackets); pbt or pb2 (population-based: mutate lr, temperature and loss weights "
        "of running trials from checkpoints); none. See docs/design.md.",
    )
    perturbation_interval: Annotated[int, Flag("search")] = Field(
        1,
        ge=1,
        description="pbt/pb2: evaluations between perturbations (trials checkpoint at every "
        "evaluation; with run.checkpoint_every the steps between must fall on checkpoints).",
    )
    grace_period: Annotated[int, Flag("search")] = Field(
        1, ge=1, description="Evaluations before ASHA may stop a trial."
    )
    reduction_factor: Annotated[int, Flag("search")] = Field(
        3, ge=2, description="ASHA keeps 1 in this many trials at each rung."
    )
    max_concurrent: Annotated[int | None, Flag("run")] = Field(
        None, ge=1, description="Trials at once (default: what the cluster holds)."
    )
    workers_per_trial: Annotated[int, Flag("run")] = Field(
        1, ge=1, description="Ray Train workers per trial."
    )
    gpus_per_trial: Annotated[float, Flag("run")] = Field(
        0.0, ge=0, description="GPUs per trial, split over its workers."
    )
    cpus_per_worker: Annotated[float, Flag("run")] = Field(
        1.0, ge=0, description="CPUs per Ray Train worker."
    )
    max_failures: Annotated[int, Flag("run")] = Field(
        3,
        ge=0,
        description="Restarts of a trial from its last checkpoint after an infrastructure "
        "failure (node or worker lost, OOM-kill). A deterministic failure (non-finite loss, "
        "bad spec) is never retried, and preemptions do not count.",
    )
    confirm_top: Annotated[int, Flag("search")] = Field(
        3,
        ge=0,
        description="After the search, re-run each family's top this many complete trials by "
        "the objective (pareto: the front first, then by accuracy) over --confirm-seeds seeds; "
        "0: no confirmation stage.",
    )
    confirm_seeds: Annotated[int, Flag("search")] = Field(
        5,
        ge=0,
        description="Seeds each confirmed config runs with: seed+1 .. seed+N (1..N by default; "
        "the search trains every trial with --seed); 0: no confirmation stage.",
    )
    parallel_families: Annotated[bool, Flag("run", off="--one-family-at-a-time")] = Field(
        True,
        description="Run the families' Tune runs at once in one driver, sharing the cluster "
        "(each keeps its trial budget, study and trials-at-once limit), or one after another.",
    )
    time_budget: Annotated[float | None, Flag("run")] = Field(
        None,
        gt=0,
        description="How long this run of the command may take (seconds, or 90m, 2h, 1d); "
        "then the sweep stops as resumable (ncsweep resume NAME continues it).",
    )
    gpu_hours: Annotated[float | None, Flag("run")] = Field(
        None,
        gt=0,
        description="GPU-hours this run of the command may hold (GPUs per trial x trials at "
        "once x hours); then the sweep stops as resumable.",
    )

    keep_checkpoints: Annotated[Literal["best", "final", "all"], Flag("output")] = Field(
        "best",
        description="Checkpoints a finished trial keeps once the sweep ends (and on resume): "
        "best: the top candidates per family (top max(confirm-top, 1) by the objective, the "
        "Pareto front, confirmation runs) keep their final one, other trials none; final: "
        "every trial its final one; all: every checkpoint Tune kept.",
    )
    tensorboard: Annotated[bool, Flag("output")] = Field(
        False,
        description="Write Tune's TensorBoard event files in each trial folder (MLflow holds "
        "every metric already).",
    )
    simulate: Annotated[float | None, Flag("run")] = Field(
        None,
        ge=0,
        description="Simulate the sweep to plan a cluster: every trial sleeps this many seconds "
        "per optimizer step and logs synthetic learning curves (the real metric keys, cadence, "
        "checkpoints, MLflow runs and driver path; no training, no torch in the trials); no "
        "confirmation stage. E.g. --simulate 0.05; 64 trials at once on a laptop: `ray start --head "
        "--num-cpus 64`, then RAY_ADDRESS=127.0.0.1:6379 ncsweep sweep --simulate 0.05 "
        "--max-concurrent 64 (tests/bench/bench_scale.py measures such a sweep).",
    )

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _scheduler_fits_search(self) -> SweepSettings:
        if self.scheduler in _ACCURACY_ONLY and self.resolved_objective.pareto:
            raise ValueError(
                f"scheduler: {self.scheduler} ranks trials by val/acc1 alone; with objective "
                "pareto use asha (it ranks by dominance) or none"
            )
        sampler = self.sampler
        if self.scheduler == "bohb" and sampler != "tpe":
            raise ValueError(
                f"scheduler: bohb is TPE + HyperBand brackets; it needs sampler tpe, not "
                f"{sampler} (use hyperband with other samplers)"
            )
        return self

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

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, value: str) -> str:
        if value not in SAMPLERS:
            raise ValueError(f"unknown sampler {value!r}; allowed: {', '.join(SAMPLERS)}")
        return value

    @field_validator("constraint")
    @classmethod
    def _known_constraints(cls, value: list[str]) -> list[str]:
        from .constraints import parse_constraint

        for text in value:
            parse_constraint(text)  # ValueError names the allowed form
        return value

    @model_validator(mode="after")
    def _sampler_fits_objective(self) -> SweepSettings:
        if self.objective == "pareto" and not SAMPLERS[self.sampler].multi_objective:
            raise ValueError(
                f"sampler (--sampler): {self.sampler} is single-objective; under objective "
                f"pareto (--objective) allowed: {', '.join(multi_objective_samplers())}"
            )
        return self

    @property
    def constraints(self):
        """The parsed constraints (``plan/constraints.py``), the objective's included."""
        from .constraints import sweep_constraints

        return sweep_constraints(self.constraint, self.objective, self.accuracy_delta)

    @field_validator("nc_metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        # imported here: the CLI builds its options from these fields without torch
        from ..geometry.descriptors import OBJECTIVE_NC_METRICS

        if value not in OBJECTIVE_NC_METRICS:
            raise ValueError(f"must be one of {', '.join(OBJECTIVE_NC_METRICS)}")
        return value

    @property
    def confirms(self) -> bool:
        """Whether the sweep has a confirmation stage (``sweep/confirm_stage.py``)."""
        return self.confirm_top > 0 and self.confirm_seeds > 0 and self.simulate is None

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
