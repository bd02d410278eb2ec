"""Process environment shared by the CLI, Ray workers and tests: nothing may call home."""

from __future__ import annotations

import os
import re

__all__ = ["QUIET_ENV", "configure_environment", "redact"]

QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "AWS_EC2_METADATA_DISABLED": "true",
    "DO_NOT_TRACK": "1",
    "RAY_DEDUP_LOGS": "0",
}

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_SECRET_KEYS = re.compile(r"(?i)(secret|token|password|passwd|credential|access_key)")


def configure_environment() -> None:
    """Set the no-telemetry variables unless the user set them already."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def redact(value: object, key: str = "") -> object:
    """Drop credentials before a value reaches logs, MLflow params or exported files.

    ``s3://AKIA..:secret@bucket/x`` -> ``s3://***@bucket/x``; a value whose key names a
    secret (``aws_secret_access_key``, ``token`` ...) becomes ``***``.
    """
    if key and _SECRET_KEYS.search(key):
        return "***"
    if isinstance(value, str):
        return _USERINFO.sub(r"\g<scheme>***@", value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value
