"""`ncsweep ui`: the MLflow UI on loopback."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from ..redact import redact_text
from ._app import TrackingOption, app, console


@app.command()
def ui(
    tracking_uri: TrackingOption = None,
    host: Annotated[
        str, typer.Option(help="Bind address (loopback unless you mean otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 5000,
) -> None:
    """Open the MLflow UI on the tracking store (binds 127.0.0.1 by default)."""
    from ..tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    console.print(f"MLflow UI for {redact_text(uri)} at http://{host}:{port}")
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            uri,
            "--host",
            host,
            "--port",
            str(port),
        ],
    )
