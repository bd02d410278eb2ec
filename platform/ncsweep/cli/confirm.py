"""`ncsweep confirm`: a finished sweep's confirmation stage, run or continued."""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import (
    AddressOption,
    ForceOption,
    SharedStorageOption,
    StorageOption,
    TrackingOption,
    app,
    console,
    join_cluster,
)
from ._help import examples
from .sweep import (
    ConfirmSeedsOption,
    ConfirmTopOption,
    GpuHoursOption,
    TimeBudgetOption,
    VerboseOption,
    saved_config,
)


@app.command(
    "confirm",
    epilog=examples(
        "ncsweep confirm NAME",
        "ncsweep confirm NAME --confirm-top 3 --confirm-seeds 5 --storage s3://bucket/sweeps",
    ),
)
def confirm(
    name: Annotated[str, typer.Argument(help="The sweep whose top configs to confirm.")],
    confirm_top: ConfirmTopOption = None,
    confirm_seeds: ConfirmSeedsOption = None,
    storage: StorageOption = None,
    shared_storage: SharedStorageOption = False,
    address: AddressOption = None,
    tracking_uri: TrackingOption = None,
    verbose: VerboseOption = False,
    force: ForceOption = False,
    time_budget: TimeBudgetOption = None,
    gpu_hours: GpuHoursOption = None,
) -> None:
    """Train each family's top configs of a finished sweep again over seeds (or continue
    that stage): K and S default to the sweep's own settings."""
    from ..sweep.runner import run_confirm

    join_cluster(address)
    given = {
        "confirm_top": confirm_top,
        "confirm_seeds": confirm_seeds,
        "time_budget": time_budget,
        "gpu_hours": gpu_hours,
    }
    config = saved_config(name, storage, tracking_uri, shared_storage, given)
    run_confirm(config, console, verbose=verbose, force=force)
