"""One sweep trial: a Tune function trainable that runs ``ncsweep train`` through Ray Train.

Ray 2.60 (Train V2) guidance: the Tune trainable builds the ``TorchTrainer`` and calls
``fit()``; the Train run is named after the Tune trial id, so a restored sweep finds the
trial's checkpoints again; metrics reach Tune through a ``TuneReportCallback``. The trial's
MLflow child run is found again by its trial-id tag instead of created twice.
"""

from __future__ import annotations

import logging
from typing import Any

import ray
from ray import tune
from ray.exceptions import RayActorError
from ray.tune.integration.ray_train import CHECKPOINT_PATH_KEY, TuneReportCallback
from ray.util.queue import Full

from ..config import apply_overrides, spec_from_dict
from ..tracking import TAG_FAMILY, TAG_SWEEP, TAG_TRIAL
from ..train import run_training
from .objectives import ACCURACY, NC_STEPS, nc_steps

_log = logging.getLogger("ncsweep.sweep")

__all__ = ["TrialFailed", "SweepReportCallback", "run_trial"]


class TrialFailed(RuntimeError):
    """A trial's training run failed; the message is the reason recorded in MLflow."""


class SweepReportCallback(TuneReportCallback):
    """Forwards every evaluation of the Train run to Tune, with the sweep's NC objective.

    Runs in the Ray Train controller. When Tune stops the trial (ASHA) nobody reads the
    results any more: the hand-over queue is gone or stays full. The controller then ends
    itself, which takes the trial's workers and placement group with it; otherwise a
    stopped trial would keep its CPUs and a small cluster would stall.
    """

    def __init__(self, nc_metric: str, patience_s: float = 60.0):
        super().__init__()
        self.nc_metric = nc_metric
        self.patience_s = patience_s

    def after_report(self, run_context, metrics: list[dict[str, Any]], checkpoint) -> None:
        # Only evaluations reach Tune: a checkpoint-only or failure report has no accuracy,
        # and Tune's strict metric check would end the whole sweep on it (the failure
        # itself reaches Tune as the trial's exception).
        if not metrics or ACCURACY not in metrics[0]:
            return
        result = dict(metrics[0])
        value = nc_steps(result, self.nc_metric)
        if value is not None:
            result[NC_STEPS] = value
        if checkpoint:
            result[CHECKPOINT_PATH_KEY] = checkpoint.path
        try:
            self._training_actor_item_queue.put(result, timeout=self.patience_s)
        except (Full, RayActorError):
            _log.warning(
                "Tune no longer reads this trial's results (stopped early); ending its Train run"
            )
            ray.actor.exit_actor()


def run_trial(config: dict[str, Any], context: dict[str, Any]) -> None:
    """Tune trainable. ``config``: sampled ``{dotted spec key: value}``; ``context``: the
    sweep's fixed settings (base spec, names, tracking URI, storage, parent run id)."""
    trial_id = tune.get_context().get_trial_id()
    # Optuna also reports the switches a conditional space sampled (keys without a dot).
    data = apply_overrides(context["base_spec"], [(k, v) for k, v in config.items() if "." in k])
    data["run"].update(
        name=trial_id,
        experiment=context["sweep"],
        seed=context["seed"],
        storage_path=context["train_storage"],
    )
    spec = spec_from_dict(data, f"sweep {context['sweep']} trial {trial_id}")
    tags = {TAG_SWEEP: context["sweep"], TAG_TRIAL: trial_id, TAG_FAMILY: spec.loss.name}
    outcome = run_training(
        spec,
        run_name=trial_id,
        tracking_uri=context["tracking_uri"],
        parent_run_id=context["parent_run_id"],
        reattach={TAG_SWEEP: context["sweep"], TAG_TRIAL: trial_id},
        extra_tags=tags,
        callbacks=[SweepReportCallback(context["nc_metric"])],
    )
    if not outcome.ok:
        raise TrialFailed(f"trial {trial_id} ({spec.loss.name}): {outcome.failure_reason}")
