"""The ``ncsweep`` Typer app and what every verb shares: consoles and common options.

Each verb lives in its own module of this package and registers itself on ``app``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .. import __version__
from .._environment import configure_environment

__all__ = [
    "AddressOption",
    "ForceOption",
    "SetOption",
    "SharedStorageOption",
    "StorageOption",
    "TrackingOption",
    "app",
    "console",
    "err_console",
    "join_cluster",
]

app = typer.Typer(
    name="ncsweep",
    help="Hyper-parameter sweeps for prototype contrast on the hypersphere "
    "(CE, NormFace, NTCE, NONL, SCL), accuracy against Neural Collapse speed.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"ncsweep {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    configure_environment()


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a spec key, e.g. --set loss.temperature=0.2 (repeatable)."
    ),
]
TrackingOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db).",
    ),
]


StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage", help="Ray results: local dir (default ./ray_results) or s3://bucket/prefix."
    ),
]

AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray cluster to join (default: RAY_ADDRESS, which a Ray job's entrypoint has); "
        "without either, a local Ray instance is started.",
    ),
]
SharedStorageOption = Annotated[
    bool,
    typer.Option(
        "--shared-storage",
        help="The local --storage path is a filesystem mounted at the same path on every "
        "node (NFS, EFS); without it a multi-node cluster needs --storage s3://...",
    ),
]


ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Take the lease of the sweep (or study) even though another driver holds it (only when you "
        "know that driver is gone: a lease frees itself once its heartbeat is stale or its "
        "process is gone from this host).",
    ),
]


def join_cluster(address: str | None) -> None:
    """``--address`` is ``RAY_ADDRESS`` for this process: Ray and its tools read it."""
    if address:
        import os

        os.environ["RAY_ADDRESS"] = address
