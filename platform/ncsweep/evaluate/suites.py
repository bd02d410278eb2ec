"""Run suites on a subject, with options from the spec and the command line."""

from __future__ import annotations

from typing import Any

from ._registry import SuiteResult, check_options, get_suite
from .subject import Subject

__all__ = ["run_suites"]


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
