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

A failed run ends its trial by the kind of failure (``runtime/failures.py``): an
infrastructure failure (node, worker or actor lost) raises :class:`InfrastructureFailure`,
which Tune retries from the trial's last checkpoint, on another node if need be, in the same
MLflow run, up to the sweep's ``max_failures``; a deterministic failure (non-finite loss,
a spec the data cannot serve) is the trial's verdict: it reports ``status: failed`` and
returns, so Tune never runs it again (``conclude``).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
import threading
from typing import Any

import fsspec
import ray
import torch
from ray import tune
from ray.exceptions import RayActorError
from ray.tune import Checkpoint
from ray.tune.integration.ray_train import TuneReportCallback

from ..config import ExperimentSpec, spec_from_dict
from ..evaluate.hook import default_hooks
from ..metric_keys import STATUS
from ..plan.objectives import ACCURACY
from ..status import RunState
from ..tracking import (
    STAGE_CONFIRM,
    STAGE_SEARCH,
    TAG_CONFIRMS,
    TAG_FAMILY,
    TAG_SEED,
    TAG_STAGE,
    node_tags,
)
from ..train.checkpoint import (
    STATE_FILE,
    ensure_uploaded,
    restore_state,
    retry_storage,
    save_state,
)
from ..train.core import STATUS_FAILED, LogLineHooks, RunHooks, RunResult, TrainingCore, fit
from .failures import InfrastructureFailure, is_infrastructure
from .mlflow_hooks import MlflowHooks
from .mutations import record_mutations
from .trainer import (
    TrainOutcome,
    close_run,
    leave_open,
    open_run,
    outcome_from_metrics,
    run_training,
)
from .trial_context import (
    INACTIVE,
    REPORT_TIME_MS,
    TRIAL_PREFIX,
    TrialContext,
    trial_spec_data,
    tune_result,
)

_log = logging.getLogger("ncsweep.sweep")

__all__ = [
    "INACTIVE",
    "SweepReportCallback",
    "REPORT_TIME_MS",
    "TRIAL_PREFIX",
    "TrialContext",
    "TuneReporter",
    "conclude",
    "failed_verdict",
    "failure_outcome",
    "restore_from_tune",
    "run_confirmation",
    "run_trial",
    "runs_in_trial",
    "train_trial",
    "trial_folder_name",
    "trial_resources",
    "tune_result",
]


# A confirmation run's key: Tune's grid trial ids (``<5 hex>_00000``) repeat across Tune
# runs started in the same instant (families in parallel), the confirmed run id does not.
CONFIRMATION_KEY = "{confirms}-seed{seed}"


def trial_folder_name(trial: Any) -> str:
    """A Tune trial's folder in storage, ``trial_<trial id>`` (``TuneConfig``'s
    ``trial_dirname_creator``; also takes the id itself): the driver tells its own trials'
    folders from those a killed driver left behind by name alone."""
    return f"{TRIAL_PREFIX}{getattr(trial, 'trial_id', trial)}"


def runs_in_trial(spec: ExperimentSpec) -> bool:
    """One CPU worker: train in the Tune trial process instead of through Ray Train."""
    return spec.run.workers == 1 and spec.run.gpus_per_worker == 0


def trial_resources(spec: ExperimentSpec) -> dict[str, float]:
    """What the trial actor itself holds: the worker's CPUs when it trains in-process; none
    (a zero-CPU driver) when Ray Train's workers hold them."""
    if runs_in_trial(spec):
        return {"cpu": spec.run.cpus_per_worker}
    return {"cpu": 0, "memory": 1}


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
        if result is None:  # not an evaluation, as in SweepReportCallback.after_report
            return
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
            # Tune's function API uploads and registers in one call, so the check (the
            # helper Ray Train's upload_verified uses) comes right after it; a restore
            # that meets the checkpoint incomplete in between takes the one before.
            persisted = tune.get_checkpoint()  # the reported one, in the sweep's storage
            ensure_uploaded(tmp, persisted.filesystem, persisted.path)

    def on_end(self, core: TrainingCore, result: RunResult) -> None:
        if not result.trained:  # restored from its final state: Tune gets the result again
            tune.report(tune_result(result.metrics, self.nc_metric, self.objectives))


