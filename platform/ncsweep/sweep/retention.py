"""Which trials of a finished sweep keep a checkpoint, and the pruning pass that applies it.

A family's top candidates are what a later command may want the trained state of: its top
``max(confirm_top, 1)`` complete trials by the objective (``confirm_stage
.confirmation_order``: the exported best first, then what the confirmation stage trains),
under ``pareto`` its whole front (the exported ``<family>_pareto.yaml``), and every
confirmation run (the confirmed winners' seeds). ``ncsweep evaluate`` reads a run's final
checkpoint; exports and the confirmation stage read specs from MLflow and need none.
``runtime/retention.py`` removes the rest by the sweep's ``keep_checkpoints``.
"""

from __future__ import annotations

from rich.console import Console

from ..plan.objectives import Objective
from ..plan.state import SweepConfig, sweep_dir
from ..runtime.retention import Pruned, prune_checkpoints
from ..tracking import STAGE_CONFIRM, STAGE_SEARCH, TAG_STAGE
from .confirm_stage import confirmation_order
from .export import pareto_rows
from .leaderboard import TrialRow, row_from_run
from .records import SweepRecords, read_sweep

__all__ = ["prune_sweep", "top_candidates"]


def top_candidates(
    rows: list[TrialRow], families: list[str], confirm_top: int, objective: Objective
) -> set[str]:
    """Run ids of each family's top candidates among the search's ``rows`` (module
    docstring; confirmation runs are added by :func:`prune_sweep`)."""
    keep: set[str] = set()
    for family in families:
        keep |= {
            r.run_id for r in confirmation_order(rows, family, objective)[: max(confirm_top, 1)]
        }
        if objective.pareto:
            keep |= {r.run_id for r in pareto_rows(rows, family)}
    return keep


def prune_sweep(
    cfg: SweepConfig,
    uri: str,
    console: Console | None = None,
    records: SweepRecords | None = None,
) -> Pruned:
    """Apply ``cfg.keep_checkpoints`` to sweep ``cfg.name``'s storage; says what it freed.
    ``records``: the sweep's runs when the caller has read them (the tags this adds are
    added to them too, so a snapshot of them stays true).

    Call it holding the sweep's lease once every Tune run of the sweep has returned."""
    records = records or read_sweep(uri, cfg.name)
    # every run that owns a folder, orphans too: their checkpoints follow the same policy
    runs = records.children(stage=None, orphans=True)
    search = [r for r in runs if r.tags.get(TAG_STAGE, STAGE_SEARCH) == STAGE_SEARCH]
    rows = [row_from_run(r, cfg.nc_metric) for r in search]
    candidates = top_candidates(rows, list(cfg.families), cfg.confirm_top, cfg.resolved_objective)
    candidates |= {r.run_id for r in runs if r.tags.get(TAG_STAGE) == STAGE_CONFIRM}
    pruned = prune_checkpoints(
        sweep_dir(cfg.storage, cfg.name), runs, candidates, cfg.keep_checkpoints, uri
    )
    if console is not None and pruned.removed:
        console.print(
            f"checkpoints (--keep-checkpoints {cfg.keep_checkpoints}): removed "
            f"{len(pruned.removed)}, freed {pruned.freed / 1e6:.1f} MB; storage now "
            + ", ".join(f"{top} {size / 1e6:.1f} MB" for top, size in pruned.after.items()),
            highlight=False,
        )
    return pruned
