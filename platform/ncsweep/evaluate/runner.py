"""Run suites on a subject, with options from the spec and the command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._registry import SuiteResult, check_options, get_suite
from .report import compare, log_results, stored_results
from .runs import RunRef, default_baseline, read_state, resolve_run
from .subject import Subject, subject_from_state

__all__ = ["Evaluation", "evaluate_run", "run_suites"]


def run_suites(
    subject: Subject, suites: list[str], options: dict[str, dict[str, Any]] | None = None
) -> dict[str, SuiteResult]:
    """``{suite: SuiteResult}`` for each name in ``suites`` (registry order kept as given).

    ``options``: ``{suite: {option: value}}``; unknown suites or options raise SpecError.
    """
    options = dict(options or {})
    check_options(options, "evaluation options")
    results = {}
    for name in suites:
        entry = get_suite(name)
        given = dict(options.get(name) or {})
        for key, value in given.items():  # YAML gives lists; suites take tuples
            if isinstance(value, list):
                given[key] = tuple(value)
        results[name] = entry.run(subject, **given)
        undeclared = entry.undeclared(results[name].metrics)
        if undeclared:  # the registry is what sweeps and comparisons rely on
            raise ValueError(f"suite {name} reported undeclared keys {undeclared}")
    return results


@dataclass
class Evaluation:
    run: RunRef
    results: dict[str, SuiteResult]
    comparisons: dict[str, dict[str, float | None]]
    baseline_id: str | None


def _baseline_results(
    uri: str, baseline: RunRef, suites: list[str], options, device
) -> dict[str, dict]:
    """The baseline's measurements: read back from MLflow, or evaluated now (and logged)."""
    found = {s: stored_results(baseline.metrics, s) for s in suites}
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
        if base.run_id == run.run_id:
            stored = {s: results[s].metrics for s in comparable}
        else:
            stored = _baseline_results(uri, base, comparable, options, device)
        comparisons = {s: compare(s, results[s].metrics, stored[s]) for s in comparable}
    log_results(uri, run.run_id, results, comparisons, base.run_id if base else None)
    return Evaluation(run, results, comparisons, base.run_id if base else None)
