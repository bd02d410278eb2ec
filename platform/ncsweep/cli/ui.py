"""`ncsweep ui [NAME]`: the MLflow UI on loopback, opened on a sweep's saved view."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..redact import redact_text
from ._app import TrackingOption, app, console
from ._help import examples


def sweep_runs_link(uri: str, name: str | None, base: str) -> str:
    """The sweep ``name``'s saved view "ncsweep leaderboard" (its runs table when the sweep
    wrote none) of the newest experiment by default, in the UI under ``base``."""
    from ..config import SpecError
    from ..sweep.ui_view import VIEW_KEY
    from ..tracking import experiment_runs_url, open_store
    from ..tracking.ui_view import has_view, installed_ui_version, runs_view_url, ui_version

    store = open_store(uri)
    if name:
        experiment = store.get_experiment(name)
        if experiment is None:
            raise SpecError(f"NAME: no MLflow experiment named {name!r} at {redact_text(uri)}")
    else:
        experiment = store.newest_experiment()
        if experiment is None:
            return f"{base}/#/experiments"
    if not has_view(experiment.tags, VIEW_KEY):
        return experiment_runs_url(base, experiment.experiment_id)
    # `ncsweep ui` serves the MLflow installed here; a tracking server says its version
    remote = uri.startswith(("http://", "https://"))
    version = ui_version(base) if remote else installed_ui_version()
    return runs_view_url(base, experiment.experiment_id, VIEW_KEY, version)


@app.command(
    epilog=examples(
        "ncsweep ui NAME", "ncsweep ui NAME --tracking-uri sqlite:///runs/mlflow.db --port 5001"
    )
)
def ui(
    name: Annotated[
        str | None, typer.Argument(help="Sweep to open (default: the newest experiment).")
    ] = None,
    tracking_uri: TrackingOption = None,
    host: Annotated[
        str, typer.Option(help="Bind address (loopback unless you mean otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port (1-65535).")] = 5000,
) -> None:
    """Serve the MLflow UI for the tracking store (127.0.0.1 by default) and print the link
    to the sweep's saved view "ncsweep leaderboard" (its trials, best first, with family,
    objective, NC and searched-parameter columns). A tracking server already has its UI:
    only the link is printed."""
    from ..tracking import resolve_tracking_uri, ui_base

    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith(("http://", "https://")):
        console.print(f"MLflow UI: {sweep_runs_link(uri, name, ui_base(uri))}", soft_wrap=True)
        return
    link = sweep_runs_link(uri, name, f"http://{host}:{port}")
    console.print(f"MLflow UI for {redact_text(uri)}: {link}  (Ctrl-C stops it)", soft_wrap=True)
    sys.stdout.flush()
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            uri,
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
    )
