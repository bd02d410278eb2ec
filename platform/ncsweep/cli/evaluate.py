"""`ncsweep evaluate`: probes, long-tail, corruption and transfer suites on a finished run."""

from __future__ import annotations

from typing import Annotated

import typer

from ._app import TrackingOption, app, console
from ._help import examples, names_help, registry_help


def _suites() -> list[str]:
    from ..evaluate import list_suites

    return list_suites()


def parse_options(items: list[str] | None) -> dict[str, dict]:
    """``["corruption.root=s3://b/c", "transfer.targets=[dtd]"]`` -> ``{suite: {key: value}}``."""
    from ..config import SpecError, parse_overrides

    options: dict[str, dict] = {}
    for key, value in parse_overrides(items):
        suite, sep, option = key.partition(".")
        if not sep or not option or "." in option:
            raise SpecError(
                f"--option {key}: expected suite.option=value, e.g. corruption.root=DIR"
            )
        options.setdefault(suite, {})[option] = value
    return options


@app.command(
    cls=registry_help(suite=names_help("Comma-separated suites; default: all", _suites)),
    epilog=examples(
        "ncsweep evaluate RUN_ID",
        "ncsweep evaluate RUN_ID --suite probes,longtail --device cuda",
        "ncsweep evaluate best_configs/nonl.yaml --suite corruption "
        "--option corruption.root=s3://bucket/CIFAR-10-C",
    ),
)
def evaluate(
    run: Annotated[
        str, typer.Argument(help="MLflow run id of a finished training run, or an exported config.")
    ],
    suite: Annotated[
        str | None, typer.Option("--suite", help="Comma-separated suites (default: all).")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="Baseline run id (default: the CE run of the same study or sweep)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="Suite option, e.g. --option corruption.root=s3://b/CIFAR-10-C "
            "--option transfer.targets=[dtd,food101] (repeatable).",
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="torch device for the encoder.")] = "cpu",
    tracking_uri: TrackingOption = None,
) -> None:
    """Evaluate a trained run's checkpoint (local or s3://); results to MLflow and a table."""
    from ..config import SpecError
    from ..data import DatasetNotFoundError
    from ..evaluate import check_options, parse_suites, rich_table
    from ..evaluate.report import comparison_line
    from ..runtime.evaluation_runner import evaluate_run
    from ..tracking import require_reachable, resolve_tracking_uri

    suites = parse_suites(suite if suite is not None else _suites())
    options = parse_options(option)
    check_options(options, "--option")
    uri = resolve_tracking_uri(tracking_uri)
    require_reachable(uri)
    try:
        outcome = evaluate_run(uri, run, suites, baseline=baseline, options=options, device=device)
    except (DatasetNotFoundError, ValueError) as err:
        if isinstance(err, SpecError):
            raise
        raise SpecError(str(err)) from None
    for name, result in outcome.results.items():
        console.print(rich_table(name, result, None, f"{name}: run {outcome.run.run_id}"))
        if outcome.comparisons.get(name):
            console.print(comparison_line(outcome.comparisons[name]), soft_wrap=True)
    base = outcome.baseline_id or "none (a CE run, or no CE run in its study/sweep)"
    console.print(
        f"baseline: {base}; logged to MLflow run {outcome.run.run_id} as eval/<suite>/<key>"
    )
