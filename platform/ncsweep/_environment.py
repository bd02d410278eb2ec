"""Process environment shared by the CLI, Ray workers and tests: nothing may call home."""

from __future__ import annotations

import os

from .redact import redact

__all__ = ["QUIET_ENV", "configure_environment", "redact"]

QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "AWS_EC2_METADATA_DISABLED": "true",
    "DO_NOT_TRACK": "1",
    "RAY_DEDUP_LOGS": "0",
    # MLflow's "View run … at: <tracking URI>" lines would print a URI's credentials
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def configure_environment() -> None:
    """Set the no-telemetry variables unless the user set them already."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
