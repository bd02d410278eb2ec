"""``ncsweep evaluate``: what the paper claims beyond accuracy, measured on a trained run.

Suites (a registry: ``list_suites()``), each a function on a frozen model (:class:`Subject`):

- ``probes``: class-mean prototypes vs a linear probe vs a normalised probe (every family);
- ``longtail``: balanced-test accuracy on many / medium / few-shot classes;
- ``corruption``: error under 15 corruptions × 5 severities, mCE against a baseline;
- ``transfer``: a linear probe per downstream dataset, relative gain over a baseline.

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
from .report import compare, flat_metrics, log_results, markdown_table, rich_table
from .runner import Evaluation, evaluate_run, run_suites
from .runs import default_baseline, read_state, resolve_run
from .subject import Subject, build_model, live_subject, subject_from_state

__all__ = [
    "SUITES",
    "Evaluation",
    "Subject",
    "SuiteResult",
    "build_model",
    "check_options",
    "compare",
    "default_baseline",
    "evaluate_run",
    "flat_metrics",
    "get_suite",
    "list_suites",
    "live_subject",
    "log_results",
    "markdown_table",
    "parse_suites",
    "read_state",
    "register_suite",
    "resolve_run",
    "rich_table",
    "run_suites",
    "subject_from_state",
]
