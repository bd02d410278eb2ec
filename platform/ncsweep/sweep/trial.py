"""One sweep trial: a Tune function trainable that trains one spec with the training core.

- One worker on CPU (``runs_in_trial``): the core runs in the trial process itself;
  evaluations reach Tune with ``tune.report(..., checkpoint=...)`` and a restarted trial
  (killed actor, resumed sweep) continues from ``tune.get_checkpoint()``. Tune reuses the
  trial actors, so torch is imported once per actor, not once per trial.
- Several workers or GPUs: Ray 2.60 (Train V2) guidance: the trainable builds the
  ``TorchTrainer`` and calls ``fit()``; the Train run is named after the Tune trial id, so a
  restored sweep finds the trial's checkpoints again; metrics reach Tune through a
  ``TuneReportCallback``.

Either way the trial's MLflow child run is found again by its trial-id tag instead of
created twice, and the outcome comes from the run itself (not read back from MLflow).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from typing import Any

import ray
from ray import tune
from ray.exceptions import RayActorError
from ray.tune import Checkpoint
from ray.tune.integration.ray_train import TuneReportCallback

from ..config import ExperimentSpec, apply_overrides, spec_from_dict
from ..tracking import TAG_FAMILY, TAG_SWEEP, TAG_TRIAL, node_tags
from ..train import TrainOutcome, close_run, open_run, outcome_from_metrics, run_training
from ..train.checkpoint import ensure_uploaded, load_state, retry_storage, save_state
from ..train.core import LogLineHooks, RunHooks, RunResult, TrainingCore, fit
from ..train.mlflow_hooks import MlflowHooks
from .objectives import ACCURACY, NC_STEPS, nc_steps

_log = logging.getLogger("ncsweep.sweep")

__all__ = [
    "TrialFailed",
    "SweepReportCallback",
    "TuneReporter",
    "restore_from_tune",
    "run_trial",
    "runs_in_trial",
    "trial_resources",
    "tune_result",
]


def runs_in_trial(spec: ExperimentSpec) -> bool:
    """One CPU worker: train in the Tune trial process instead of through Ray Train."""
    return spec.run.workers == 1 and spec.run.gpus_per_worker == 0


def trial_resources(spec: ExperimentSpec) -> dict[str, float]:
    """What the trial actor itself holds: the worker's CPUs when it trains in-process; none
    (a zero-CPU driver) when Ray Train's workers hold them."""
    if runs_in_trial(spec):
        return {"cpu": spec.run.cpus_per_worker}
    return {"cpu": 0, "memory": 1}


class TrialFailed(RuntimeError):
    """A trial's training run failed; the message is the reason recorded in MLflow."""