def failed_verdict(reason: str | None, objectives: tuple[str, ...] = ()) -> dict[str, Any]:
    """The last result of a trial that failed deterministically.

    Tune's strict metric check needs the searcher's and ASHA's metrics as keys: they are
    present as ``None``. Without the ``evaluation`` counter ASHA ignores the result; the
    searcher (``search.py``) tells Optuna FAIL for ``status: failed``."""
    return {
        STATUS: str(STATUS_FAILED),
        "failure_reason": reason,
        ACCURACY: None,
        **dict.fromkeys(objectives),
    }


def conclude(outcome: TrainOutcome, what: str, objectives: tuple[str, ...] = ()) -> None:
    """End a Tune trial by its run's outcome (module docstring): nothing more when it
    finished, a retry for an infrastructure failure, a reported verdict otherwise."""
    if outcome.ok:
        return
    if outcome.infrastructure:
        raise InfrastructureFailure(f"{what}: {outcome.failure_reason}")
    tune.report(failed_verdict(outcome.failure_reason, objectives))


def failure_outcome(tracking: dict[str, str], err: Exception) -> TrainOutcome:
    """The outcome of a run that raised ``err`` in this trial process: an infrastructure
    failure leaves the MLflow run open for Tune's retry, any other closes it FAILED."""
    reason = f"{type(err).__name__}: {err}".strip().splitlines()[-1][:1000]
    outcome = TrainOutcome(
        RunState.FAILED,
        tracking["run_id"],
        failure_reason=reason,
        infrastructure=is_infrastructure(err),
    )
    return (leave_open if outcome.infrastructure else close_run)(tracking, outcome)


