"""The Ray Train adapter of the training core: worker context, DDP, reports, checkpoints.

Every worker builds a ``TrainingCore`` with its rank and Ray's DDP wrapping, restores Ray's
latest checkpoint if there is one, and runs ``core.fit`` with the end-of-run measurements
the spec asks for (``evaluate.hook.default_hooks``: probes, ``eval.suites``). Ray hears
about a run only when it must: at each checkpoint of the run's schedule (the fault
tolerance), at every evaluation when someone reads them (``report_evaluations``: a Tune
trial's callback), and once at the end when the run failed or was already finished. Why not
every evaluation regardless: Train V2 takes one report per controller poll
(``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S``), so each report can block the worker up to a poll
interval. The latest checkpoint's report is the run's outcome (``status``,
``failure_reason``; a failure travels as a verdict checkpoint): the driver reads it from
``Result.metrics``. Rank 0 also logs to MLflow (``MlflowHooks``).

Every rank that writes a checkpoint uploads it itself (``checkpoint_upload_fn``, the one
helper ``train/checkpoint.upload_checkpoint``: retried, each file checked at its size), so
Ray registers a checkpoint only after its files are in storage. A restore reads the state
from storage (``restore_state``) and skips an incomplete checkpoint for the one before."""

from __future__ import annotations

import logging
import tempfile
from typing import Any

import pyarrow.fs as pafs
import ray.train
import ray.train.torch

from ..config import ExperimentSpec
from ..evaluate.hook import default_hooks
from ..train.checkpoint import (
    load_verdict,
    restore_state,
    save_state,
    save_verdict,
    upload_checkpoint,
)
from ..train.core import STATUS_DONE, LogLineHooks, RunHooks, RunResult, TrainingCore, fit
from .mlflow_hooks import MlflowHooks

__all__ = ["train_loop_per_worker", "RayTrainReporter"]


def upload_verified(checkpoint: ray.train.Checkpoint, name: str) -> ray.train.Checkpoint:
    """Ray Train's ``checkpoint_upload_fn``: ``checkpoint`` (a local folder) uploaded into
    the run's folder as ``name``, every file there at its size before Ray registers it."""
    # get_storage is a DeveloperAPI: the StorageContext Ray itself uploads with
    storage = ray.train.get_context().get_storage()
    destination = storage.build_checkpoint_path_from_name(name)
    upload_checkpoint(checkpoint.path, storage.storage_filesystem, destination)
    return ray.train.Checkpoint(destination, filesystem=storage.storage_filesystem)


def restore(checkpoint: ray.train.Checkpoint) -> dict[str, Any] | None:
    """The training state of Ray's latest checkpoint, or of the newest complete one before
    it when its files are incomplete; None when none is (the run starts afresh)."""
    fs = checkpoint.filesystem or pafs.LocalFileSystem()
    state, _ = restore_state(fs, checkpoint.path)
    return state


class RayTrainReporter(RunHooks):
    """``ray.train.report`` at checkpoints (rank 0 writes them) and, with
    ``report_evaluations``, at every evaluation after step 0."""

    def __init__(self, report_evaluations: bool = False):
        self.report_evaluations = report_evaluations

    @property
    def checkpoint_each_evaluation(self) -> bool:  # a Tune trial reads every evaluation
        return self.report_evaluations

    def _report(self, core: TrainingCore, metrics: dict[str, Any], save=None) -> None:
        """Report ``metrics`` with a checkpoint that rank 0 writes with ``save(directory)``."""
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = None
            if core.rank == 0:
                save(tmp)
                ckpt = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=ckpt, checkpoint_upload_fn=upload_verified)

    def _state(self, core: TrainingCore):
        return lambda directory: save_state(directory, core.state_dict())

    def on_evaluation(self, core, metrics, checkpoint):
        if core.step == 0:  # nothing worth restoring and no Tune-visible news
            return
        if checkpoint:
            self._report(core, metrics, self._state(core))
        elif self.report_evaluations:
            ray.train.report(metrics)

    def on_checkpoint(self, core):
        self._report(core, core.meta(), self._state(core))

    def on_end(self, core, result: RunResult):
        # A done run already reported its final evaluation, except one restored from its
        # final checkpoint (a resumed sweep): report its result again instead of training.
        if result.status != STATUS_DONE:
            verdict = {**result.metrics, "failure_reason": result.failure_reason}
            self._report(core, verdict, lambda directory: save_verdict(directory, verdict))
        elif not result.trained:
            ray.train.report(dict(result.metrics))


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry point. ``config = {"spec": dict, "tracking": {"uri", "run_id"} | None,
    "report_evaluations": bool}``."""
    # Ray Train logs every report with all its metrics at INFO; a person wants our line.
    for name in ("ray.train", "ray.train.v2._internal.execution.context"):
        logging.getLogger(name).setLevel(logging.WARNING)
    spec = ExperimentSpec.model_validate(config["spec"])
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            verdict = load_verdict(directory)
        if verdict is not None:  # the run had ended itself: the same verdict, no training
            ray.train.report(verdict)
            return
    ctx = ray.train.get_context()
    core = TrainingCore(
        spec,
        rank=ctx.get_world_rank(),
        world_size=ctx.get_world_size(),
        device=ray.train.torch.get_device(),
        prepare_model=ray.train.torch.prepare_model,
    )
    state = restore(checkpoint) if checkpoint is not None else None
    if state is not None:
        core.load_state_dict(state)
    hooks: list[RunHooks] = default_hooks(spec)  # probes and eval.suites at the end
    tracking = config.get("tracking")
    if core.rank == 0:
        hooks.append(LogLineHooks())
        if tracking:
            hooks.append(MlflowHooks(tracking))
    hooks.append(RayTrainReporter(bool(config.get("report_evaluations"))))
    fit(core, hooks, resumed=state is not None)
