"""Where results go when the command line does not say: the one home of these defaults.

``--storage`` falls back to ``$NCSWEEP_STORAGE``, then ``./ray_results``; ``--tracking-uri``
to ``$NCSWEEP_TRACKING_URI``, then MLflow's own ``$MLFLOW_TRACKING_URI``, then a SQLite file
in the working directory. A value a spec or a preset sets wins over the environment: these
are read only when nothing else chose.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_STORAGE",
    "DEFAULT_TRACKING_URI",
    "default_storage",
    "STORAGE_ENV",
    "TRACKING_URI_ENV",
    "storage_default",
    "tracking_uri_default",
]

STORAGE_ENV = "NCSWEEP_STORAGE"
TRACKING_URI_ENV = "NCSWEEP_TRACKING_URI"
DEFAULT_STORAGE = "ray_results"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def storage_default() -> str:
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def tracking_uri_default() -> str:
    return (
        os.environ.get(TRACKING_URI_ENV)
        or os.environ.get("MLFLOW_TRACKING_URI")
        or DEFAULT_TRACKING_URI
    )


def default_storage(path: str | None) -> str:
    """Ray storage: an ``s3://`` URI as is, a local path made absolute; without one,
    ``$NCSWEEP_STORAGE`` or ``./ray_results``."""
    path = path or storage_default()
    return path if "://" in path else str(Path(path).resolve())
