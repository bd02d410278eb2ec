"""``resolve_plan``: a sweep's settings turned once into its :class:`~ncsweep.plan.plan.SweepPlan`.

Reads the preset and each family's search space once, builds one spec per family from it and
runs the preflight checks, plans each trial's resources and evaluation budget, and reads
the warm-start source (a folder of exported configs, or an earlier sweep in the tracking
store: ``warm_start.py``, why this lives in the features layer). Every mistake is a
``SpecError`` naming the file, key and allowed values, raised before Ray starts.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ..config import (
    ExperimentSpec,
    SpecError,
    apply_overrides,
    parse_overrides,
    spec_from_dict,
)
from ..plan.objectives import Objective, resolve_objective
from ..plan.plan import FamilyPlan, SweepPlan, freeze
from ..plan.preflight import check_spec
from ..plan.presets import Preset, load_preset
from ..plan.spaces import SearchSpace
from ..plan.sweep_config import SweepConfig
from ..runtime.schedulers import check_fits
from ..runtime.trial import runs_in_trial, trial_resources
from ..tracking import require_reachable, resolve_tracking_uri
from ..train.core import planned_evaluations
from ..train.streaming import train_size
from .warm_start import best_specs, warm_point

__all__ = ["resolve_plan"]


def resolve_plan(config: SweepConfig, *, resume: bool = False) -> SweepPlan:
    """The sweep ``config`` describes, resolved and validated (module docstring).

    Args:
        config: the sweep's settings.
        resume: the sweep continues; its studies already hold the warm-start points, so
            the warm-start source is not read again.

    Raises:
        SpecError: a preset, search space, spec or warm-start source is wrong.
    """
    preset = load_preset(config.preset, config.spaces_root).with_sweep(
        workers_per_trial=config.workers_per_trial,
        gpus_per_trial=config.gpus_per_trial,
        cpus_per_worker=config.cpus_per_worker,
    )
    objective = resolve_objective(config.objective)
    uri = resolve_tracking_uri(config.tracking_uri)
    notes: list[str] = []
    resolved = {f: _family(config, preset, objective, f, notes) for f in config.families}
    warm = {} if resume or not config.warm_start else _warm_points(config, resolved, uri, notes)
    families = {
        family: FamilyPlan(
            family=family,
            space=space,
            space_text=Path(space.source).read_text(),
            base=freeze(base),
            resources=freeze(_trial_resources(sample, config)),
            in_trial=runs_in_trial(sample),
            keep_checkpoints=sample.run.keep_checkpoints,
            max_evaluations=max_evals,
            warm_point=freeze(warm[family]) if family in warm else None,
        )
        for family, (space, base, sample, max_evals) in resolved.items()
    }
    return SweepPlan(config, objective, uri, freeze(families), tuple(notes))


def _family(
    config: SweepConfig, preset: Preset, objective: Objective, family: str, notes: list[str]
) -> tuple[SearchSpace, dict, ExperimentSpec, int]:
    """The family's search space, base spec (preset + family base + ``--set`` + sweep
    settings; the objective's suite added to ``eval.suites``), one spec drawn with the
    sweep's seed (built and passed through preflight) and its evaluation budget."""
    space = preset.space_for(family)
    base = apply_overrides(space.spec_dict(preset.spec, {}), parse_overrides(config.overrides))
    base.setdefault("run", {})
    if objective.suite is not None:
        evaluation = base.setdefault("eval", {})
        suites = list(evaluation.get("suites") or [])
        evaluation["suites"] = suites if objective.suite in suites else [*suites, objective.suite]
    source = f"preset {config.preset}, family {family}"
    values = space.sample(random.Random(config.seed)).items()
    sample = spec_from_dict(apply_overrides(base, list(values)), source)
    check_spec(sample, source=source)
    problem = check_fits(config, sample, runs_in_trial(sample), space)
    if problem:
        raise SpecError(f"{source}: {problem}")
    max_evals = _evaluation_budget(space, base, config.seed)
    if config.scheduler in ("asha", "hyperband", "bohb") and config.grace_period > max_evals:
        notes.append(
            f"note: ASHA grace period {config.grace_period} is more than the "
            f"{max_evals} evaluation(s) of a {family} trial; using {max_evals} "
            "(set --grace-period to choose)"
        )
    return space, base, sample, max_evals


def _trial_resources(sample: ExperimentSpec, config: SweepConfig) -> dict[str, float]:
    """The trial actor's resources; when it trains in-process it is the run's only worker
    and asks for the custom resources too (with Ray Train the workers ask for them)."""
    resources = dict(trial_resources(sample))
    if runs_in_trial(sample):
        resources.update(config.resources_per_worker)
    return resources


def _evaluation_budget(space: SearchSpace, base: dict, seed: int, draws: int = 16) -> int:
    """The most evaluations a trial of this family makes: ASHA's ``max_t``, in the
    ``evaluation`` unit the trials report (so ``eval.eval_every`` keeps the rungs right).

    Planned for ``draws`` specs drawn from the space (batch size, epochs and
    ``eval_every`` may be searched) on the training set, which the driver reads when it is
    local (the preflight already built it). For a remote set it is an upper bound:
    a larger ``max_t`` only adds rungs no trial reaches (``stop_last_trials=False``).
    """
    specs = [
        spec_from_dict(apply_overrides(base, list(space.sample(random.Random(seed + i)).items())))
        for i in range(draws)
    ]
    epochs = max(s.run.epochs for s in specs)
    if all(s.eval.eval_every is None and s.run.max_steps is None for s in specs):
        return epochs
    data = specs[0].data
    if data.root is not None and "://" in data.root:
        return epochs * 10_000
    from ..data import create_dataset

    bundle = create_dataset(
        data.name,
        root=data.root,
        views=1,
        augment=False,
        imbalance=data.imbalance.model_dump() if data.imbalance else None,
        seed=specs[0].run.seed,
        **data.options,
    )
    return max(planned_evaluations(s, train_size(bundle.train)) for s in specs)


def _warm_points(
    config: SweepConfig, resolved: dict[str, tuple], uri: str, notes: list[str]
) -> dict[str, dict[str, Any]]:
    """``{family: point}`` to try first, from ``config.warm_start`` (``warm_start.py``)."""
    source = str(config.warm_start)
    if not Path(source).is_dir():  # an earlier sweep's name: read from the tracking store
        require_reachable(uri)
    specs = best_specs(source, list(resolved), uri)
    return {f: warm_point(resolved[f][0], spec, notes.append) for f, spec in specs.items()}
