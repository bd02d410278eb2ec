"""The ``ncsweep`` command.

Exit codes: 0 success; 2 bad input (one paragraph, no traceback); 1 a failure during a run.
Specs are validated before Ray starts. One module per verb; importing them registers them.
"""

from __future__ import annotations

import sys

from .._environment import configure_environment
from .._shipped import MissingShippedFiles
from ..config import SpecError
from . import (  # noqa: F401  (registers the verbs)
    confirm,
    data,
    doctor,
    evaluate,
    export,
    report,
    study,
    sweep,
    train,
    ui,
)
from ._app import app, err_console

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes exit 2 with a message, run failures exit 1."""
    configure_environment()
    try:
        app(args=argv, standalone_mode=True)
    except SpecError as err:
        err_console.print(f"[red]error:[/] {err}", highlight=False)
        sys.exit(2)
    except MissingShippedFiles as err:  # an installation fault: not the user's input
        err_console.print(f"[red]error:[/] {err}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as err:
        from ..tracking.identity import refusal

        refused = refusal(err)
        if refused:  # credentials or permissions: the user's to fix
            err_console.print(f"[red]error:[/] {refused}", highlight=False)
            sys.exit(2)
        from ..runtime.tuning import SweepInterrupted

        if not isinstance(err, SweepInterrupted):
            raise
        err_console.print(f"[yellow]{err}[/]", highlight=False)
        sys.exit(130)
