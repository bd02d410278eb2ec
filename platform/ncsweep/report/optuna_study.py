"""A family's Optuna study for the search panels: the one the sweep saved, else rebuilt.

The sweep saves each family's study beside its Tune state (``sweep.study``: an Optuna
journal at ``<storage>/<name>/studies/<family>.journal``), read when it is there. Otherwise
the study is rebuilt from the MLflow runs with ``optuna.trial.create_trial``: distributions
from the family's search-space file (logged on the parent run), values from each child's
params; full-budget trials are COMPLETE with ``val/acc1``, trials stopped early PRUNED,
failed ones FAIL, running ones left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from ..config import SpecError
from ..plan.objectives import ACCURACY
from ..runtime.journal import load_study
from ..status import TrialOutcome
from .data import SweepData, Trial, _param_value

if TYPE_CHECKING:
    from ..plan.spaces import Param  # plan.spaces imports the loss registry (torch)

optuna.logging.set_verbosity(optuna.logging.WARNING)

__all__ = ["family_study", "rebuild_study", "saved_study"]

_STATES: dict[str, TrialState] = {
    TrialOutcome.FINISHED: TrialState.COMPLETE,
    TrialOutcome.STOPPED_EARLY: TrialState.PRUNED,
    TrialOutcome.FAILED: TrialState.FAIL,
}


def _distribution(param: Param) -> BaseDistribution | None:
    if param.type in ("uniform", "loguniform"):
        low, high = param.bounds()
        return FloatDistribution(float(low), float(high), log=param.type == "loguniform")
    if param.type == "int":
        low, high = param.bounds()
        return IntDistribution(int(low), int(high), log=param.log, step=param.step or 1)
    if param.type == "categorical":
        return CategoricalDistribution(list(param.choices or ()))
    return None


def _value(dist: BaseDistribution, text: str):
    value = _param_value(text)
    if isinstance(dist, CategoricalDistribution):
        for choice in dist.choices:
            if choice == value or str(choice) == text:
                return choice
        return None
    if isinstance(dist, IntDistribution):
        return int(value)
    return float(value)


def _inside(dist: BaseDistribution, value) -> bool:
    if isinstance(dist, FloatDistribution | IntDistribution):
        return dist.low <= value <= dist.high
    return True


def rebuild_study(family: str, trials: list[Trial], params: list[Param]) -> optuna.Study:
    """An in-memory study (maximise ``val/acc1``) with one trial per ended MLflow run."""
    study = optuna.create_study(study_name=family, direction="maximize")
    dists = {p.key: d for p in params if not p.is_switch and (d := _distribution(p)) is not None}
    for trial in sorted(trials, key=lambda t: t.start_ms or 0):
        state = _STATES.get(trial.status)
        if state is None:
            continue
        values, used = {}, {}
        for key, dist in dists.items():
            if key in trial.params:
                value = _value(dist, trial.params[key])
                if value is not None and _inside(dist, value):
                    values[key], used[key] = value, dist
        value = trial.row.acc1 if state == TrialState.COMPLETE else None
        if state == TrialState.COMPLETE and value is None:
            continue
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=value,
                params=values,
                distributions=used,
                user_attrs={"trial_id": trial.row.trial_id, "run_id": trial.row.run_id},
            )
        )
    return study


def saved_study(storage: str | None, name: str, family: str) -> optuna.Study | None:
    """The study the sweep saved for ``family`` (``sweep.study``: local or ``s3://``), or None."""
    if not storage:
        return None
    try:
        return load_study(storage, name, family)
    except (SpecError, OSError, KeyError, ValueError):
        return None


def family_study(data: SweepData, family: str) -> tuple[optuna.Study, str]:
    """(study, where it came from: ``saved`` or ``rebuilt from MLflow``)."""
    study = saved_study(data.storage, data.name, family)
    if study is not None and study.trials:
        return study, "saved study"
    rebuilt = rebuild_study(family, data.family_trials(family), data.spaces.get(family, []))
    return rebuilt, f"rebuilt from MLflow runs ({ACCURACY})"
