"""Links into the MLflow UI that land on the runs table, not MLflow 3's GenAI overview.

MLflow 3.17 opens an experiment on its Traces overview unless the experiment is marked as
model training (tag ``mlflow.experimentKind`` = ``custom_model_development``, the value its
UI uses for that choice); links go to ``#/experiments/<id>/runs`` either way.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .._environment import redact

__all__ = [
    "EXPERIMENT_KIND_TAG",
    "EXPERIMENT_KIND_TRAINING",
    "UI_HOST",
    "UI_PORT",
    "experiment_runs_url",
    "run_url",
    "ui_base",
    "ui_command",
]

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"
UI_HOST = "127.0.0.1"
UI_PORT = 5000


def ui_base(tracking_uri: str, host: str = UI_HOST, port: int = UI_PORT) -> str:
    """Where the UI for ``tracking_uri`` is: the server itself, or ``ncsweep ui``'s address."""
    if tracking_uri.startswith(("http://", "https://")):
        parts = urlsplit(tracking_uri)
        netloc = parts.netloc.rsplit("@", 1)[-1]  # never put credentials in a link
        return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")
    return f"http://{host}:{port}"


def experiment_runs_url(base: str, experiment_id: str) -> str:
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def ui_command(tracking_uri: str, name: str | None = None) -> str:
    """The shell command that opens the UI on a sweep's runs (credentials left out)."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {ui_base(tracking_uri)}"
    command = f"ncsweep ui {name} " if name else "ncsweep ui "
    return command + f"--tracking-uri {redact(tracking_uri)}"
