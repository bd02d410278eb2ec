"""`ncsweep sweep` and `ncsweep resume`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape

from ..config import SpecError
from ..plan.names import check_name
from ._app import OUTPUT, AddressOption, ForceOption, app, console, join_cluster
from ._help import examples, families_help, names_help, registry_help
from ._options import all_settings, checked, name_argument, setting_values, with_settings

VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Show Ray's own output too (it always goes to ray.log).",
        rich_help_panel=OUTPUT,
    ),
]


def _described(name: str) -> str:
    """The declared help of sweep setting ``name`` (``plan/sweep_config.py``)."""
    from ..plan.sweep_config import SweepConfig

    description = SweepConfig.model_fields[name].description
    if description is None:  # every sweep setting declares one: it is its --help text
        raise ValueError(f"sweep setting {name!r} declares no description")
    return description


def _presets() -> list[str]:
    from ..plan.presets import list_presets

    return list_presets()


@app.command(
    cls=registry_help(  # the declared help, then the names registered when help is shown
        families=lambda: families_help(_described("families")),
        preset=names_help(_described("preset").removesuffix(".") + "; presets", _presets),
    ),
    epilog=examples(
        "ncsweep sweep",
        "ncsweep sweep --preset cifar100 --families ntce,nonl --trials 16 --gpus-per-trial 1 "
        "--storage s3://bucket/sweeps --tracking-uri http://mlflow:5000",
        "ncsweep sweep --objective pareto",
        "ncsweep sweep --status NAME",
    ),
)
@with_settings(*all_settings())
def sweep(
    address: AddressOption = None,
    out: Annotated[
        Path,
        typer.Option(help="Where the best config per family is exported.", rich_help_panel=OUTPUT),
    ] = Path("best_configs"),
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
            callback=checked("--status", check_name),
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
    **settings,
) -> None:
    """Sweep every loss family with Ray Tune + Optuna; leaderboard, MLflow, exported best configs.

    Settings: the preset's ``sweep:`` section, then these flags (``plan/sweep_config.py``).
    """
    join_cluster(address)
    name, storage, tracking_uri = (settings[k] for k in ("name", "storage", "tracking_uri"))
    if status:
        _print_status(status, storage, tracking_uri)
        return
    # after --status: the leaderboard needs neither the loss registry (torch) nor Ray
    from ..plan.sweep_config import sweep_config
    from ..sweep import run_sweep

    if resume:
        if not name:
            raise SpecError("--resume needs --name NAME (or use: ncsweep resume NAME)")
        shared = bool(settings["shared_storage"])
        _resume(name, storage, tracking_uri, out, verbose, shared, force)
        return
    config = sweep_config(**setting_values(settings))
    if print_config:
        console.print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), end="")
        return
    _done(run_sweep(config, console, out_dir=out, verbose=verbose, force=force), config, out)


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
    budgets: Mapping[str, object] | None = None,
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
    given: Mapping[str, object] | None = None,
):
    """Sweep ``name``'s saved settings, with the settings ``given`` for this run of a
    command (those not None) and the storage and tracking URI passed."""
    from ..defaults import default_storage
    from ..sweep import SweepConfig, load_state

    config = load_state(default_storage(storage), name)
    given = {k: v for k, v in (given or {}).items() if v is not None}
    if given:
        from ..plan.sweep_config import SAVED

        config = SweepConfig.model_validate(
            {**config.model_dump(mode="json"), **given}, context={SAVED: True}
        )
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
    from ..sweep.confirmation import confirmed_results, print_confirmed
    from ..sweep.leaderboard import collect_rows, leaderboard_table, nc_steps_table
    from ..sweep.records import read_named_sweep

    sweep = read_named_sweep(name, storage, tracking_uri)
    objective, records = sweep.objective, sweep.records
    rows = collect_rows(sweep.uri, name, sweep.nc_metric, objective, records=records)
    console.print(leaderboard_table(rows, f"Leaderboard: {name}", objective))
    console.print(nc_steps_table(rows, objective=objective))
    confirmed = confirmed_results(sweep.uri, name, objective, records=records)
    if confirmed.confirmed:  # a sweep without confirmation runs prints what it always did
        print_confirmed(console, confirmed)
    console.print(f"[dim]{len(records.runs)} runs read from {records.source()}[/]")


@app.command(
    "resume",
    epilog=examples("ncsweep resume NAME", "ncsweep resume NAME --storage s3://bucket/sweeps"),
)
@with_settings("storage", "shared_storage", "tracking_uri", "time_budget", "gpu_hours")
def resume_command(
    name: Annotated[str, name_argument("The sweep to continue.")],
    address: AddressOption = None,
    out: Annotated[
        Path, typer.Option(help="Where the best configs are exported.", rich_help_panel=OUTPUT)
    ] = Path("best_configs"),
    verbose: VerboseOption = False,
    force: ForceOption = False,
    **settings,
) -> None:
    """Continue an interrupted sweep: finished trials are kept, the budget is completed."""
    join_cluster(address)
    budgets = {"time_budget": settings["time_budget"], "gpu_hours": settings["gpu_hours"]}
    storage, shared, uri = (settings[k] for k in ("storage", "shared_storage", "tracking_uri"))
    _resume(name, storage, uri, out, verbose, shared, force, budgets)
