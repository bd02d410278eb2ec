"""Warm start: a new sweep tries the best configs of an earlier one first.

``--warm-start SOURCE`` is a folder of exported configs (``<family>.yaml``, what
``ncsweep export`` and the end of a sweep write) or the name of an earlier sweep in the same
MLflow store (its best trial per family by that sweep's objective). For each family, the
values of the family's searched keys in that config become one point that Optuna evaluates
before TPE samples (``OptunaSearch(points_to_evaluate=...)``, i.e. ``enqueue_trial``).

Only what the search space searches is taken; a value outside the space's range is left
out (TPE samples that key) and said. Switches (keys without a dot, which only gate other
keys) are not in a spec: Optuna samples them, and the gated keys keep the warm values
when their switch is on. A resumed sweep restores its study, which already holds the point.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import SpecError, read_yaml
from ..plan.spaces import Param, SearchSpace

__all__ = ["best_specs", "warm_point"]


def best_specs(source: str, families: list[str], uri: str) -> dict[str, dict[str, Any]]:
    """``{family: spec}`` of ``source`` (module docstring) for the families it has.

    Raises:
        SpecError: ``source`` is neither a folder nor a sweep at ``uri``, or it has a config
            for none of ``families``.
    """
    folder = Path(source)
    if folder.is_dir():
        files = {f: folder / f"{f}.yaml" for f in families}
        found = {f: _exported(path, f) for f, path in files.items() if path.is_file()}
    else:
        found = _from_sweep(source, families, uri)
    if not found:
        raise SpecError(
            f"--warm-start {source}: no config for any of {', '.join(families)} (looked for "
            f"the folder {folder.resolve()} with <family>.yaml files, and for a sweep named "
            f"{source!r} in the MLflow store)"
        )
    return found


def _exported(path: Path, family: str) -> dict[str, Any]:
    """The exported config at ``path``; a file that is not one (no ``loss.name``, or
    another family's) is a SpecError, not a silent cold start."""
    data = read_yaml(path)
    loss = data.get("loss")
    if not isinstance(loss, dict) or loss.get("name") != family:
        found = loss.get("name") if isinstance(loss, dict) else None
        raise SpecError(
            f"--warm-start {path}: not an exported {family} config (its loss.name is "
            f"{found!r}, expected {family!r}); use the files ncsweep export writes"
        )
    return data


def _from_sweep(name: str, families: list[str], uri: str) -> dict[str, dict[str, Any]]:
    from .export import trial_spec
    from .leaderboard import best_per_family, collect_rows, sweep_objective

    try:
        objective = sweep_objective(uri, name)
    except SpecError:  # no such sweep in this store
        return {}
    best = best_per_family(collect_rows(uri, name, objective=objective), objective)
    return {f: trial_spec(uri, best[f].run_id) for f in families if f in best}


def _value_at(spec: dict[str, Any], key: str) -> Any:
    node: Any = spec
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _inside(param: Param, value: Any) -> bool:
    if param.type == "categorical":
        return value in (param.choices or ())
    if param.type in ("uniform", "loguniform", "int"):
        low, high = param.bounds()
        return isinstance(value, int | float) and low <= value <= high
    return True


def warm_point(
    space: SearchSpace, spec: dict[str, Any], say: Callable[[str], None] = print
) -> dict[str, Any]:
    """The values ``spec`` has for the keys ``space`` searches (``{dotted key: value}``)."""
    point = {}
    for param in space.params:
        if param.is_switch or param.type == "fixed":
            continue
        value = _value_at(spec, param.key)
        if value is None:
            continue
        if not _inside(param, value):
            say(f"warm start, {space.family}: {param.key}={value!r} is outside the space; sampled")
            continue
        point[param.key] = value
    return point
