"""Tables a person reads at a glance: the end of ``ncsweep train``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .. import metric_keys as keys
from ..config import ExperimentSpec
from ..geometry.descriptors import METRICS

__all__ = ["print_train_summary", "nc_table"]


def nc_table(metrics: dict, title: str = "Neural Collapse (training set)") -> Table:
    """One row per NC metric (descriptor order): raw value, better direction, score (%),
    step at which the score reached the threshold, and what the metric means."""
    table = Table(title=title)
    for column in ("metric", "raw", "better", "score %", "steps to threshold", "meaning"):
        table.add_column(column, justify="left" if column in ("metric", "meaning") else "right")
    for info in METRICS:
        name = info.name
        if keys.NC + name not in metrics:
            continue
        score = metrics.get(keys.NC_SCORE + name)
        iters = metrics.get(keys.NC_ITERS + name)
        table.add_row(
            name,
            f"{metrics[keys.NC + name]:.4g}",
            "lower" if info.direction == "min" else "higher",
            "-" if score is None else f"{score:.1f}",
            "-" if iters is None else str(int(iters)),
            info.meaning,
        )
    return table


def print_train_summary(console: Console, spec: ExperimentSpec, outcome) -> None:
    m = outcome.metrics
    head = Table(title=f"ncsweep train: {spec.loss.name} on {spec.data.name} ({outcome.status})")
    head.add_column("key")
    head.add_column("value", justify="right")
    for key in (*keys.VAL_HEADLINE, *keys.TEST_HEADLINE):
        if key in m:
            head.add_row(key, f"{m[key]:.4f}")
    mean = keys.mean_nc_score(m)
    if mean is not None:
        head.add_row("mean NC score %", f"{mean:.1f}")
    if keys.STEP in m:
        head.add_row("steps", str(int(m[keys.STEP])))
    head.add_row("MLflow run id", outcome.run_id)
    if outcome.checkpoint:
        head.add_row("checkpoint", outcome.checkpoint)
    if outcome.failure_reason:
        head.add_row("failure", outcome.failure_reason)
    console.print(head)
    if keys.per_metric(keys.NC, m):
        console.print(nc_table(m))
