"""`ncsweep report`: one self-contained HTML page per sweep (panels from dashboards/*.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..plan.names import check_name
from ._app import StorageOption, TrackingOption, app, console
from ._help import examples
from ._options import checked, name_argument


@app.command(
    epilog=examples(
        "ncsweep report NAME",
        "ncsweep report NAME --compare OTHER --out comparison.html",
    )
)
def report(
    name: Annotated[str, name_argument("The sweep (its MLflow experiment name).")],
    out: Annotated[
        Path | None, typer.Option(help="HTML file to write (default: reports/NAME.html).")
    ] = None,
    tracking_uri: TrackingOption = None,
    storage: StorageOption = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Another sweep to put side by side with NAME.",
            callback=checked("--compare", check_name),
        ),
    ] = None,
    dashboards: Annotated[
        Path | None,
        typer.Option(help="Dashboard spec file or folder (default: the shipped dashboards/)."),
    ] = None,
) -> None:
    """Render a sweep (running or done) into one offline HTML file: accuracy against NC speed,
    convergence against CE, the search, evaluations, every trial."""
    from ..defaults import default_storage
    from ..report import build_report, load_dashboards
    from ..tracking import require_reachable, resolve_tracking_uri

    boards = load_dashboards(dashboards)  # validated before MLflow is read
    uri = resolve_tracking_uri(tracking_uri)
    require_reachable(uri)
    result = build_report(
        uri,
        name,
        out=out,
        storage=default_storage(storage) if storage else None,
        compare=compare,
        dashboards=boards,
    )
    console.print(
        f"Report: {result.path.resolve()} ({result.panels} panels, {result.plots} plots, "
        f"{result.bytes / 1e6:.1f} MB)",
        soft_wrap=True,
    )
