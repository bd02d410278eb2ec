"""Suite results: comparisons with a baseline, MLflow keys, tables (no MLflow here:
``runner.log_results`` writes them).

MLflow layout on the evaluated run: ``eval/<suite>/<key>`` for what the suite measured,
``eval/<suite>/<comparison key>`` for the comparison with the baseline (e.g.
``eval/corruption/mce``, ``eval/longtail/gain_points/few``, ``eval/transfer/gain_relative/mean``),
tag ``ncsweep.eval.baseline`` with the baseline's run id, and artifacts
``eval/<suite>.json`` (metrics, comparison, rows) and ``eval/<suite>.md`` (the table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from ._registry import SuiteResult, get_suite

__all__ = [
    "compare",
    "comparison_line",
    "flat_metrics",
    "markdown_table",
    "rich_table",
    "stored_results",
]


def compare(
    suite: str, metrics: Mapping[str, float | None], baseline: Mapping[str, float | None] | None
) -> dict[str, float | None]:
    entry = get_suite(suite)
    if entry.compare is None or baseline is None:
        return {}
    out = entry.compare(metrics, baseline)
    wrong = [k for k in out if not getattr(entry.key(k), "baseline", False)]
    if wrong:
        raise ValueError(f"suite {suite}: comparison keys {wrong} are not declared (baseline=True)")
    return out


def flat_metrics(
    results: dict[str, SuiteResult], comparisons: dict[str, dict[str, float | None]] | None = None
) -> dict[str, float]:
    """``{"eval/<suite>/<key>": value}``; ``None`` and non-finite values are left out."""
    flat: dict[str, float] = {}
    for suite, result in results.items():
        merged = {**result.metrics, **((comparisons or {}).get(suite) or {})}
        for key, value in merged.items():
            if value is not None and math.isfinite(float(value)):
                flat[f"eval/{suite}/{key}"] = float(value)
    return flat


def stored_results(run_metrics: dict[str, float], suite: str) -> dict[str, float] | None:
    """A run's measurements of ``suite`` read back from its MLflow metrics (None if absent)."""
    prefix, entry = f"eval/{suite}/", get_suite(suite)
    found = {
        k[len(prefix) :]: v
        for k, v in run_metrics.items()
        if k.startswith(prefix) and not getattr(entry.key(k[len(prefix) :]), "baseline", True)
    }
    return found or None


def _fmt(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


def rich_table(
    suite: str, result: SuiteResult, comparison: dict[str, float | None] | None, title: str = ""
) -> Table:
    table = Table(title=title or f"eval/{suite}")
    columns = _columns(result.rows)
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:1] else "right")
    for row in result.rows:
        table.add_row(*[_fmt(row.get(c)) if c in row else "" for c in columns])
    if comparison:
        table.caption = comparison_line(comparison)
    return table


def comparison_line(comparison: dict[str, float | None]) -> str:
    """The headline comparisons (means, overall and per-group gains, mCE) on one line."""
    shown = {
        k: v
        for k, v in comparison.items()
        if "/" not in k or k.endswith(("/mean", "/overall", "/few", "/many", "/medium"))
    }
    return "vs baseline: " + ", ".join(f"{k} {_fmt(v)}" for k, v in shown.items())


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    columns = columns or _columns(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append(
            "| " + " | ".join(_fmt(row.get(c)) if c in row else "" for c in columns) + " |"
        )
    return "\n".join(lines) + "\n"
