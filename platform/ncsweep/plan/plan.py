"""A sweep resolved once: :class:`SweepPlan`, what the engine and the features read.

``sweep.resolve.resolve_plan(config)`` reads the preset, the families' search spaces and the
warm-start source once, validates every family's spec, and returns this frozen plan; the
runner, the Tune engine (``runtime/``) and the exports read the plan afterwards and never go
back to presets, spaces or YAML files. The type lives here, below the runtime; resolving it
needs the warm-start reader of the features layer (an earlier sweep's best trial in the
tracking store), so the function lives in ``sweep/resolve.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .objectives import Objective
from .spaces import SearchSpace
from .sweep_config import SweepConfig

__all__ = ["FamilyPlan", "SweepPlan", "freeze", "thaw"]


def freeze(data: Any) -> Any:
    """A read-only copy of nested YAML-like data: mappings become ``MappingProxyType``,
    lists become tuples (:func:`thaw` undoes it)."""
    if isinstance(data, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in data.items()})
    if isinstance(data, list | tuple):
        return tuple(freeze(v) for v in data)
    return data


def thaw(data: Any) -> Any:
    """A plain, mutable deep copy of :func:`freeze`'s result (dicts and lists)."""
    if isinstance(data, Mapping):
        return {k: thaw(v) for k, v in data.items()}
    if isinstance(data, tuple):
        return [thaw(v) for v in data]
    return data


@dataclass(frozen=True)
class FamilyPlan:
    """One loss family of a sweep, resolved.

    Attributes:
        family: the loss family (its search space's name).
        space: the family's search space with the preset's replacements.
        space_text: the text of the family's search-space file (logged with the sweep).
        base: the spec every trial starts from (preset spec + family base + ``--set``
            overrides + sweep resources + the objective's suite), read-only; a trial's spec
            is ``base`` with the sampled values set (:meth:`base_spec` for a mutable copy).
        resources: what a trial's Tune actor asks Ray for.
        in_trial: a trial trains in its Tune actor (one CPU worker) instead of Ray Train.
        keep_checkpoints: checkpoints each trial keeps (``run.keep_checkpoints``).
        max_evaluations: the most evaluations a trial makes (ASHA's ``max_t``).
        warm_point: ``{dotted key: value}`` Optuna tries first, or None.
    """

    family: str
    space: SearchSpace
    space_text: str
    base: Mapping[str, Any]
    resources: Mapping[str, float]
    in_trial: bool
    keep_checkpoints: int
    max_evaluations: int
    warm_point: Mapping[str, Any] | None = None

    def base_spec(self) -> dict[str, Any]:
        """``base`` as a plain nested dict (a copy: what a trial's spec is built on)."""
        return thaw(self.base)


@dataclass(frozen=True)
class SweepPlan:
    """A sweep's settings, objective and families, resolved and validated before Ray starts.

    Attributes:
        config: the settings (``SweepConfig``, frozen): which sweep and how it runs.
        objective: the resolved objective (metrics, directions, suite).
        tracking_uri: the tracking store, resolved (``config.tracking_uri`` as given).
        families: ``{family: FamilyPlan}`` in the order the sweep runs them.
        notes: what resolving noticed and a person should read (a warm-start value outside
            its space, a grace period longer than a trial).
    """

    config: SweepConfig
    objective: Objective
    tracking_uri: str
    families: Mapping[str, FamilyPlan]
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def warm_points(self) -> dict[str, Mapping[str, Any]]:
        """``{family: point}`` for the families with a warm-start point."""
        return {f: p.warm_point for f, p in self.families.items() if p.warm_point is not None}
