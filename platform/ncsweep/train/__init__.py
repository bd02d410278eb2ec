"""One training run: the plain-PyTorch core, its Ray Train adapter and MLflow logging.

- ``core``: ``TrainingCore`` (build, step, evaluate, state) and ``fit`` (the loop), no Ray;
- ``ray_train``: the Ray Train worker function (DDP, reports, checkpoints);
- ``mlflow_hooks``: what rank 0 logs to MLflow;
- ``trainer``: the driver side (MLflow run, ``TorchTrainer``, outcome from Ray's result).
"""

from .core import RunHooks, RunResult, TrainingCore, fit, load_checkpoint
from .ray_train import train_loop_per_worker
from .trainer import (
    RAY_RUN_ENV,
    TrainOutcome,
    build_trainer,
    close_run,
    default_storage,
    ensure_ray,
    leave_open,
    open_run,
    outcome_from_metrics,
    run_training,
)

__all__ = [
    "RAY_RUN_ENV",
    "RunHooks",
    "RunResult",
    "TrainOutcome",
    "TrainingCore",
    "build_trainer",
    "close_run",
    "default_storage",
    "ensure_ray",
    "fit",
    "leave_open",
    "load_checkpoint",
    "open_run",
    "outcome_from_metrics",
    "run_training",
    "train_loop_per_worker",
]
