"""What a trial is given and what Tune sees of it, without torch.

:class:`TrialContext` travels to every trial actor (``tune.with_parameters``), so the module
that defines it is imported there: it stays free of torch and Ray Train, so a simulated trial
(``simulated.py``) runs in an actor that never imports them. ``trial.py`` re-exports both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import metric_keys as keys
from ..config import apply_overrides
from ..plan.objectives import ACCURACY, NC_STEPS, nc_steps
from ..tracking import TAG_TRIAL

__all__ = [
    "INACTIVE",
    "REPORT_TIME_MS",
    "TRIAL_PREFIX",
    "TUNE_KEYS",
    "TrialContext",
    "trial_spec_data",
    "tune_result",
]

TRIAL_PREFIX = "trial_"
# A report's own wall-clock time (ms): a stopped trial's run ends there to the millisecond
# (Tune's ``timestamp`` is whole seconds, which can fall before the run's start).
REPORT_TIME_MS = "report_time_ms"
# A parameter a trial's config does not have (its condition is off): the value Tune's basic
# generator needs for it (``schedulers.population_search``); the trial skips it.
INACTIVE = "ncsweep:inactive"


@dataclass(frozen=True)
class TrialContext:
    """The fixed settings of every trial of one run (``tune.with_parameters``).

    A trial's MLflow run is the child of ``parent_run_id`` tagged ``{group_tag: name,
    ncsweep.trial_id: key}``; the key is the Tune trial id, or, with ``key_format``, that
    template filled from the trial's config (a study names its cells ``"{cell}"``, the
    confirmation stage its runs ``CONFIRMATION_KEY``).
    """

    name: str  # the sweep's or study's name (its MLflow experiment)
    group_tag: str  # TAG_SWEEP or TAG_STUDY
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    nc_metric: str = "mean"
    objectives: tuple[str, ...] = ()
    resources: dict[str, float] = field(default_factory=dict)
    key_format: str | None = None
    # tags of every run its trials create: the storage and lease generation that own them
    # (``ownership.py``; what ``drop_orphans`` may remove)
    owner: tuple[tuple[str, str], ...] = ()

    def key(self, trial_id: str, config: dict[str, Any] | None) -> str:
        return self.key_format.format(**(config or {})) if self.key_format else trial_id

    def run_tags(self, key: str) -> dict[str, str]:
        """The tags that find (and re-attach) the trial's MLflow run."""
        return {self.group_tag: self.name, TAG_TRIAL: key}

    def result_tags(self, result) -> dict[str, str]:
        """``run_tags`` of a Tune result (its trial folder is ``trial_<id>``)."""
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name.removeprefix(
            TRIAL_PREFIX
        )
        return self.run_tags(self.key(trial_id, result.config))


#: What Tune keeps of an evaluation besides the objectives: what the scheduler, the searcher,
#: the live view and the verdicts read (``schedulers.py``, ``searcher.py``, ``live.py``,
#: ``tuning.reconcile_runs``) and the headline. Tune keeps every reported key's last value
#: and running statistics per trial in its experiment state, which it saves whole, often
#: (every ``num_to_keep`` checkpoints of any trial): the ~70 NC keys of an evaluation made
#: that state 87 KB per trial (35 MB at 400 trials). MLflow has every key.
TUNE_KEYS = (
    ACCURACY,
    NC_STEPS,
    keys.EVALUATION,
    keys.STATUS,
    "failure_reason",
    keys.STEP,
    keys.TOTAL_STEPS,
    keys.EPOCH,
    *keys.VAL_HEADLINE,
)


def trial_spec_data(
    config: dict[str, Any],
    context: TrialContext,
    base_spec: dict[str, Any],
    trial_id: str,
    seed: int,
    train_storage: str,
) -> dict[str, Any]:
    """A trial's spec as a dict: ``config``'s sampled ``{dotted spec key: value}`` over the
    family's ``base_spec``, the run named ``trial_id`` in ``context.name``'s experiment,
    seeded with ``seed``, its Ray Train checkpoints under ``train_storage``."""
    # Optuna also reports the switches a conditional space sampled (keys without a dot).
    pairs = [(k, v) for k, v in config.items() if "." in k and v != INACTIVE]
    data = apply_overrides(base_spec, pairs)
    data["run"].update(
        name=trial_id, experiment=context.name, seed=seed, storage_path=train_storage
    )
    data.setdefault("eval", {})["test"] = False  # a trial never reads the test split
    return data


def tune_result(
    metrics: dict[str, Any], nc_metric: str, objectives: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """What Tune sees of one report: evaluations only, the keys of :data:`TUNE_KEYS` and
    ``objectives``, with the sweep's NC objective.

    A checkpoint-only or failure report has no accuracy, and Tune's strict metric check
    would end the whole sweep on it (a failure reaches Tune as the trial's exception).
    Each key of ``objectives`` is present: ``None`` where this report has no value (an
    ``eval/<suite>/<key>`` before the suites ran at the end; ``plan/objectives.py``)."""
    if ACCURACY not in metrics:
        return None
    result = {key: metrics[key] for key in TUNE_KEYS if key in metrics}
    result[REPORT_TIME_MS] = int(time.time() * 1000)
    value = nc_steps(metrics, nc_metric)
    if value is not None:
        result[NC_STEPS] = value
    for key in objectives:  # the NC objective computed above stays
        result.setdefault(key, metrics.get(key))
    return result
