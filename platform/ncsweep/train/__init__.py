"""One training run on Ray Train: the per-worker loop, evaluation, probes, checkpoints."""

from .loop import train_loop_per_worker
from .trainer import TrainOutcome, build_trainer, default_storage, ensure_ray, run_training

__all__ = [
    "TrainOutcome",
    "build_trainer",
    "default_storage",
    "ensure_ray",
    "run_training",
    "train_loop_per_worker",
]