def tune_result(
    metrics: dict[str, Any], nc_metric: str, objectives: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """What Tune sees of one report: evaluations only, with the sweep's NC objective.

    A checkpoint-only or failure report has no accuracy, and Tune's strict metric check
    would end the whole sweep on it (a failure reaches Tune as the trial's exception).
    Each key of ``objectives`` is present: ``None`` where this report has no value (an
    ``eval/<suite>/<key>`` before the suites ran at the end; ``sweep/objectives.py``)."""
    if ACCURACY not in metrics:
        return None
    result = dict(metrics)
    value = nc_steps(result, nc_metric)
    if value is not None:
        result[NC_STEPS] = value
    for key in objectives:
        result.setdefault(key, None)
    return result


class SweepReportCallback(TuneReportCallback):
    """Forwards every evaluation of a Train run to Tune (``tune_result``).

    Runs in the Ray Train controller. When Tune stops the trial (ASHA) nobody takes the
    results any more: the hand-over blocks or its queue is gone. The controller then ends
    itself, which takes the trial's workers and placement group with it; otherwise a
    stopped trial would keep its CPUs and a small cluster would stall.
    """

    def __init__(self, nc_metric: str, patience_s: float = 60.0, objectives: tuple[str, ...] = ()):
        super().__init__()
        self.nc_metric = nc_metric
        self.patience_s = patience_s
        self.objectives = tuple(objectives)

    def after_report(self, run_context, metrics: list[dict[str, Any]], checkpoint) -> None:
        result = tune_result(metrics[0], self.nc_metric, self.objectives) if metrics else None
        if result is None:
            return
        outcome: list[BaseException] = []

        def hand_over() -> None:
            try:
                TuneReportCallback.after_report(self, run_context, [result], checkpoint)
                outcome.append(StopIteration())
            except BaseException as err:  # noqa: BLE001 - judged below
                outcome.append(err)

        # The public hand-over blocks without a timeout when Tune stopped reading.
        worker = threading.Thread(target=hand_over, daemon=True)
        worker.start()
        worker.join(self.patience_s)
        if not outcome or isinstance(outcome[0], RayActorError):
            _log.warning(
                "Tune no longer reads this trial's results (stopped early); ending its Train run"
            )
            ray.actor.exit_actor()
        if not isinstance(outcome[0], StopIteration):
            raise outcome[0]


class TuneReporter(RunHooks):
    """The training core's evaluations as Tune results, with a checkpoint where the run's
    checkpoint schedule has one (a trial run in-process: Tune's storage keeps the
    checkpoints, ``tune.get_checkpoint`` restores). Step 0 is not reported (nothing trained;
    the Train path does not report it either)."""

    checkpoint_each_evaluation = True

    def __init__(self, nc_metric: str, objectives: tuple[str, ...] = ()):
        self.nc_metric = nc_metric
        self.objectives = tuple(objectives)

    def on_evaluation(self, core: TrainingCore, metrics, checkpoint: bool) -> None:
        if core.step == 0:
            return
        result = tune_result(metrics, self.nc_metric, self.objectives)
        if not checkpoint:
            tune.report(result)
            return
        with tempfile.TemporaryDirectory() as tmp:
            save_state(tmp, core.state_dict())
            # A report whose upload failed reached nobody: sending it again duplicates
            # nothing (the failed attempt only used up a checkpoint index).
            retry_storage(
                lambda: tune.report(dict(result), checkpoint=Checkpoint.from_directory(tmp)),
                f"checkpoint upload at step {core.step}",
            )
            persisted = tune.get_checkpoint()  # the reported one, in the sweep's storage
            ensure_uploaded(tmp, persisted.filesystem, persisted.path)

    def on_end(self, core: TrainingCore, result: RunResult) -> None:
        if not result.trained:  # restored from its final state: Tune gets the result again
            tune.report(tune_result(result.metrics, self.nc_metric, self.objectives))


def restore_from_tune(core: TrainingCore) -> bool:
    """Load the trial's latest Tune checkpoint into ``core`` (a restarted or resumed trial
    that trains in-process); False when the trial has none (it starts from step 0)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return False
    with checkpoint.as_directory() as directory:
        core.load_state_dict(load_state(directory))
    return True


def _run_in_trial(spec, trial_id: str, context: dict[str, Any], tags: dict) -> TrainOutcome:
    """One worker on CPU: the core runs in this Tune trial process (no Train controller, no
    worker process, torch imported once per reused actor). MLflow run as ``run_training``."""
    tracking = open_run(
        spec,
        trial_id,
        context["tracking_uri"],
        context["parent_run_id"],
        {TAG_SWEEP: context["sweep"], TAG_TRIAL: trial_id},
        {**tags, **node_tags(0)},  # this process is the run's only worker
        context.get("resources"),
    )
    mlflow_hooks = MlflowHooks(tracking)
    try:
        core = TrainingCore(spec)
        resumed = restore_from_tune(core)
        reporter = TuneReporter(context["nc_metric"], tuple(context.get("objectives", ())))
        hooks = [LogLineHooks(), mlflow_hooks, reporter]
        result = fit(core, hooks, resumed=resumed)
    except Exception as err:  # the trial fails, the sweep goes on
        mlflow_hooks.close()
        reason = f"{type(err).__name__}: {err}".strip().splitlines()[-1][:1000]
        return close_run(
            tracking, TrainOutcome("FAILED", tracking["run_id"], failure_reason=reason)
        )
    except BaseException:  # stopped by Tune (ASHA) mid-report: the driver gives the verdict
        mlflow_hooks.close()
        raise
    metrics = {**result.metrics, "failure_reason": result.failure_reason}
    return close_run(tracking, outcome_from_metrics(tracking["run_id"], metrics))


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
    if runs_in_trial(spec):
        outcome = _run_in_trial(spec, trial_id, context, tags)
    else:
        outcome = run_training(
            spec,
            run_name=trial_id,
            tracking_uri=context["tracking_uri"],
            parent_run_id=context["parent_run_id"],
            reattach={TAG_SWEEP: context["sweep"], TAG_TRIAL: trial_id},
            extra_tags=tags,
            callbacks=[
                SweepReportCallback(
                    context["nc_metric"], objectives=tuple(context.get("objectives", ()))
                )
            ],
            resources=context.get("resources"),
        )
    if not outcome.ok:
        raise TrialFailed(f"trial {trial_id} ({spec.loss.name}): {outcome.failure_reason}")
