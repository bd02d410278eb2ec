"""Tables a person reads at a glance: the end of ``ncsweep train``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .config import ExperimentSpec

__all__ = ["print_train_summary", "nc_table"]

_HEADLINE = (
    "val/acc1",
    "val/acc5",
    "val/loss",
    "val/acc1_prototypes",
    "val/acc1_probe",
    "val/acc1_normprobe",
)


def nc_table(metrics: dict, title: str = "Neural Collapse (training set)") -> Table:
    """One row per NC metric: raw value, score (%), step at which the score reached the threshold."""
    table = Table(title=title)
    for column in ("metric", "raw", "score %", "steps to threshold"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    names = sorted(k.removeprefix("nc/") for k in metrics if k.startswith("nc/"))
    for name in names:
        score = metrics.get(f"nc_score/{name}")
        iters = metrics.get(f"nc_iters/{name}")
        table.add_row(
            name,
            f"{metrics[f'nc/{name}']:.4g}",
            "-" if score is None else f"{score:.1f}",
            "-" if iters is None else str(int(iters)),
        )
    return table


def print_train_summary(console: Console, spec: ExperimentSpec, outcome) -> None:
    m = outcome.metrics
    head = Table(title=f"ncsweep train: {spec.loss.name} on {spec.data.name} ({outcome.status})")
    head.add_column("key")
    head.add_column("value", justify="right")
    for key in _HEADLINE:
        if key in m:
            head.add_row(key, f"{m[key]:.4f}")
    scores = [v for k, v in m.items() if k.startswith("nc_score/")]
    if scores:
        head.add_row("mean NC score %", f"{sum(scores) / len(scores):.1f}")
    if "step" in m:
        head.add_row("steps", str(int(m["step"])))
    head.add_row("MLflow run id", outcome.run_id)
    if outcome.checkpoint:
        head.add_row("checkpoint", outcome.checkpoint)
    if outcome.failure_reason:
        head.add_row("failure", outcome.failure_reason)
    console.print(head)
    if any(k.startswith("nc/") for k in m):
        console.print(nc_table(m))
