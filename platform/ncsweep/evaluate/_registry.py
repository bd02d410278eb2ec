"""The suite registry: ``@register_suite`` fills it; ``run_suite`` and ``compare_suite`` use it.

A suite is a function ``run(subject, **options) -> SuiteResult`` on a frozen model; its
keyword-only parameters after ``subject`` are its options, with their defaults (checked
against user options so a typo fails with the allowed list, as for datasets and models).
``compare(result_metrics, baseline_metrics) -> metrics`` turns two runs' results into the
suite's comparison (long-tail gain, mCE, transfer gain); suites without one compare nothing.

Each suite declares the keys it reports (:class:`SuiteKey`: name, direction, meaning, and
whether it needs a baseline run): the one home of those facts. ``run_suites`` refuses a key
a suite did not declare; a sweep's ``--objective eval/<suite>/<key>`` takes its direction
from here (``sweep/objectives.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import SpecError

__all__ = [
    "SuiteKey",
    "SuiteResult",
    "Suite",
    "register_suite",
    "list_suites",
    "get_suite",
    "parse_suites",
    "check_options",
]


@dataclass
class SuiteResult:
    """What one suite measured on one run.

    Attributes:
        metrics: ``{key: value}``, logged to MLflow as ``eval/<suite>/<key>``; a key whose
            value is ``None`` was not measurable (an empty long-tail split) and is reported
            as such in the table, never logged as a number.
        rows: table rows (dicts with the same columns) for the terminal and the artifact.
    """

    metrics: dict[str, float | None]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class SuiteKey:
    """One metric a suite reports, logged as ``eval/<suite>/<key>``.

    Attributes:
        key: the name; a ``<placeholder>`` segment stands for a family of keys
            (``acc/<head>`` covers ``acc/probe``, ``acc/normprobe``, ...).
        direction: ``"max"`` (higher is better), ``"min"``, or ``None`` for a count or a
            chosen setting that is no score.
        meaning: one line.
        values: the allowed values of each placeholder (a placeholder left out takes any
            one path segment).
        baseline: a comparison with a baseline run (``compare``), made after training by
            ``ncsweep evaluate`` / ``ncsweep study``; never measured inside a training run.
    """

    key: str
    direction: Literal["max", "min"] | None
    meaning: str
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    baseline: bool = False

    def matches(self, key: str) -> bool:
        pattern, parts = self.key.split("/"), key.split("/")
        if len(pattern) != len(parts):
            return False
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("<") and want.endswith(">"):
                allowed = self.values.get(want[1:-1])
                if not got or (allowed is not None and got not in allowed):
                    return False
            elif want != got:
                return False
        return True

    def describe(self) -> str:
        """``acc/<head> (max: accuracy of each head; <head>: prototypes, probe)``."""
        values = "".join(f"; <{k}>: {', '.join(v)}" for k, v in self.values.items())
        return f"{self.key} ({self.direction or 'no direction'}: {self.meaning}{values})"


@dataclass(frozen=True)
class Suite:
    name: str
    run: Callable[..., SuiteResult]
    compare: Callable[[dict, dict], dict[str, float | None]] | None
    options: dict[str, Any]
    description: str
    keys: tuple[SuiteKey, ...] = ()

    def key(self, name: str) -> SuiteKey | None:
        """The declaration ``name`` (a concrete key such as ``acc/probe``) falls under."""
        return next((k for k in self.keys if k.matches(name)), None)

    def undeclared(self, metrics: dict[str, Any]) -> list[str]:
        """Keys of ``metrics`` this suite did not declare (a bug in the suite)."""
        return [k for k in metrics if self.key(k) is None]


_REGISTRY: dict[str, Suite] = {}


def register_suite(
    name: str, *, keys: tuple[SuiteKey, ...], compare: Callable | None = None
) -> Callable:
    """Register ``run(subject, *, **options) -> SuiteResult`` as suite ``name``, reporting
    ``keys`` (its measurements and, with ``compare``, its comparisons: ``baseline=True``)."""

    def decorator(run: Callable[..., SuiteResult]) -> Callable[..., SuiteResult]:
        if name in _REGISTRY:
            raise ValueError(f"suite {name!r} is already registered")
        params = inspect.signature(run).parameters
        options = {
            p.name: p.default for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        doc = (run.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Suite(name, run, compare, options, doc[0] if doc else "", tuple(keys))
        return run

    return decorator


def list_suites() -> list[str]:
    """Registered suite names, in registration order (probes, longtail, corruption, transfer)."""
    return list(_REGISTRY)


def get_suite(name: str) -> Suite:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SpecError(f"unknown suite {name!r}; allowed: {', '.join(list_suites())}") from None


def parse_suites(value: str | list[str] | None, source: str = "--suite") -> list[str]:
    """``"probes,longtail"`` or a list -> validated names (order kept, duplicates dropped)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    names = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        if item not in _REGISTRY:
            raise SpecError(
                f"{source}: unknown suite {item!r}; allowed: {', '.join(list_suites())}"
            )
        if item not in names:
            names.append(item)
    if not names:
        raise SpecError(f"{source}: no suite given; allowed: {', '.join(list_suites())}")
    return names


def check_options(options: dict[str, dict[str, Any]], source: str) -> None:
    """Every ``{suite: {option: value}}`` names a registered suite and its options."""
    for suite, given in options.items():
        entry = get_suite(suite)
        if not isinstance(given, dict):
            raise SpecError(f"{source}: options of suite {suite!r} must be a mapping")
        unknown = sorted(set(given) - set(entry.options))
        if unknown:
            raise SpecError(
                f"{source}: unknown option(s) {unknown} for suite {suite!r}; allowed: "
                f"{', '.join(entry.options) or 'none'}"
            )
