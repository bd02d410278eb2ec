"""ncsweep: hyper-parameter sweeps for prototype contrast on the hypersphere.

Sub-packages: ``losses`` (the loss families), ``geometry`` (Neural Collapse statistics),
``data`` and ``models`` (registries), ``train`` (one run on Ray Train), ``sweep`` (Ray Tune
with Optuna), ``tracking`` (MLflow), ``cli`` (the ``ncsweep`` command).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