def restore_from_tune(core: TrainingCore) -> bool:
    """Load the trial's latest Tune checkpoint into ``core`` (a restarted or resumed trial
    that trains in-process), or the newest complete one before it when it is incomplete;
    False when the trial has none (it starts from step 0)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return False
    state, _ = restore_state(checkpoint.filesystem, checkpoint.path)
    if state is None:  # no complete checkpoint: a fresh start (train/checkpoint.py)
        return False
    core.load_state_dict(state)
    return True


def _run_in_trial(
    spec: ExperimentSpec,
    key: str,
    context: TrialContext,
    tags: dict[str, str],
    final_state: str | None,
    title: str | None = None,
) -> TrainOutcome:
    """One worker on CPU: the core runs in this Tune trial process (no Train controller, no
    worker process, torch imported once per reused actor). MLflow run as ``run_training``;
    ``final_state``: a folder where the trained state is also saved (``ncsweep evaluate``
    finds it by the run's ``ncsweep.checkpoint`` tag)."""
    tracking = open_run(
        spec,
        key,
        context.tracking_uri,
        context.parent_run_id,
        context.run_tags(key),
        {**tags, **node_tags(0)},  # this process is the run's only worker
        context.resources or None,
        title=title,
    )
    mlflow_hooks = MlflowHooks(tracking)
    try:
        core = TrainingCore(spec)
        resumed = restore_from_tune(core)
        record_mutations(tracking, core)  # PBT/PB2 cloned a checkpoint with new values
        reporter = TuneReporter(context.nc_metric, context.objectives)
        hooks = [*default_hooks(spec), LogLineHooks(), mlflow_hooks, reporter]
        result = fit(core, hooks, resumed=resumed)
        if final_state is not None:
            _save_final(final_state, core.state_dict())
    except Exception as err:  # the trial fails (or is retried), the sweep goes on
        with contextlib.suppress(Exception):  # MLflow gone: the run's outcome says why
            mlflow_hooks.close()
        return failure_outcome(tracking, err)
    except BaseException:  # stopped by Tune (ASHA) mid-report: the driver gives the verdict
        mlflow_hooks.close()
        raise
    metrics = {**result.metrics, "failure_reason": result.failure_reason}
    return close_run(tracking, outcome_from_metrics(tracking["run_id"], metrics, final_state))


def _save_final(location: str, state: dict[str, Any]) -> None:
    """``state`` as ``<location>/<STATE_FILE>`` (a local folder or an fsspec URI)."""
    fs, path = fsspec.core.url_to_fs(location)
    fs.makedirs(path, exist_ok=True)
    with fs.open(f"{path}/{STATE_FILE}", "wb") as handle:
        torch.save(state, handle)


def train_trial(
    spec: ExperimentSpec,
    key: str,
    context: TrialContext,
    tags: dict[str, str],
    final_state: str | None = None,
    title: str | None = None,
) -> None:
    """Train ``spec`` as trial ``key`` of ``context``'s run, in this process (one CPU worker)
    or through Ray Train, and end the Tune trial by the outcome (``conclude``).

    Args:
        tags: the MLflow run's tags (besides those ``context.run_tags(key)`` finds it by).
        final_state: in-process training also saves its final state there.
        title: the MLflow run's name (default ``key``; runs are found by tags, not by it).
    """
    tags = {**dict(context.owner), **tags}
    if runs_in_trial(spec):
        outcome = _run_in_trial(spec, key, context, tags, final_state, title)
    else:
        outcome = run_training(
            spec,
            run_name=key,
            title=title,
            tracking_uri=context.tracking_uri,
            parent_run_id=context.parent_run_id,
            reattach=context.run_tags(key),
            extra_tags=tags,
            callbacks=[SweepReportCallback(context.nc_metric, objectives=context.objectives)],
            resources=context.resources or None,
            retried=True,
        )
    conclude(outcome, f"{context.name} trial {key} ({spec.loss.name})", context.objectives)


def run_trial(
    config: dict[str, Any],
    context: TrialContext,
    base_spec: dict[str, Any],
    seed: int,
    train_storage: str,
) -> None:
    """Tune trainable of a sweep family. ``config``: sampled ``{dotted spec key: value}``,
    applied over the family's ``base_spec``; every trial is seeded with ``seed``; Ray Train
    runs keep their checkpoints under ``train_storage``."""
    trial_id = tune.get_context().get_trial_id()
    data = trial_spec_data(config, context, base_spec, trial_id, seed, train_storage)
    spec = spec_from_dict(data, f"sweep {context.name} trial {trial_id}")
    tags = {TAG_FAMILY: spec.loss.name, TAG_STAGE: STAGE_SEARCH}
    title = f"{spec.loss.name}-{trial_id}"  # what the MLflow UI lists: family and trial
    train_trial(spec, trial_id, context, {**context.run_tags(trial_id), **tags}, title=title)


def run_confirmation(
    config: dict[str, Any],
    context: TrialContext,
    specs: dict[str, dict[str, Any]],
    train_storage: str,
) -> None:
    """Tune trainable of a sweep's confirmation stage: one (config, seed) pair.

    ``config``: ``{"confirms": <the search trial's MLflow run id>, "seed": <int>}``;
    ``specs``: the spec each confirmed search trial trained, by its run id. The run trains
    that spec again with ``run.seed`` = the seed (initialisation, data order, augmentation
    and train/val split change; the test split does not) and ``eval.test`` on, tagged
    ``ncsweep.stage=confirm``, ``ncsweep.confirms`` and ``ncsweep.seed``.
    """
    trial_id = context.key(tune.get_context().get_trial_id(), config)
    confirms, seed = str(config["confirms"]), int(config["seed"])
    data = copy.deepcopy(specs[confirms])
    search_trial = data.get("run", {}).get("name") or confirms[:8]  # the search trial's id
    data.setdefault("run", {}).update(
        name=trial_id, experiment=context.name, seed=seed, storage_path=train_storage
    )
    data.setdefault("eval", {})["test"] = True
    spec = spec_from_dict(data, f"sweep {context.name} confirmation {trial_id}")
    tags = {
        TAG_FAMILY: spec.loss.name,
        TAG_STAGE: STAGE_CONFIRM,
        TAG_CONFIRMS: confirms,
        TAG_SEED: str(seed),
    }
    title = f"{spec.loss.name}-{search_trial}-seed{seed}"
    train_trial(spec, trial_id, context, {**context.run_tags(trial_id), **tags}, title=title)
