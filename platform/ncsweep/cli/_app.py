"""The ``ncsweep`` Typer app and what every verb shares: consoles, common options, panels.

Each verb lives in its own module of this package and registers itself on ``app``.
Without a terminal (a pipe, a ``ray job submit`` log) the consoles do not wrap at 80
columns: each message stays one line, however long (a path, a URI).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .. import __version__
from .._environment import configure_environment
from ..runtime.lease import HEARTBEAT_S, STALE_AFTER_S
from ._options import CLUSTER, OUTPUT, RUN, SEARCH, setting_option

__all__ = [
    "CLUSTER",
    "OUTPUT",
    "RUN",
    "SEARCH",
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
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,
)


_LOG_WIDTH = 10_000
"""Columns of a console that is not a terminal: wide enough that no line wraps."""


def _console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, and not at all without a terminal."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=_LOG_WIDTH, soft_wrap=True)


console = _console()
err_console = _console(stderr=True)


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


# sweep settings other verbs share: declared once, in plan/sweep_config.py
SetOption = setting_option("overrides")[0]
TrackingOption = setting_option("tracking_uri")[0]
StorageOption = setting_option("storage")[0]
SharedStorageOption = setting_option("shared_storage")[0]

AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray cluster to join (default: RAY_ADDRESS, which a Ray job's entrypoint has); "
        "without either, a local Ray instance is started.",
        rich_help_panel=CLUSTER,
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Take the lease of the sweep (or study) even though another driver holds it (only when you "
        "know that driver is gone: a waiting driver takes a lease over by itself once the "
        f"lease's content has not changed for {STALE_AFTER_S + HEARTBEAT_S:g} s on the waiting "
        "driver's own clock, or at once when its holder's process is gone from this host).",
        rich_help_panel=CLUSTER,
    ),
]


def join_cluster(address: str | None) -> None:
    """``--address`` is ``RAY_ADDRESS`` for this process: Ray and its tools read it."""
    if address:
        import os

        os.environ["RAY_ADDRESS"] = address
