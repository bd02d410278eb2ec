"""`ncsweep sweep` and `ncsweep resume`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape

from ..config import SpecError
from ._app import (
    OUTPUT,
    RUN,
    SEARCH,
    AddressOption,
    ForceOption,
    SetOption,
    SharedStorageOption,
    StorageOption,
    TrackingOption,
    app,
    console,
    join_cluster,
)
from ._help import examples, families_help, names_help, registry_help

ResourcesOption = Annotated[
    str | None,
    typer.Option(
        "--resources-per-worker",
        help="Custom Ray resources each Train worker asks for, as JSON, e.g. "
        "'{\"worker_node\": 0.01}' to place trials on nodes started with that resource.",
        rich_help_panel=RUN,
    ),
]

TimeBudgetOption = Annotated[
    str | None,
    typer.Option(
        help="How long this run of the command may take (seconds, or 90m, 2h, 1d); then the "
        "sweep stops as resumable (ncsweep resume NAME continues it).",
        rich_help_panel=RUN,
    ),
]
GpuHoursOption = Annotated[
    float | None,
    typer.Option(
        help="GPU-hours this run of the command may hold (GPUs per trial x trials at once x "
        "hours); then the sweep stops as resumable.",
        rich_help_panel=RUN,
    ),
]

ConfirmTopOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="After the search, train each family's top K complete trials again over "
        "--confirm-seeds seeds (pareto: the front first); 0: no confirmation stage "
        "(default: the preset's, else 3).",
        rich_help_panel=SEARCH,
    ),
]
ConfirmSeedsOption = Annotated[
    int | None,
    typer.Option(
        min=0,
        help="Seeds of each confirmed config: seed+1 .. seed+S, never the search's own "
        "(default: the preset's, else 5); 0: no confirmation stage.",
        rich_help_panel=SEARCH,
    ),
]

VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Show Ray's own output too (it always goes to ray.log).",
        rich_help_panel=OUTPUT,
    ),
]


def _presets() -> list[str]:
    from ..plan.presets import list_presets

    return list_presets()


@app.command(
    cls=registry_help(
        families=lambda: families_help(
            "Comma-separated loss families (default: every search space)."
        ),
        preset=names_help("Preset name or a YAML path; presets", _presets),
    ),
    epilog=examples(
        "ncsweep sweep",
        "ncsweep sweep --preset cifar100 --families ntce,nonl --trials 16 --gpus-per-trial 1 "
        "--storage s3://bucket/sweeps --tracking-uri http://mlflow:5000",
        "ncsweep sweep --objective pareto",
        "ncsweep sweep --status NAME",
    ),
)
def sweep(
    preset: Annotated[
        str,
        typer.Option(help="Preset name or a YAML path.", rich_help_panel=SEARCH),
    ] = "digits",
    families: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated loss families (default: every search space).",
            rich_help_panel=SEARCH,
        ),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(help="Trials per family (default: the preset's).", rich_help_panel=SEARCH),
    ] = None,
    max_concurrent: Annotated[
        int | None,
        typer.Option(help="Trials at once (default: what the cluster holds).", rich_help_panel=RUN),
    ] = None,
    workers_per_trial: Annotated[
        int | None, typer.Option(help="Ray Train workers per trial.", rich_help_panel=RUN)
    ] = None,
    gpus_per_trial: Annotated[
        float | None,
        typer.Option(help="GPUs per trial, split over its workers.", rich_help_panel=RUN),
    ] = None,
    cpus_per_worker: Annotated[
        float | None, typer.Option(help="CPUs per Ray Train worker.", rich_help_panel=RUN)
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seeds the samplers and every trial's data split.", rich_help_panel=SEARCH
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="Sweep name (MLflow experiment; default <preset>-<time>).", rich_help_panel=OUTPUT
        ),
    ] = None,
    storage: StorageOption = None,
    shared_storage: SharedStorageOption = False,
    address: AddressOption = None,
    resources_per_worker: ResourcesOption = None,
    tracking_uri: TrackingOption = None,
    objective: Annotated[
        str | None,
        typer.Option(
            help="accuracy; pareto (accuracy up, steps to NC threshold down); or "
            "eval/<suite>/<key>, a metric an evaluation suite measures at the end of each "
            "trial, e.g. eval/probes/acc/probe (the suite is turned on for every trial; "
            "direction from the suite registry; ASHA keeps stopping by val/acc1).",
            rich_help_panel=SEARCH,
        ),
    ] = None,
    nc_metric: Annotated[
        str | None,
        typer.Option(
            help="NC metric of the pareto objective: mean or a metric name.", rich_help_panel=SEARCH
        ),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="asha or none.", rich_help_panel=SEARCH)
    ] = None,
    grace_period: Annotated[
        int | None,
        typer.Option(help="Evaluations before ASHA may stop a trial.", rich_help_panel=SEARCH),
    ] = None,
    max_failures: Annotated[
        int | None,
        typer.Option(
            help="Restarts of a trial from its last checkpoint after an infrastructure "
            "failure (node or worker lost, OOM-kill). A deterministic failure "
            "(non-finite loss, bad spec) is never retried.",
            rich_help_panel=RUN,
        ),
    ] = None,
    parallel_families: Annotated[
        bool | None,
        typer.Option(
            "--parallel-families/--one-family-at-a-time",
            help="Run the families' Tune runs at once, sharing the cluster (default; each "
            "keeps its trial budget, study and trials-at-once limit), or one after another.",
            rich_help_panel=RUN,
        ),
    ] = None,
    time_budget: TimeBudgetOption = None,
    gpu_hours: GpuHoursOption = None,
    confirm_top: ConfirmTopOption = None,
    confirm_seeds: ConfirmSeedsOption = None,
    warm_start: Annotated[
        str | None,
        typer.Option(
            help="Try the best config per family of an earlier sweep first: a folder of "
            "exported configs (best_configs/) or the sweep's name in the MLflow store.",
            rich_help_panel=SEARCH,
        ),
    ] = None,
    overrides: SetOption = None,
    out: Annotated[
        Path,
        typer.Option(help="Where the best config per family is exported.", rich_help_panel=OUTPUT),
    ] = Path("best_configs"),
    spaces: Annotated[
        Path | None,
        typer.Option(
            help="Search-space folder (default: the shipped search_spaces/).",
            rich_help_panel=SEARCH,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the sweep --name after an interruption.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    status: Annotated[
        str | None,
        typer.Option(
            help="Print the leaderboard of sweep NAME (running or done) and exit.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    print_config: Annotated[
        bool,
        typer.Option(
            "--print-config",
            help="Print the resolved sweep settings (YAML) and exit.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    verbose: VerboseOption = False,
    force: ForceOption = False,
) -> None:
    """Sweep every loss family with Ray Tune + Optuna; leaderboard, MLflow, exported best configs.

    Settings: the preset's ``sweep:`` section, then these flags (``plan/sweep_config.py``).
    """
    from ..plan.sweep_config import sweep_config
    from ..runtime.cluster import parse_resources
    from ..sweep import run_sweep

    join_cluster(address)
    if status:
        _print_status(status, storage, tracking_uri)
        return
    if resume:
        if not name:
            raise SpecError("--resume needs --name NAME (or use: ncsweep resume NAME)")
        _resume(name, storage, tracking_uri, out, verbose, shared_storage, force)
        return
    config = sweep_config(
        name=name,
        preset=preset,
        families=[f.strip() for f in families.split(",") if f.strip()] if families else None,
        trials=trials,
        max_concurrent=max_concurrent,
        workers_per_trial=workers_per_trial,
        gpus_per_trial=gpus_per_trial,
        cpus_per_worker=cpus_per_worker,
        seed=seed,
        storage=_storage(storage),
        shared_storage=shared_storage or None,
        resources_per_worker=parse_resources(resources_per_worker) or None,
        tracking_uri=tracking_uri and _tracking(tracking_uri),
        objective=objective,
        nc_metric=nc_metric,
        scheduler=scheduler,
        grace_period=grace_period,
        max_failures=max_failures,
        parallel_families=parallel_families,
        time_budget=time_budget,
        gpu_hours=gpu_hours,
        confirm_top=confirm_top,
        confirm_seeds=confirm_seeds,
        warm_start=warm_start,
        spaces_root=str(spaces.resolve()) if spaces else None,
        overrides=list(overrides or []) or None,
    )
    if print_config:
        console.print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), end="")
        return
    _done(run_sweep(config, console, out_dir=out, verbose=verbose, force=force), config, out)


def _storage(storage: str | None) -> str | None:
    from ..defaults import default_storage

    return default_storage(storage) if storage else None


def _tracking(uri: str) -> str:
    from ..tracking import resolve_tracking_uri

    return resolve_tracking_uri(uri)


def report_sweep(outcome, config, out_console=console) -> Path | str:
    """Write the sweep's report (``reports/<name>.html``, also on its parent run) and say
    where: its path, or why it was not written (credentials redacted). A report failure
    does not fail the sweep: its results are saved and the report can be written again."""
    from ..redact import redact_text
    from ..report import write_sweep_report
    from ..tracking import resolve_tracking_uri

    try:
        uri = resolve_tracking_uri(config.tracking_uri)
        report = write_sweep_report(uri, config.name, outcome.parent_run_id, storage=config.storage)
    except Exception as err:
        return redact_text(f"{type(err).__name__}: {err}")
    out_console.print(f"Report: {report.path.resolve()}", soft_wrap=True)
    return report.path.resolve()


def _done(outcome, config, out: Path) -> None:
    """The sweep's report, then its last lines."""
    _finish(outcome, config, out, report_sweep(outcome, config))


