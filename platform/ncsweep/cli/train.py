"""`ncsweep train`: one run on Ray Train."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ._app import (
    CLUSTER,
    OUTPUT,
    RUN,
    AddressOption,
    SetOption,
    SharedStorageOption,
    TrackingOption,
    app,
    console,
    err_console,
    join_cluster,
)
from ._help import examples, families_help, names_help, registry_help


def _datasets() -> list[str]:
    from ..data import list_datasets

    return list_datasets()


def _models() -> list[str]:
    from ..models import list_models

    return list_models()


@app.command(
    cls=registry_help(
        loss=lambda: families_help("Loss family:"),
        dataset=names_help("Dataset name", _datasets),
        model=names_help("Backbone", _models),
    ),
    epilog=examples(
        "ncsweep train --loss nonl --dataset digits",
        "ncsweep train --config best_configs/nonl.yaml --eval-test",
        "ncsweep train --loss scl --workers 2 --set loss.temperature=0.1 --set run.epochs=50",
    ),
)
def train(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Spec YAML (an exported best config works as is).",
            rich_help_panel=RUN,
        ),
    ] = None,
    loss: Annotated[str | None, typer.Option(help="Loss family.", rich_help_panel=RUN)] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset name.", rich_help_panel=RUN),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Backbone.", rich_help_panel=RUN)] = None,
    overrides: SetOption = None,
    eval_test: Annotated[
        bool,
        typer.Option(
            "--eval-test",
            help="Also log test/acc1, test/acc5, test/loss once at the end, from the held-out "
            "test split the search never sees (eval.test=true).",
            rich_help_panel=RUN,
        ),
    ] = False,
    workers: Annotated[
        int | None, typer.Option(help="Ray Train workers (data-parallel).", rich_help_panel=RUN)
    ] = None,
    gpus_per_worker: Annotated[
        float | None, typer.Option(help="GPUs per worker (0 = CPU, gloo).", rich_help_panel=RUN)
    ] = None,
    tracking_uri: TrackingOption = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Ray storage: a local dir or s3://bucket/prefix (default: the spec's run.storage_path, "
            "else NCSWEEP_STORAGE, else ./ray_results).",
            rich_help_panel=CLUSTER,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Run name (default: <loss>-<dataset>-<time>).", rich_help_panel=OUTPUT),
    ] = None,
    shared_storage: SharedStorageOption = False,
    address: AddressOption = None,
    resources_per_worker: Annotated[
        str | None,
        typer.Option(
            "--resources-per-worker",
            help="Custom Ray resources per worker as JSON, e.g. '{\"worker_node\": 0.01}'.",
            rich_help_panel=RUN,
        ),
    ] = None,
) -> None:
    """Train one model on Ray Train with NC measured as it trains; tracked in MLflow."""
    from ..config import load_spec
    from ..plan.preflight import check_spec

    sets = list(overrides or [])
    for key, value in (
        ("loss.name", loss),
        ("data.name", dataset),
        ("model.name", model),
        ("run.workers", workers),
        ("run.gpus_per_worker", gpus_per_worker),
        ("run.storage_path", storage),
        ("run.name", name),
    ):
        if value is not None:
            sets.append(f"{key}={value}")
    if eval_test:
        sets.append("eval.test=true")
    spec = load_spec(config, sets)
    check_spec(spec, source=str(config or "command line"))
    from ..tracking import require_reachable, resolve_tracking_uri

    tracking_uri = resolve_tracking_uri(tracking_uri)  # a refused store exits before Ray starts
    require_reachable(tracking_uri)

    from ..defaults import default_storage
    from ..runtime.cluster import parse_resources, require_shared_storage
    from ..runtime.trainer import ensure_ray, run_training
    from .summary import print_train_summary

    resources = parse_resources(resources_per_worker)
    join_cluster(address)
    ensure_ray()
    require_shared_storage(default_storage(spec.run.storage_path), shared_storage)

    run_name = (
        spec.run.name or f"{spec.loss.name}-{spec.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    console.print(
        f"[bold]ncsweep train[/] {run_name}: loss={spec.loss.name} data={spec.data.name} "
        f"model={spec.model.name} workers={spec.run.workers}"
    )
    outcome = run_training(spec, run_name=run_name, tracking_uri=tracking_uri, resources=resources)
    print_train_summary(console, spec, outcome)
    if not outcome.ok:
        err_console.print(f"[red]run failed:[/] {outcome.failure_reason}")
        raise typer.Exit(1)
