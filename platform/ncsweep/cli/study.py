"""`ncsweep study paper`: train every family per seed, evaluate every suite, one table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..plan.names import check_name
from ._app import ForceOption, SetOption, StorageOption, TrackingOption, app, console
from ._help import examples
from ._options import checked, name_argument

study_app = typer.Typer(
    help="Studies: the paper's claims measured by the platform.", no_args_is_help=True
)
app.add_typer(study_app, name="study")


@study_app.command(
    "paper",
    epilog=examples(
        "ncsweep study paper --preset digits --seeds 3",
        "ncsweep study paper --preset cifar10 --families ce,nonl --variants balanced,lt0.01",
        "ncsweep study paper --from-sweep digits-20261206 --seeds 5",
    ),
)
def paper(
    preset: Annotated[
        str, typer.Option(help="Preset name (digits, cifar10, ...) or a YAML path.")
    ] = "digits",
    seeds: Annotated[int, typer.Option(help="Seeds per family (0 .. N-1).")] = 3,
    families: Annotated[
        str | None,
        typer.Option(help="Comma-separated loss families (default: all five; CE is the baseline)."),
    ] = None,
    variants: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated variants (default all: balanced, lt0.1, lt0.01, and src04 on digits)."
        ),
    ] = None,
    overrides: SetOption = None,
    name: Annotated[
        str | None,
        typer.Option(
            help="Study name (MLflow experiment; default paper-<preset>-<digest of the "
            "options>). Running a study again with the same name and storage resumes it.",
            callback=checked("--name", check_name),
        ),
    ] = None,
    max_concurrent: Annotated[
        int | None, typer.Option(help="Runs at once (default: what the cluster holds).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where <name>.md and <name>.json are written.")] = Path(
        "study_results"
    ),
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
    spaces: Annotated[
        Path | None, typer.Option(help="Search-space folder (default: the shipped one).")
    ] = None,
    from_sweep: Annotated[
        str | None,
        typer.Option(
            help="Study the families at the confirmed winners of this sweep (its confirmation "
            "stage), not at the search spaces' defaults; families default to the confirmed ones.",
            callback=checked("--from-sweep", check_name),
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Train each family for each seed at the preset's budget, evaluate, write the table.

    Interrupted? Run the same command again: cells that ended are kept, running ones
    continue from their checkpoints, and the table is rewritten. Another plan under the
    same --name exits 2 (choose another --name)."""
    from ..config import SpecError
    from ..defaults import default_storage
    from ..plan.spaces import list_families
    from ..study import default_study_name, plan_cells, run_study, variants_for
    from ..sweep import load_preset
    from ..tracking import resolve_tracking_uri

    if seeds < 1:
        raise SpecError(f"--seeds must be >= 1, got {seeds}")
    available_families = list_families(spaces)  # every family with a search space
    bases = None
    if from_sweep:
        from ..study.from_sweep import confirmed_bases

        bases = confirmed_bases(resolve_tracking_uri(tracking_uri), from_sweep)
    default_families = sorted(bases) if bases else available_families
    chosen = [f.strip() for f in families.split(",") if f.strip()] if families else default_families
    unknown = [f for f in chosen if f not in available_families]
    if unknown or not chosen:
        raise SpecError(
            f"--families: unknown {unknown or '(none given)'}; "
            f"allowed: {', '.join(available_families)}"
        )
    if "ce" not in chosen:
        raise SpecError("--families must include ce: every comparison in the study is against CE")
    loaded = load_preset(preset, spaces)
    available = variants_for(loaded.spec)
    picked = [v.strip() for v in variants.split(",") if v.strip()] if variants else list(available)
    bad = [v for v in picked if v not in available]
    if bad or not picked:
        raise SpecError(
            f"--variants: unknown {bad or '(none given)'}; allowed for preset {preset}: {', '.join(available)}"
        )
    settings = {
        "preset": str(preset),
        "seeds": seeds,
        "families": ",".join(chosen),
        "variants": ",".join(picked),
        "overrides": " ".join(overrides or []),
        **({"from_sweep": from_sweep} if from_sweep else {}),
    }
    study = name or default_study_name(loaded.name, settings)
    store = default_storage(storage)
    cells = plan_cells(
        loaded,
        chosen,
        list(range(seeds)),
        list(overrides or []),
        study=study,
        storage=f"{store.rstrip('/')}/{study}/train",
        variants=picked,
        bases=bases,
    )
    outcome = run_study(
        study,
        cells,
        storage=store,
        tracking_uri=tracking_uri,
        console=console,
        settings=settings,
        out_dir=out,
        max_concurrent=max_concurrent,
        force=force,
    )
    console.print(outcome.markdown, markup=False, highlight=False)
    console.print(
        f"Table: {out / (study + '.md')} and .json; MLflow parent run {outcome.parent_run_id}"
    )
    if outcome.failed:
        console.print(f"[red]{outcome.failed} run(s) failed[/] (see their MLflow runs)")
        raise typer.Exit(1)


@study_app.command(
    "table", epilog=examples("ncsweep study table NAME", "ncsweep study table NAME --out results/")
)
def table(
    name: Annotated[str, name_argument("The study (its MLflow experiment).")],
    out: Annotated[Path, typer.Option(help="Where <name>.md and <name>.json are written.")] = Path(
        "study_results"
    ),
    tracking_uri: TrackingOption = None,
) -> None:
    """Collect a study's runs from MLflow again and rewrite its table (e.g. after
    ``ncsweep evaluate`` added results, or for a study still running)."""
    from ..study import write_table
    from ..tracking import resolve_tracking_uri

    markdown, _ = write_table(resolve_tracking_uri(tracking_uri), name, out)
    console.print(markdown, markup=False, highlight=False)
