"""`ncsweep export`: best config per family as `ncsweep train --config` files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import StorageOption, TrackingOption, app, console, err_console
from ._help import examples
from ._options import name_argument


@app.command(
    epilog=examples("ncsweep export NAME", "ncsweep export NAME --out best_configs/ --pareto")
)
def export(
    name: Annotated[str, name_argument("The sweep to export.")],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("best_configs"),
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
    pareto: Annotated[
        bool | None,
        typer.Option(help="Also export Pareto fronts (default: if the sweep was multi-objective)."),
    ] = None,
) -> None:
    """Write the best config per loss family (and Pareto fronts) as `ncsweep train --config` files.

    "Best" is by the objective the sweep ran with (its saved settings, else its MLflow
    parent run): val/acc1, or the eval/<suite>/<key> it optimised in that key's direction.
    A family with confirmation runs exports its confirmed winner: the best validation mean
    over seeds.
    """
    from ..sweep import collect_rows, export_best
    from ..sweep.confirmation import confirmed_results
    from ..sweep.records import read_named_sweep

    sweep = read_named_sweep(name, storage, tracking_uri)
    uri, objective, records = sweep.uri, sweep.objective, sweep.records
    rows = collect_rows(uri, name, sweep.nc_metric, objective, records=records)
    want_pareto = pareto if pareto is not None else objective == "pareto"
    seed = sweep.state.seed if sweep.state else 0
    confirmed = confirmed_results(uri, name, objective, records=records)
    written = export_best(
        uri, name, rows, out, seed, pareto=want_pareto, objective=objective, confirmed=confirmed
    )
    if not written:
        err_console.print(f"sweep {name}: no finished trial to export")
        raise typer.Exit(1)
    for path in written:
        console.print(f"wrote {path}")
    for family, result in confirmed.families.items():
        console.print(
            f"{family}: confirmed winner {result.winner.trial_id} "
            f"(seeds {', '.join(map(str, result.winner.seeds))}), not the search's single best"
            if result.winner.search_run_id != result.search_best_run_id
            else f"{family}: the search's best, confirmed over seeds "
            f"{', '.join(map(str, result.winner.seeds))}",
            highlight=False,
        )
