"""Search spaces: one YAML file per loss family, sampled by Optuna (define-by-run) or by hand.

A family file (``search_spaces/<family>.yaml``) names the family, the spec keys every trial
of that family gets (``base``) and the distributions to search (``space``)::

    family: nonl
    description: one line
    base:
      loss: {name: nonl}
    space:
      loss.temperature: {type: loguniform, low: 0.05, high: 0.5}
      use_memory: {type: categorical, choices: [false, true]}
      loss.memory: {type: int, low: 128, high: 2048, log: true, when: {use_memory: true}}

A family is a registered loss (``ncsweep.losses.list_losses``; a file whose
``base.loss.module`` names the module of a family defined outside the package imports it
first), and a loss option must be one its ``LossInfo`` declares.

A key with a dot is an :class:`~ncsweep.config.ExperimentSpec` key; a key without one is a
*switch*: sampled like any parameter but only used as a condition (``when``), never put into
the spec. Parameters are sampled in file order and a ``when`` may only name a parameter above
it, so the same order works for Optuna's define-by-run and for :meth:`SearchSpace.sample`.

Distributions: ``uniform`` (low, high), ``loguniform`` (low, high), ``int`` (low, high,
optional ``log``, optional ``step``), ``categorical`` (choices), ``fixed`` (value). Every
mistake is a :class:`~ncsweep.config.SpecError` naming the file, the key and what is allowed;
a file is also checked by building an ExperimentSpec from every value its parameters can
take at their ends (low, high, each choice), so a key the spec lacks, or a loss option the
family does not take, fails before Ray starts.
"""

from __future__ import annotations

import importlib
import math
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from dataclasses import replace as _with_fields
from pathlib import Path
from typing import Any

from ncsweep._shipped import shipped_dir
from ncsweep.config import SpecError, apply_overrides, deep_merge, read_yaml, spec_from_dict

__all__ = [
    "DISTRIBUTIONS",
    "SEARCH_SPACES_DIR",
    "Param",
    "SearchSpace",
    "list_families",
    "load_space",
    "parse_distribution",
    "search_spaces_dir",
]

# The fields each distribution type takes (besides ``type`` and ``when``) and which of them
# are required.
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "uniform": (("low", "high"), ("low", "high")),
    "loguniform": (("low", "high"), ("low", "high")),
    "int": (("low", "high", "log", "step"), ("low", "high")),
    "categorical": (("choices",), ("choices",)),
    "fixed": (("value",), ("value",)),
}

_FILE_KEYS = ("family", "description", "base", "space")
_SCALAR = (bool, int, float, str, type(None))


def search_spaces_dir() -> Path:
    """``$NCSWEEP_SEARCH_SPACES``, else the copy a regular install ships inside the package,
    else ``<repo>/search_spaces`` (a checkout or an editable install), else
    ``./search_spaces`` (:func:`ncsweep._shipped.shipped_dir`). Read at each call, so a
    changed environment takes effect."""
    env = os.environ.get("NCSWEEP_SEARCH_SPACES")
    return Path(env).expanduser() if env else shipped_dir("search_spaces")


#: Where family files and ``presets/`` are looked for (resolved at import; the loaders
#: resolve again on each call with ``root=None``).
SEARCH_SPACES_DIR: Path = search_spaces_dir()


@dataclass(frozen=True)
class Param:
    """One searched parameter.

    Attributes:
        key: dotted ExperimentSpec key (``loss.temperature``) or a switch (no dot).
        type: one of :data:`DISTRIBUTIONS`.
        when: ``{earlier parameter: allowed values}``; the parameter exists only when each
            named parameter exists and took one of its allowed values.
    """

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: int | None = None
    choices: tuple[Any, ...] | None = None
    value: Any = None
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def is_switch(self) -> bool:
        """A condition only: sampled, never put into the spec."""
        return "." not in self.key

    def active(self, sampled: dict[str, Any]) -> bool:
        """Whether ``when`` holds for the values sampled so far (switches included)."""
        return all(
            name in sampled and any(_same(sampled[name], v) for v in allowed)
            for name, allowed in self.when.items()
        )

    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a ``uniform``, ``loguniform`` or ``int`` parameter."""
        if self.low is None or self.high is None:  # DISTRIBUTIONS requires both
            raise ValueError(f"{self.key}: a {self.type} parameter needs low and high")
        return self.low, self.high

    def extremes(self) -> list[Any]:
        """The values validation builds a spec from: both ends, every choice, the value."""
        if self.type == "categorical":
            return list(self.choices or ())
        if self.type == "fixed":
            return [self.value]
        return [self.low, self.high]

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial (``Trial``, ``FixedTrial``) for this parameter's value."""
        if self.type == "uniform":
            return trial.suggest_float(self.key, self.low, self.high)
        if self.type == "loguniform":
            return trial.suggest_float(self.key, self.low, self.high, log=True)
        if self.type == "int":
            return trial.suggest_int(
                self.key, self.low, self.high, step=self.step or 1, log=self.log
            )
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices or ()))
        return self.value

    def draw(self, rng: random.Random) -> Any:
        """The same distribution sampled with ``rng`` (no Optuna)."""
        if self.type in ("uniform", "loguniform", "int"):
            low, high = self.bounds()
        if self.type == "uniform":
            return rng.uniform(low, high)
        if self.type == "loguniform":
            return math.exp(rng.uniform(math.log(low), math.log(high)))
        if self.type == "int":
            step = self.step or 1
            if self.log:
                raw = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
                return min(int(raw), int(high))
            return rng.randrange(int(low), int(high) + 1, step)
        if self.type == "categorical":
            return rng.choice(self.choices or ())
        return self.value


