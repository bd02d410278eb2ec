"""`ncsweep confirm`: a finished sweep's confirmation stage, run or continued."""

from __future__ import annotations

from typing import Annotated

from ._app import AddressOption, ForceOption, app, console, join_cluster
from ._help import examples
from ._options import name_argument, setting_values, with_settings
from .sweep import VerboseOption, saved_config

#: The sweep settings ``ncsweep confirm`` takes (declared once, in ``plan/settings.py``).
CONFIRM_SETTINGS = (
    "confirm_top",
    "confirm_seeds",
    "storage",
    "shared_storage",
    "tracking_uri",
    "time_budget",
    "gpu_hours",
)


@app.command(
    "confirm",
    epilog=examples(
        "ncsweep confirm NAME",
        "ncsweep confirm NAME --confirm-top 3 --confirm-seeds 5 --storage s3://bucket/sweeps",
    ),
)
@with_settings(*CONFIRM_SETTINGS)
def confirm(
    name: Annotated[str, name_argument("The sweep whose top configs to confirm.")],
    address: AddressOption = None,
    verbose: VerboseOption = False,
    force: ForceOption = False,
    **settings,
) -> None:
    """Train each family's top configs of a finished sweep again over seeds (or continue
    that stage): K and S default to the sweep's own settings."""
    from ..sweep.runner import run_confirm

    join_cluster(address)
    values = setting_values(settings)
    storage, shared, uri = (values.pop(k) for k in ("storage", "shared_storage", "tracking_uri"))
    config = saved_config(name, storage, uri, bool(shared), values)
    run_confirm(config, console, verbose=verbose, force=force)
