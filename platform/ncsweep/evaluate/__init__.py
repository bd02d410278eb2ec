"""``ncsweep evaluate``: what the paper claims beyond accuracy, measured on a trained run.

Suites (a registry: ``list_suites()``), each a function on a frozen model (:class:`Subject`):

- ``probes``: class-mean prototypes vs a linear probe vs a normalised probe (every family);
- ``longtail``: balanced-test accuracy on many / medium / few-shot classes;
- ``corruption``: error under 15 corruptions × 5 severities, mCE against a baseline;
- ``transfer``: a linear probe per downstream dataset, relative gain over a baseline.

This package and its suites import neither Ray nor MLflow; the MLflow side (``ncsweep
evaluate`` on a finished run: ``runner.evaluate_run``, ``runs.resolve_run``) is imported from
its modules.

Example:
    >>> from ncsweep.evaluate import run_suites, subject_from_state
    >>> subject = subject_from_state(spec, state)          # spec + checkpoint state
    >>> results = run_suites(subject, ["probes", "longtail"])
    >>> results["probes"].metrics["acc/prototypes"]
"""

from . import corruption, longtail, probes, transfer  # noqa: F401  (registration)
from ._registry import (
    SUITES,
    SuiteResult,
    check_options,
    get_suite,
    list_suites,
    parse_suites,
    register_suite,
)
from .report import compare, flat_metrics, markdown_table, rich_table
from .subject import Subject, build_model, live_subject, subject_from_state
from .suites import run_suites

__all__ = [
    "SUITES",
    "Subject",
    "SuiteResult",
    "build_model",
    "check_options",
    "compare",
    "flat_metrics",
    "get_suite",
    "list_suites",
    "live_subject",
    "markdown_table",
    "parse_suites",
    "register_suite",
    "rich_table",
    "run_suites",
    "subject_from_state",
]
