"""One training run: the plain-PyTorch core, its Ray Train adapter and MLflow logging.

- ``core``: ``TrainingCore`` (build, step, evaluate, state) and ``fit`` (the loop), no Ray;
- ``probes``: the linear probes on a frozen encoder and the hook that runs them at the end;
- ``ray_train``: the Ray Train worker function (DDP, reports, checkpoints);
- ``mlflow_hooks``: what rank 0 logs to MLflow;
- ``trainer``: the driver side (MLflow run, ``TorchTrainer``, outcome from Ray's result).

Importing this package imports the core only (no Ray, no MLflow): the Ray and MLflow
adapters are imported from their own modules (``ncsweep.runtime.trainer``, ...).
"""

from .core import RunHooks, RunResult, TrainingCore, fit, load_checkpoint

__all__ = ["RunHooks", "RunResult", "TrainingCore", "fit", "load_checkpoint"]
