"""ncsweep: hyper-parameter sweeps for prototype contrast on the hypersphere.

The public API is the names in ``__all__`` (README, "Python API"; docs/design.md). Each is
imported from its module the first time it is used (PEP 562), so ``import ncsweep`` stays
cheap: it imports neither torch, Ray nor MLflow until a name that needs them is asked for.

Example:
    >>> import ncsweep
    >>> ncsweep.list_losses()
    ['ce', 'nonl', 'normface', 'ntce', 'scl']
    >>> loss = ncsweep.create_loss("nonl", temperature=0.1)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> ``"module:attribute"`` it is loaded from.
_PUBLIC: dict[str, str] = {
    # specs
    "ExperimentSpec": "ncsweep.config:ExperimentSpec",
    "load_spec": "ncsweep.config:load_spec",
    # losses and models
    "create_loss": "ncsweep.losses:create_loss",
    "list_losses": "ncsweep.losses:list_losses",
    "loss_info": "ncsweep.losses:loss_info",
    "create_model": "ncsweep.models:create_model",
    # Neural Collapse geometry
    "ClassStats": "ncsweep.geometry:ClassStats",
    "collapse_metrics": "ncsweep.geometry:collapse_metrics",
    "nc_scores": "ncsweep.geometry:nc_scores",
    # one training run, in process
    "TrainingCore": "ncsweep.train.core:TrainingCore",
    "fit": "ncsweep.train.core:fit",
    # sweeps
    "SweepConfig": "ncsweep.plan.sweep_config:SweepConfig",
    "run_sweep": "ncsweep.sweep.runner:run_sweep",
    "export_best": "ncsweep.sweep.export:export_best",
    "load_study": "ncsweep.runtime.journal:load_study",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    target = _PUBLIC.get(name)
    if target is None:
        # AttributeError (not KeyError) lets ``from ncsweep import losses`` import the
        # subpackage and ``hasattr`` answer False
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = target.split(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