@dataclass(frozen=True)
class SearchSpace:
    """A loss family's spec base and its parameters, in sampling order."""

    family: str
    description: str
    base: dict[str, Any]
    params: tuple[Param, ...]
    source: str

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Optuna define-by-run: ``{dotted spec key: value}``, switches left out.

        Calls ``trial.suggest_*`` in file order and skips a parameter whose ``when`` fails,
        so a conditional parameter is only seen by Optuna when its switch is on.
        """
        return self._run(lambda p: p.suggest(trial))

    def sample(self, rng: random.Random) -> dict[str, Any]:
        """The same as :meth:`suggest` without Optuna; deterministic for a seeded ``rng``."""
        return self._run(lambda p: p.draw(rng))

    def _run(self, pick) -> dict[str, Any]:
        sampled: dict[str, Any] = {}
        for param in self.params:
            if param.active(sampled):
                sampled[param.key] = pick(param)
        return {k: v for k, v in sampled.items() if "." in k}

    def spec_dict(
        self, preset_spec: dict[str, Any] | None, values: dict[str, Any]
    ) -> dict[str, Any]:
        """Nested spec: ``preset_spec``, then the family ``base``, then the sampled values.

        Switches (keys without a dot) in ``values`` are ignored. The result is ready for
        :func:`~ncsweep.config.spec_from_dict`.
        """
        merged = deep_merge(preset_spec or {}, self.base)
        return apply_overrides(merged, [(k, v) for k, v in values.items() if "." in k])

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    def validate(
        self, preset_spec: dict[str, Any] | None = None, source: str | None = None
    ) -> None:
        """Build a spec from every end of every parameter; a SpecError names the file.

        Each parameter is moved through its extremes while the others stay at their first
        one (``when`` is ignored here: every key must be valid when its switch is on).
        """
        where = source or self.source
        first = {p.key: p.extremes()[0] for p in self.params}
        probes: list[tuple[str, dict[str, Any]]] = [("", first)]
        for param in self.params:
            for value in param.extremes()[1:]:
                probes.append((f" with {param.key}={value!r}", {**first, param.key: value}))
        for label, values in probes:
            try:
                spec_from_dict(self.spec_dict(preset_spec, values), f"{where}{label}")
            except SpecError as err:
                raise SpecError(
                    f"{err}\n  (spec = preset spec + base + space of {where})"
                ) from None


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1`` (YAML switches are often booleans)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def parse_distribution(key: str, raw: Any, source: str) -> Param:
    """Validate one ``key: {type: ..., ...}`` entry into a :class:`Param`."""
    where = f"{source}: {key}"
    if (
        not isinstance(key, str)
        or not key
        or key.startswith(".")
        or key.endswith(".")
        or ".." in key
    ):
        raise SpecError(
            f"{source}: parameter name {key!r} is not a dotted spec key or a switch name"
        )
    if not isinstance(raw, dict):
        raise SpecError(
            f"{where}: expected a mapping like {{type: uniform, low: 0.1, high: 1.0}}, got {raw!r}"
        )
    kind = raw.get("type")
    if kind not in DISTRIBUTIONS:
        raise SpecError(
            f"{where}: unknown distribution type {kind!r}; allowed: {', '.join(DISTRIBUTIONS)}"
        )
    fields, required = DISTRIBUTIONS[kind]
    unknown = sorted(set(raw) - set(fields) - {"type", "when"})
    if unknown:
        raise SpecError(
            f"{where}: unknown field(s) {', '.join(map(str, unknown))} for type "
            f"{kind}; allowed: type, {', '.join(fields)}, when"
        )
    missing = [f for f in required if f not in raw]
    if missing:
        raise SpecError(f"{where}: type {kind} needs {', '.join(missing)}")
    when = _parse_when(raw.get("when"), where)
    if kind == "categorical":
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpecError(f"{where}: choices must be a non-empty list, got {choices!r}")
        bad = [c for c in choices if not isinstance(c, _SCALAR)]
        if bad:
            raise SpecError(
                f"{where}: choices must be scalars (number, string, bool, null) "
                f"as Optuna requires; got {bad[0]!r}"
            )
        return Param(key, kind, choices=tuple(choices), when=when)
    if kind == "fixed":
        return Param(key, kind, value=raw["value"], when=when)
    low, high = raw["low"], raw["high"]
    log = raw.get("log", kind == "loguniform")
    step = raw.get("step")
    if kind == "int":
        for name, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise SpecError(f"{where}: {name} must be an integer for type int, got {v!r}")
        if not isinstance(log, bool):
            raise SpecError(f"{where}: log must be true or false, got {log!r}")
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, int) or step < 1:
                raise SpecError(f"{where}: step must be an integer >= 1, got {step!r}")
            if log and step != 1:
                raise SpecError(
                    f"{where}: step {step} cannot be combined with log: true "
                    "(Optuna allows log only with step 1)"
                )
            if (high - low) % step:
                raise SpecError(
                    f"{where}: high - low ({high} - {low}) must be a multiple of step {step}"
                )
    else:
        for name, v in (("low", low), ("high", high)):
            if not _number(v):
                raise SpecError(f"{where}: {name} must be a number, got {v!r}")
        low, high = float(low), float(high)
    if low >= high:
        raise SpecError(
            f"{where}: low ({low}) must be < high ({high}); "
            "use {type: fixed, value: ...} for a constant"
        )
    if log and low <= 0:
        raise SpecError(f"{where}: a log scale needs low > 0, got low={low}")
    return Param(key, kind, low=low, high=high, log=bool(log), step=step, when=when)


def _parse_when(raw: Any, where: str) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise SpecError(
            f"{where}: when must be a mapping {{parameter: value or [values]}}, got {raw!r}"
        )
    out = {}
    for name, allowed in raw.items():
        values = tuple(allowed) if isinstance(allowed, list) else (allowed,)
        if not values:
            raise SpecError(f"{where}: when.{name} lists no values")
        out[str(name)] = values
    return out


def _check_when(params: list[Param], source: str, check_values: bool) -> None:
    """A ``when`` names a parameter defined above it, with values that parameter can take."""
    seen: dict[str, Param] = {}
    keys = [p.key for p in params]
    for param in params:
        for name, allowed in param.when.items():
            if name not in seen:
                rule = (
                    "is defined below it; a when may only name a parameter above it"
                    if name in keys
                    else "is not a parameter of this space"
                )
                raise SpecError(
                    f"{source}: {param.key}: when refers to '{name}', which {rule}; "
                    f"parameters above it: {', '.join(seen) or 'none'}"
                )
            ref = seen[name]
            if check_values and ref.type in ("categorical", "fixed"):
                possible = ref.extremes()
                bad = [v for v in allowed if not any(_same(v, c) for c in possible)]
                if bad:
                    raise SpecError(
                        f"{source}: {param.key}: when.{name}={bad[0]!r} is not a "
                        f"value {name} can take; allowed: {possible}"
                    )
        seen[param.key] = param


def read_checked(path: Path, allowed: tuple[str, ...]) -> dict[str, Any]:
    """``read_yaml`` a space or preset file whose top-level keys must be in ``allowed``."""
    data = read_yaml(path)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SpecError(
            f"{path}: unknown top-level key(s) {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(allowed)}"
        )
    return data


def _family_module(data: dict[str, Any], source: str) -> None:
    """Import ``base.loss.module`` (a family defined outside ``ncsweep.losses``)."""
    raw_base = data.get("base")
    base = raw_base if isinstance(raw_base, dict) else {}
    raw_loss = base.get("loss")
    loss = raw_loss if isinstance(raw_loss, dict) else {}
    module = loss.get("module")
    if module is None:
        return
    try:
        importlib.import_module(str(module))
    except ImportError as err:
        raise SpecError(
            f"{source}: base.loss.module {module!r} cannot be imported: {err}"
        ) from None


def list_families(root: str | Path | None = None) -> list[str]:
    """Loss families with a file in ``root`` (default :func:`search_spaces_dir`), sorted.

    A family is a registered loss (``ncsweep.losses.list_losses``); a file whose
    ``base.loss.module`` registers one is imported first.
    """
    from ncsweep.losses import list_losses  # the loss registry imports torch

    root = Path(root) if root is not None else search_spaces_dir()
    paths = sorted(root.glob("*.yaml"))
    for path in paths:
        if path.stem not in list_losses():
            _family_module(read_yaml(path), str(path))
    return [p.stem for p in paths if p.stem in list_losses()]


def _family_path(family: str, root: Path) -> Path:
    from ncsweep.losses import list_losses  # the loss registry imports torch

    path = root / f"{family}.yaml"
    if path.is_file() and family not in list_losses():
        _family_module(read_yaml(path), str(path))
    if family not in list_losses() or not path.is_file():
        available = list_families(root)
        why = "is not a loss family" if family not in list_losses() else f"has no file {path}"
        raise SpecError(
            f"search space '{family}' {why}; available in {root}: "
            f"{', '.join(available) or 'none'} (loss families: {', '.join(list_losses())})"
        )
    return path


def load_space(
    family: str,
    root: str | Path | None = None,
    replace: dict[str, dict[str, Any]] | None = None,
    preset_spec: dict[str, Any] | None = None,
    replace_source: str = "<replace>",
) -> SearchSpace:
    """Read, validate and return ``root/<family>.yaml``.

    Args:
        family: a registered loss family with a file in ``root``.
        root: directory of family files (default :func:`search_spaces_dir`).
        replace: ``{dotted key: distribution}`` replacing the distribution of parameters the
            file already has (keeping their place and, unless given, their ``when``); a key
            the file lacks is an error.
        preset_spec: the nested spec the space is validated on top of (a preset's ``spec``).
        replace_source: where ``replace`` came from, for error messages.

    Raises:
        SpecError: naming the file, the key and what is allowed.
    """
    from ncsweep.losses import LOSSES  # the loss registry imports torch

    root = Path(root) if root is not None else search_spaces_dir()
    path = _family_path(family, root)
    source = str(path)
    data = read_checked(path, _FILE_KEYS)
    declared: Any = data.get("family")  # YAML: checked by the registry
    LOSSES.get(declared, source=f"{source}: family", error=SpecError)
    if declared != family:
        raise SpecError(f"{source}: family '{declared}' does not match the file name '{family}'")
    base = data.get("base") or {}
    if not isinstance(base, dict):
        raise SpecError(f"{source}: base must be a nested mapping of spec sections, got {base!r}")
    raw_loss = base.get("loss")
    loss = raw_loss if isinstance(raw_loss, dict) else {}
    if loss.get("name") != family:
        raise SpecError(
            f"{source}: base.loss.name must be the family '{family}', got {loss.get('name')!r}"
        )
    raw_space = data.get("space") or {}
    if not isinstance(raw_space, dict):
        raise SpecError(f"{source}: space must be a mapping of parameter -> distribution")
    params = [parse_distribution(str(k), v, source) for k, v in raw_space.items()]
    _check_loss_options(params, family, source)
    _check_when(params, source, check_values=True)
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SpecError(f"{source}: description must be a string")

    if replace:
        params = _replace(params, replace, f"{replace_source} (replacing in {source})")
        source = f"{source} with replacements from {replace_source}"
        _check_loss_options(params, family, source)
        _check_when(params, source, check_values=False)

    space = SearchSpace(family, description.strip(), base, tuple(params), str(path))
    space.validate(preset_spec, source)
    return space


def _check_loss_options(params: Iterable[Param], family: str, source: str) -> None:
    from ncsweep.losses import loss_info  # the loss registry imports torch

    # The spec only rejects a foreign loss option when it differs from the default, so check
    # the names here too: a sweep over an option the family ignores wastes every trial.
    allowed = loss_info(family).option_names
    for param in params:
        section, _, option = param.key.partition(".")
        if section == "loss" and option not in allowed:
            raise SpecError(
                f"{source}: {param.key}: loss '{family}' does not take "
                f"'{option}'; searchable loss options: "
                f"{', '.join('loss.' + o for o in allowed) or 'none'}"
            )


def _replace(params: list[Param], replace: dict[str, Any], source: str) -> list[Param]:
    if not isinstance(replace, dict):
        raise SpecError(f"{source}: expected a mapping of parameter -> distribution")
    by_key = {p.key: p for p in params}
    unknown = [k for k in replace if k not in by_key]
    if unknown:
        raise SpecError(
            f"{source}: {unknown[0]} is not a parameter of this space; "
            f"replaceable: {', '.join(by_key)}"
        )
    out = []
    for param in params:
        if param.key in replace:
            new = parse_distribution(param.key, replace[param.key], source)
            if "when" not in replace[param.key]:
                new = _with_fields(new, when=param.when)
            out.append(new)
        else:
            out.append(param)
    return out
