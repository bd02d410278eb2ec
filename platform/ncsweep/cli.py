"""The ``ncsweep`` command.

Exit codes: 0 success; 2 bad input (one paragraph, no traceback); 1 a failure during a run.
Specs are validated before Ray starts.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from . import __version__
from ._environment import configure_environment
from .config import SpecError

__all__ = ["app", "main"]

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
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    configure_environment()


SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a spec key, e.g. --set loss.temperature=0.2 (repeatable).")]
TrackingOption = Annotated[str | None, typer.Option(
    "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db).")]


@app.command()
def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Spec YAML (an exported best config works as is).")] = None,
    loss: Annotated[str | None, typer.Option(help="Loss family: ce, normface, ntce, nonl, scl.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset name (digits, synthetic, cifar10, cifar100, imagenet).")] = None,
    model: Annotated[str | None, typer.Option(help="Backbone (mlp, convnet, resnet18_cifar, resnet50).")] = None,
    overrides: SetOption = None,
    workers: Annotated[int | None, typer.Option(help="Ray Train workers (data-parallel).")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option(help="GPUs per worker (0 = CPU, gloo).")] = None,
    tracking_uri: TrackingOption = None,
    storage: Annotated[str | None, typer.Option(help="Ray storage path: local dir or s3://bucket/prefix.")] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: <loss>-<dataset>-<time>).")] = None,
) -> None:
    """Train one model on Ray Train with NC measured as it trains; tracked in MLflow."""
    from .config import load_spec
    from .preflight import check_spec

    sets = list(overrides or [])
    for key, value in (("loss.name", loss), ("data.name", dataset), ("model.name", model),
                       ("run.workers", workers), ("run.gpus_per_worker", gpus_per_worker),
                       ("run.storage_path", storage), ("run.name", name)):
        if value is not None:
            sets.append(f"{key}={value}")
    spec = load_spec(config, sets)
    check_spec(spec, source=str(config or "command line"))

    from .summary import print_train_summary
    from .train import run_training

    run_name = spec.run.name or f"{spec.loss.name}-{spec.data.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    console.print(f"[bold]ncsweep train[/] {run_name}: loss={spec.loss.name} data={spec.data.name} "
                  f"model={spec.model.name} workers={spec.run.workers}")
    outcome = run_training(spec, run_name=run_name, tracking_uri=tracking_uri)
    print_train_summary(console, spec, outcome)
    if not outcome.ok:
        err_console.print(f"[red]run failed:[/] {outcome.failure_reason}")
        raise typer.Exit(1)


StorageOption = Annotated[str | None, typer.Option(
    "--storage", help="Ray results: local dir (default ./ray_results) or s3://bucket/prefix.")]


@app.command()
def sweep(
    preset: Annotated[str, typer.Option(help="Preset name (digits, cifar10, cifar100, imagenet100, imagenet1k) or a YAML path.")] = "digits",
    families: Annotated[str | None, typer.Option(help="Comma-separated loss families (default: all five).")] = None,
    trials: Annotated[int | None, typer.Option(help="Trials per family (default: the preset's).")] = None,
    max_concurrent: Annotated[int | None, typer.Option(help="Trials at once (default: what the cluster holds).")] = None,
    workers_per_trial: Annotated[int | None, typer.Option(help="Ray Train workers per trial.")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="GPUs per trial, split over its workers.")] = None,
    cpus_per_worker: Annotated[float | None, typer.Option(help="CPUs per Ray Train worker.")] = None,
    seed: Annotated[int, typer.Option(help="Seeds the samplers and every trial's data split.")] = 0,
    name: Annotated[str | None, typer.Option(help="Sweep name (MLflow experiment; default <preset>-<time>).")] = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
    objective: Annotated[str | None, typer.Option(help="accuracy, or pareto (accuracy up, steps to NC threshold down).")] = None,
    nc_metric: Annotated[str | None, typer.Option(help="NC metric of the pareto objective: mean or a metric name.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="asha or none.")] = None,
    grace_period: Annotated[int | None, typer.Option(help="Evaluations before ASHA may stop a trial.")] = None,
    max_failures: Annotated[int, typer.Option(help="Retries of a failed trial.")] = 0,
    overrides: SetOption = None,
    out: Annotated[Path, typer.Option(help="Where the best config per family is exported.")] = Path("best_configs"),
    spaces: Annotated[Path | None, typer.Option(help="Search-space folder (default: the shipped search_spaces/).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the sweep --name after an interruption.")] = False,
    status: Annotated[str | None, typer.Option(help="Print the leaderboard of sweep NAME (running or done) and exit.")] = None,
) -> None:
    """Sweep every loss family with Ray Tune + Optuna; leaderboard, MLflow, exported best configs."""
    from .sweep import SweepConfig, load_preset, run_sweep
    from .sweep.state import FAMILIES
    from .tracking import resolve_tracking_uri
    from .train import default_storage

    if status:
        _print_status(status, storage, tracking_uri)
        return
    if resume:
        if not name:
            raise SpecError("--resume needs --name NAME (or use: ncsweep resume NAME)")
        _resume(name, storage, tracking_uri, out)
        return
    chosen = [f.strip() for f in families.split(",") if f.strip()] if families else list(FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown or not chosen:
        raise SpecError(f"--families: unknown {unknown or '(none given)'}; allowed: {', '.join(FAMILIES)}")
    loaded = load_preset(preset, spaces).with_sweep(
        trials=trials, workers_per_trial=workers_per_trial, gpus_per_trial=gpus_per_trial,
        cpus_per_worker=cpus_per_worker, objective=objective, nc_metric=nc_metric,
        scheduler=scheduler, grace_period=grace_period)
    d = loaded.sweep
    config = SweepConfig(
        name=name or f"{loaded.name}-{time.strftime('%Y%m%d-%H%M%S')}", preset=str(preset),
        families=chosen, trials=d.trials, max_concurrent=max_concurrent,
        workers_per_trial=d.workers_per_trial, gpus_per_trial=d.gpus_per_trial,
        cpus_per_worker=d.cpus_per_worker, seed=seed, storage=default_storage(storage),
        tracking_uri=resolve_tracking_uri(tracking_uri), objective=d.objective,
        nc_metric=d.nc_metric, scheduler=d.scheduler, grace_period=d.grace_period,
        reduction_factor=d.reduction_factor, max_failures=max_failures,
        spaces_root=str(spaces.resolve()) if spaces else None, overrides=list(overrides or []))
    _finish(run_sweep(config, console, out_dir=out), config, out)


def _finish(outcome, config, out: Path) -> None:
    console.print(f"Best configs: {', '.join(str(p) for p in outcome.exported) or 'none (no trial finished)'}")
    console.print(f"Resume after an interruption: ncsweep resume {config.name}"
                  + (f" --storage {config.storage}" if "://" in config.storage else ""))
    console.print(f"Compare trials in the MLflow UI: ncsweep ui --tracking-uri {config.tracking_uri}")
    if not outcome.exported:
        raise typer.Exit(1)


def _resume(name: str, storage: str | None, tracking_uri: str | None, out: Path) -> None:
    from .sweep import load_state, run_sweep
    from .train import default_storage

    config = load_state(default_storage(storage), name)
    if tracking_uri:
        config = config.model_copy(update={"tracking_uri": tracking_uri})
    elif "***" in config.tracking_uri:
        raise SpecError(f"sweep {name}: its tracking URI held credentials and was stored "
                        f"without them; pass --tracking-uri")
    _finish(run_sweep(config, console, out_dir=out, resume=True), config, out)


def _print_status(name: str, storage: str | None, tracking_uri: str | None) -> None:
    from .sweep import collect_rows, leaderboard_table, load_state
    from .sweep.leaderboard import nc_steps_table
    from .train import default_storage

    uri = tracking_uri or load_state(default_storage(storage), name).tracking_uri
    rows = collect_rows(uri, name)
    console.print(leaderboard_table(rows, f"Leaderboard: {name}"))
    console.print(nc_steps_table(rows))


@app.command("resume")
def resume_command(
    name: Annotated[str, typer.Argument(help="The sweep to continue.")],
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
    out: Annotated[Path, typer.Option(help="Where the best configs are exported.")] = Path("best_configs"),
) -> None:
    """Continue an interrupted sweep: finished trials are kept, the budget is completed."""
    _resume(name, storage, tracking_uri, out)


@app.command()
def export(
    name: Annotated[str, typer.Argument(help="The sweep to export.")],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("best_configs"),
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
    pareto: Annotated[bool | None, typer.Option(help="Also export Pareto fronts (default: if the sweep was multi-objective).")] = None,
) -> None:
    """Write the best config per loss family (and Pareto fronts) as `ncsweep train --config` files."""
    from .sweep import collect_rows, export_best, load_state
    from .train import default_storage

    state = None
    try:
        state = load_state(default_storage(storage), name)
    except SpecError:
        if not tracking_uri:
            raise
    uri = tracking_uri or state.tracking_uri
    nc_metric = state.nc_metric if state else "mean"
    rows = collect_rows(uri, name, nc_metric)
    want_pareto = pareto if pareto is not None else bool(state and state.objective == "pareto")
    written = export_best(uri, name, rows, out, state.seed if state else 0, pareto=want_pareto)
    if not written:
        err_console.print(f"sweep {name}: no finished trial to export")
        raise typer.Exit(1)
    for path in written:
        console.print(f"wrote {path}")


@app.command()
def ui(
    tracking_uri: TrackingOption = None,
    host: Annotated[str, typer.Option(help="Bind address (loopback unless you mean otherwise).")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 5000,
) -> None:
    """Open the MLflow UI on the tracking store (binds 127.0.0.1 by default)."""
    from .tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    console.print(f"MLflow UI for {uri} at http://{host}:{port}")
    os.execvp(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", host, "--port", str(port)])


@app.command()
def doctor() -> None:
    """Check the installation: versions, devices, Ray/MLflow imports, registries."""
    import torch
    from rich.table import Table

    from .data import list_datasets
    from .losses import list_losses
    from .models import list_models
    from .tracking import package_versions

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


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes exit 2 with a message, run failures exit 1."""
    configure_environment()
    try:
        app(args=argv, standalone_mode=True)
    except SpecError as err:
        err_console.print(f"[red]error:[/] {err}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as err:
        from .sweep.runner import SweepInterrupted

        if not isinstance(err, SweepInterrupted):
            raise
        err_console.print(f"[yellow]{err}[/]", highlight=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