def _finish(outcome, config, out: Path, report: Path | str) -> None:
    """What a person reads last: best configs, how to resume, where to compare, and
    whether the report failed (``report``: its path, or why it was not written)."""
    console.print(
        f"Best configs: {', '.join(str(p) for p in outcome.exported) or 'none (no trial finished)'}"
    )
    from ..sweep.runner import resume_command

    console.print(f"Resume after an interruption: {resume_command(config)}")
    console.print(f"Compare trials in the MLflow UI: {_ui_hint(config)}", soft_wrap=True)
    if isinstance(report, str):  # last, where it is seen: the sweep itself succeeded
        console.print(
            f"[bold red]Report NOT written[/]: {escape(report)}\n"
            f"The sweep's results are saved (MLflow, best configs); write the report with: "
            f"{escape(_report_command(config))}",
            soft_wrap=True,
            highlight=False,
        )
    if not outcome.exported:
        raise typer.Exit(1)


def _report_command(config) -> str:
    """``ncsweep report NAME`` on the sweep's tracking store (a placeholder stands for a
    URI with credentials: they are never printed)."""
    from ..redact import redact

    uri = config.tracking_uri
    shown = uri if redact(uri) == uri else "<the tracking URI with its credentials>"
    return f"ncsweep report {config.name} --tracking-uri {shown}"


