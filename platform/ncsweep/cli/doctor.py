"""`ncsweep doctor`: versions, devices, registries."""

from __future__ import annotations

from ._app import app, console


@app.command()
def doctor() -> None:
    """Check the installation: versions, devices, Ray/MLflow imports, registries."""
    import torch
    from rich.table import Table

    from ..data import list_datasets
    from ..losses import list_losses
    from ..models import list_models
    from ..tracking import package_versions

    table = Table(title="ncsweep doctor")
    table.add_column("check")
    table.add_column("value")
    for pkg, version in package_versions().items():
        table.add_row(pkg, version)
    table.add_row("CUDA", f"{torch.cuda.is_available()} ({torch.cuda.device_count()} devices)")
    table.add_row("losses", ", ".join(list_losses()))
    table.add_row("datasets", ", ".join(list_datasets()))
    table.add_row("models", ", ".join(list_models()))
    console.print(table)
