"""Hyper-parameters that change while a run trains, and the lineage that reproduces the run.

Two ways a run's hyper-parameters (``config.hyperparameter_values``: learning rate, weight
decay, temperatures, loss weights) change mid-run:

- replayed: the spec's ``hyperparameter_schedule`` says ``{step, overrides}``; after the
  evaluation (and checkpoint) at ``step`` the core trains with the overrides;
- mutated: population-based training restarts a trial with a new config from a checkpoint
  that was trained with other values (often another trial's). The core is built from the
  new spec; the checkpoint says which values it trained with, and where they differ the
  restore is a change at the checkpoint's step.

Either way the new values take effect the same way (:func:`apply_hyperparameters`): the
loss is rebuilt from the new options and keeps its buffers (a negative-set memory), the
evaluation loss is rebuilt, and every parameter group's learning rate becomes
``scaled_lr(new lr) * lr_factor(step)`` (the schedule's multiplier at the current step, the
expression ``LambdaLR`` itself evaluates) with the scheduler's base rates set to the new
scaled rate, so the cosine continues from the new base; weight decay is set likewise.

The :class:`Lineage` travels in every checkpoint: the values at step 0 and each change with
the values before it, the trial that made it and the trial whose checkpoint it continued. A
trial that continues another's checkpoint inherits that trial's lineage up to the step,
so the final lineage is the whole history of the final model: the spec with the start
values plus ``hyperparameter_schedule`` = the changes trains the same model again
(:meth:`Lineage.replay_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..config import ExperimentSpec, apply_overrides, hyperparameter_values, spec_from_dict
from ..losses import create_loss, evaluation_loss
from .optimization import lr_factor

if TYPE_CHECKING:
    from .core import TrainingCore

__all__ = ["Lineage", "apply_hyperparameters", "planned_until", "spec_with"]


def spec_with(spec: ExperimentSpec, overrides: dict[str, float]) -> ExperimentSpec:
    """``spec`` with ``overrides`` (``{dotted key: value}``) set; its schedule kept."""
    data = apply_overrides(spec.model_dump(mode="json"), list(overrides.items()))
    return spec_from_dict(data, f"hyper-parameter change {overrides}")


def planned_until(spec: ExperimentSpec, step: int, first: int = 1) -> dict[str, float]:
    """The overrides of the spec's schedule entries at steps ``first`` .. ``step``, merged
    in step order (a later entry wins)."""
    merged: dict[str, float] = {}
    for entry in spec.hyperparameter_schedule:
        if first <= entry.step <= step:
            merged.update(entry.overrides)
    return merged


def apply_hyperparameters(core: TrainingCore) -> None:
    """Make ``core``'s loss, evaluation loss and optimiser follow ``core.spec`` at
    ``core.step`` (module docstring). The global RNG is left as it was: rebuilding a
    loss must not shift the data order or initialisation of what follows."""
    spec = core.spec
    rng = torch.get_rng_state()
    buffers = core.loss.state_dict()
    core.loss = create_loss(spec.loss.name, **spec.loss.kwargs()).to(core.device)
    core.loss.load_state_dict(buffers)
    core.eval_loss = evaluation_loss(spec.loss.name, spec.loss.kwargs())
    torch.set_rng_state(rng)
    base = spec.optim.scaled_lr(spec.run.batch_size)
    factor = lr_factor(
        core.scheduler.last_epoch, spec.schedule, core.total_steps, core.steps_per_epoch
    )
    core.scheduler.base_lrs = [base for _ in core.optimizer.param_groups]
    for group in core.optimizer.param_groups:
        group["initial_lr"] = base
        group["lr"] = base * factor
        group["weight_decay"] = spec.optim.weight_decay


@dataclass
class Lineage:
    """How a run's hyper-parameters came to be (module docstring).

    Attributes:
        start: ``{key: value}`` at step 0.
        changes: ``{"step", "overrides", "previous", "trial", "from_trial"}`` in step order;
            ``previous`` holds the values before the change, ``trial`` the run that made it,
            ``from_trial`` the run whose checkpoint it continued (itself for a replay).
    """

    start: dict[str, float]
    changes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of_spec(cls, spec: ExperimentSpec) -> Lineage:
        """A run about to start: the spec's values, its schedule as planned changes."""
        start = hyperparameter_values(spec)
        values = dict(start)
        changes = []
        for entry in spec.hyperparameter_schedule:
            previous = {k: values[k] for k in entry.overrides}
            values.update(entry.overrides)
            changes.append(
                {
                    "step": entry.step,
                    "overrides": dict(entry.overrides),
                    "previous": previous,
                    "trial": spec.run.name or "",
                    "from_trial": spec.run.name or "",
                }
            )
        return cls(start, changes)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Lineage:
        return cls(dict(state["start"]), [dict(c) for c in state["changes"]])

    def to_state(self) -> dict[str, Any]:
        """Plain containers (a checkpoint is read with ``weights_only=True``)."""
        return {"start": dict(self.start), "changes": [dict(c) for c in self.changes]}

    def record(
        self,
        step: int,
        overrides: dict[str, float],
        previous: dict[str, float],
        trial: str,
        source: str,
    ) -> None:
        """A change at ``step``; planned changes after ``step`` are dropped (the run now
        follows its new values, not the plan of the checkpoint it continued)."""
        self.changes = [c for c in self.changes if c["step"] < step]
        change = {
            "step": step,
            "overrides": dict(overrides),
            "previous": dict(previous),
            "trial": trial,
            "from_trial": source,
        }
        self.changes.append(change)

    @property
    def schedule(self) -> list[dict[str, Any]]:
        """``hyperparameter_schedule`` entries that replay the changes (one per step)."""
        merged: dict[int, dict[str, float]] = {}
        for change in self.changes:
            merged.setdefault(int(change["step"]), {}).update(change["overrides"])
        return [{"step": step, "overrides": merged[step]} for step in sorted(merged)]

    def replay_spec(self, spec: ExperimentSpec) -> dict[str, Any]:
        """``spec`` as a document that trains this run again from step 0: its
        hyper-parameters at their start values, the changes as its schedule."""
        data = apply_overrides(spec.model_dump(mode="json"), list(self.start.items()))
        data["hyperparameter_schedule"] = self.schedule
        if not data["hyperparameter_schedule"]:
            del data["hyperparameter_schedule"]
        return data
