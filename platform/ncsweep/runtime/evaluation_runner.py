"""``ncsweep evaluate`` on a finished run: its checkpoint from MLflow, the suites, the
comparison with a baseline, and the results logged back to MLflow."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..evaluate._registry import SuiteResult, get_suite
from ..evaluate.report import compare, flat_metrics, markdown_table, stored_results
from ..evaluate.subject import subject_from_state
from ..evaluate.suites import run_suites
from ..tracking import MetricLogger, log_text, set_tags
from .evaluation_runs import RunRef, default_baseline, read_state, resolve_run

__all__ = ["Evaluation", "evaluate_run", "log_results"]


@dataclass
class Evaluation:
    run: RunRef
    results: dict[str, SuiteResult]
    comparisons: dict[str, dict[str, float | None]]
    baseline_id: str | None


def _baseline_results(
    uri: str, baseline: RunRef, suites: list[str], options, device
) -> dict[str, Mapping[str, float | None] | None]:
    """The baseline's measurements: read back from MLflow, or evaluated now (and logged)."""
    found: dict[str, Mapping[str, float | None] | None] = {
        s: stored_results(baseline.metrics, s) for s in suites
    }
    missing = [s for s, v in found.items() if v is None]
    if missing:
        subject = subject_from_state(baseline.spec, read_state(baseline.checkpoint), device)
        fresh = run_suites(subject, missing, options)
        log_results(uri, baseline.run_id, fresh, {}, None)
        found.update({s: r.metrics for s, r in fresh.items()})
    return found


def evaluate_run(
    uri: str,
    ref: str,
    suites: list[str],
    *,
    baseline: str | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    device: str = "cpu",
) -> Evaluation:
    """Evaluate a finished run's checkpoint, compare with the baseline, log to its MLflow run.

    ``baseline``: a run id; by default the CE run of the same study or sweep
    (``runs.default_baseline``). The baseline's stored ``eval/<suite>/...`` results are
    reused; suites it lacks are evaluated on its checkpoint and logged to it.
    """
    run = resolve_run(uri, ref)
    base = resolve_run(uri, baseline) if baseline else None
    subject = subject_from_state(run.spec, read_state(run.checkpoint), device)
    results = run_suites(subject, suites, options)
    if base is None:
        default = default_baseline(uri, run)
        base = resolve_run(uri, default) if default else None
    comparisons: dict[str, dict[str, float | None]] = {}
    comparable = [s for s in suites if get_suite(s).compare is not None]
    if base is not None and comparable:
        stored: dict[str, Mapping[str, float | None] | None]
        if base.run_id == run.run_id:
            stored = {s: results[s].metrics for s in comparable}
        else:
            stored = _baseline_results(uri, base, comparable, options, device)
        comparisons = {s: compare(s, results[s].metrics, stored[s]) for s in comparable}
    log_results(uri, run.run_id, results, comparisons, base.run_id if base else None)
    return Evaluation(run, results, comparisons, base.run_id if base else None)


def log_results(
    uri: str,
    run_id: str,
    results: dict[str, SuiteResult],
    comparisons: dict[str, dict[str, float | None]],
    baseline_id: str | None,
    step: int = 0,
) -> None:
    """Metrics, tables and the baseline tag on the evaluated run."""
    logger = MetricLogger(uri, run_id)
    logger.log(flat_metrics(results, comparisons), step=step)
    for suite, result in results.items():
        payload = {
            "suite": suite,
            "metrics": result.metrics,
            "comparison": comparisons.get(suite) or {},
            "baseline_run_id": baseline_id,
            "rows": result.rows,
        }
        log_text(uri, run_id, json.dumps(payload, indent=2, default=str), f"eval/{suite}.json")
        log_text(uri, run_id, markdown_table(result.rows), f"eval/{suite}.md")
    tags = {"ncsweep.eval.suites": ",".join(results)}
    if baseline_id:
        tags["ncsweep.eval.baseline"] = baseline_id
    set_tags(uri, run_id, tags)