def _ui_hint(config) -> str:
    """The command that opens the UI and the link to the sweep's runs table."""
    from ..tracking import ui_base, ui_command
    from .ui import sweep_runs_link

    try:
        link = sweep_runs_link(config.tracking_uri, config.name, ui_base(config.tracking_uri))
    except Exception:  # the store went away after the sweep: the command still helps
        return ui_command(config.tracking_uri, config.name)
    return f"{ui_command(config.tracking_uri, config.name)}  ->  {link}"


def _resume(
    name: str,
    storage: str | None,
    tracking_uri: str | None,
    out: Path,
    verbose: bool = False,
    shared: bool = False,
    force: bool = False,
    budgets: dict[str, object] | None = None,
) -> None:
    """Continue sweep ``name``; ``budgets``: ``time_budget``/``gpu_hours`` given for this
    run of the command (replacing those the sweep was started with)."""
    from ..sweep import run_sweep

    config = saved_config(name, storage, tracking_uri, shared, budgets)
    _done(
        run_sweep(config, console, out_dir=out, resume=True, verbose=verbose, force=force),
        config,
        out,
    )


def saved_config(
    name: str,
    storage: str | None,
    tracking_uri: str | None,
    shared: bool = False,
    given: dict[str, object] | None = None,
):
    """Sweep ``name``'s saved settings, with the settings ``given`` for this run of a
    command (those not None) and the storage and tracking URI passed."""
    from ..defaults import default_storage
    from ..sweep import SweepConfig, load_state

    config = load_state(default_storage(storage), name)
    given = {k: v for k, v in (given or {}).items() if v is not None}
    if given:
        config = SweepConfig.model_validate({**config.model_dump(mode="json"), **given})
    if shared:
        config = config.model_copy(update={"shared_storage": True})
    if tracking_uri:
        config = config.model_copy(update={"tracking_uri": tracking_uri})
    elif "***" in config.tracking_uri:
        raise SpecError(
            f"sweep {name}: its tracking URI held credentials and was stored "
            f"without them; pass --tracking-uri"
        )
    return config


def _print_status(name: str, storage: str | None, tracking_uri: str | None) -> None:
    from ..defaults import default_storage
    from ..sweep import collect_rows, leaderboard_table, load_state
    from ..sweep.leaderboard import nc_steps_table, sweep_objective

    try:
        state = load_state(default_storage(storage), name)
    except SpecError:
        if not tracking_uri:
            raise
        state = None
    uri = tracking_uri or state.tracking_uri
    objective = state.objective if state else sweep_objective(uri, name)
    rows = collect_rows(uri, name, state.nc_metric if state else "mean", objective)
    console.print(leaderboard_table(rows, f"Leaderboard: {name}", objective))
    console.print(nc_steps_table(rows, objective=objective))


@app.command(
    "resume",
    epilog=examples("ncsweep resume NAME", "ncsweep resume NAME --storage s3://bucket/sweeps"),
)
def resume_command(
    name: Annotated[str, typer.Argument(help="The sweep to continue.")],
    storage: StorageOption = None,
    shared_storage: SharedStorageOption = False,
    address: AddressOption = None,
    tracking_uri: TrackingOption = None,
    out: Annotated[
        Path, typer.Option(help="Where the best configs are exported.", rich_help_panel=OUTPUT)
    ] = Path("best_configs"),
    verbose: VerboseOption = False,
    force: ForceOption = False,
    time_budget: TimeBudgetOption = None,
    gpu_hours: GpuHoursOption = None,
) -> None:
    """Continue an interrupted sweep: finished trials are kept, the budget is completed."""
    join_cluster(address)
    budgets = {"time_budget": time_budget, "gpu_hours": gpu_hours}
    _resume(name, storage, tracking_uri, out, verbose, shared_storage, force, budgets)
