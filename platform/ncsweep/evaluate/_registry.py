"""The suite registry: ``@register_suite`` fills it; ``run_suite`` and ``compare_suite`` use it.

A suite is a function ``run(subject, **options) -> SuiteResult`` on a frozen model; its
keyword-only parameters after ``subject`` are its options, with their defaults (the
entry's options model in :data:`SUITES`, a :class:`ncsweep.registry.Registry`: a typo
fails with the allowed list, as for datasets and models).
``compare(result_metrics, baseline_metrics) -> metrics`` turns two runs' results into the
suite's comparison (long-tail gain, mCE, transfer gain); suites without one compare nothing.

Each suite declares the keys it reports (:class:`SuiteKey`: name, direction, meaning, and
whether it needs a baseline run): the one home of those facts. ``run_suites`` refuses a key
a suite did not declare; a sweep's ``--objective eval/<suite>/<key>`` takes its direction
from here (``plan/objectives.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import SpecError
from ..registry import Registry, options_from_signature

__all__ = [
    "SUITES",
    "Compare",
    "SuiteKey",
    "SuiteResult",
    "Suite",
    "register_suite",
    "list_suites",
    "get_suite",
    "parse_suites",
    "check_options",
]


#: ``compare(result_metrics, baseline_metrics) -> comparison metrics`` (module docstring).
Compare = Callable[
    [Mapping[str, float | None], Mapping[str, float | None]], dict[str, float | None]
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
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
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
    compare: Compare | None
    description: str
    keys: tuple[SuiteKey, ...] = ()

    def key(self, name: str) -> SuiteKey | None:
        """The declaration ``name`` (a concrete key such as ``acc/probe``) falls under."""
        return next((k for k in self.keys if k.matches(name)), None)

    def undeclared(self, metrics: dict[str, Any]) -> list[str]:
        """Keys of ``metrics`` this suite did not declare (a bug in the suite)."""
        return [k for k in metrics if self.key(k) is None]


#: The suites, in registration order (probes, longtail, corruption, transfer).
SUITES: Registry[Suite] = Registry("suite", error=SpecError, sort=False)


def register_suite(
    name: str, *, keys: tuple[SuiteKey, ...], compare: Compare | None = None
) -> Callable[[Callable[..., SuiteResult]], Callable[..., SuiteResult]]:
    """Register ``run(subject, *, **options) -> SuiteResult`` as suite ``name``, reporting
    ``keys`` (its measurements and, with ``compare``, its comparisons: ``baseline=True``)."""

    def decorator(run: Callable[..., SuiteResult]) -> Callable[..., SuiteResult]:
        doc = (run.__doc__ or "").strip().splitlines()
        description = doc[0] if doc else ""
        SUITES.register(
            name,
            Suite(name, run, compare, description, tuple(keys)),
            options=options_from_signature(run, name),
            description=description,
        )
        return run

    return decorator


def list_suites() -> list[str]:
    """Registered suite names, in registration order (probes, longtail, corruption, transfer)."""
    return SUITES.names()


def get_suite(name: str) -> Suite:
    return SUITES.get(name)


def parse_suites(value: str | list[str] | None, source: str = "--suite") -> list[str]:
    """``"probes,longtail"`` or a list -> validated names (order kept, duplicates dropped)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    names = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        SUITES.get(item, source=source)
        if item not in names:
            names.append(item)
    if not names:
        raise SpecError(f"{source}: no suite given; allowed: {', '.join(list_suites())}")
    return names


def check_options(options: dict[str, dict[str, Any]], source: str) -> None:
    """Every ``{suite: {option: value}}`` names a registered suite and its options (a wrong
    key is named as ``suite.option``, the form of ``--option``)."""
    for suite, given in options.items():
        SUITES.get(suite, source=source)
        SUITES.validate_options(suite, given, source=source, prefix=f"{suite}.")
