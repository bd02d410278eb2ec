"""Presets: a base spec, sweep defaults and distribution replacements for one setting.

``search_spaces/presets/<name>.yaml``::

    preset: digits
    description: CPU default
    spec:                      # base ExperimentSpec (nested), under each family's base
      data: {name: digits}
      model: {name: mlp}
      run: {epochs: 12, batch_size: 128}
    sweep:                     # sweep settings (plan/sweep_config.py); flags/arguments win
      trials: 4
      scheduler: asha
    space:                     # per family, or "all": {dotted key: distribution}
      all:
        run.batch_size: {type: categorical, choices: [64, 128]}

Resources: ``sweep.workers_per_trial`` Ray Train workers per trial, each with
``cpus_per_worker`` CPUs; ``gpus_per_trial`` GPUs for the whole trial, split evenly over
its workers. :attr:`Preset.spec` carries them as ``run.workers``, ``run.cpus_per_worker``
and ``run.gpus_per_worker`` (a preset that also sets them in ``spec.run`` must agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ncsweep.config import SpecError, deep_merge, read_yaml, spec_from_dict
from ncsweep.losses import list_losses
from ncsweep.plan.settings import SweepSettings
from ncsweep.plan.spaces import (
    SearchSpace,
    list_families,
    load_space,
    parse_distribution,
    read_checked,
    search_spaces_dir,
)

__all__ = ["Preset", "list_presets", "load_preset"]

_FILE_KEYS = ("preset", "description", "spec", "sweep", "space")


def _sweep_settings(raw: Any, source: str) -> SweepSettings:
    """The ``sweep:`` section; only the keys it sets count as set (``model_fields_set``)."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: sweep must be a mapping, got {raw!r}")
    try:
        return SweepSettings(**raw)
    except ValidationError as err:
        lines = [f"{source}: invalid sweep settings"]
        for item in err.errors():
            key = "sweep." + ".".join(str(p) for p in item["loc"])
            if item["type"] == "extra_forbidden":
                lines.append(
                    f"  - unknown key '{key}'; allowed: {', '.join(SweepSettings.model_fields)}"
                )
            else:
                msg = item["msg"].removeprefix("Value error, ")
                lines.append(f"  - {key}: {msg} (got {item.get('input')!r})")
        raise SpecError("\n".join(lines)) from None


@dataclass
class Preset:
    """A named setting: base spec, sweep settings, replacements of distributions.

    Attributes:
        spec: nested ExperimentSpec dict, with the run resources of ``sweep`` filled in.
        space: ``{"all" or family: {dotted key: distribution}}``; ``all`` applies to every
            family whose space has the key, a family's own entry then overrides it.
    """

    name: str
    description: str
    spec: dict[str, Any]
    sweep: SweepSettings
    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "<preset>"
    root: Path | None = None

    def replacements(self, family: str) -> dict[str, Any]:
        """``{key: distribution}`` for ``family``: ``all`` first, then the family's own."""
        known = set(_space_keys(family, self.root))
        out = {k: v for k, v in (self.space.get("all") or {}).items() if k in known}
        out.update(self.space.get(family) or {})
        return out

    def space_for(self, family: str) -> SearchSpace:
        """``family``'s search space with this preset's replacements, validated on its spec."""
        return load_space(
            family,
            self.root,
            replace=self.replacements(family),
            preset_spec=self.spec,
            replace_source=f"{self.source} space",
        )

    def with_sweep(self, **changes: Any) -> Preset:
        """A copy with sweep settings changed (``None``: unchanged); run resources follow."""
        given = {k: v for k, v in changes.items() if v is not None}
        sweep = _sweep_settings(
            {**self.sweep.model_dump(exclude_unset=True), **given},
            f"{self.source} with command-line overrides",
        )
        spec = deep_merge(self.spec, {"run": sweep.run_resources()})
        spec_from_dict(
            deep_merge(spec, {"loss": {"name": "ce"}}),
            f"{self.source} with command-line overrides",
        )
        return Preset(self.name, self.description, spec, sweep, self.space, self.source, self.root)


def _space_keys(family: str, root: Path | None) -> list[str]:
    """Parameter names in a family file, read without validating it (empty if absent)."""
    path = (root or search_spaces_dir()) / f"{family}.yaml"
    if not path.is_file():
        return []
    space = read_yaml(path).get("space")
    return [str(k) for k in space] if isinstance(space, dict) else []


def list_presets(root: str | Path | None = None) -> list[str]:
    """Preset names in ``root/presets`` (default :func:`search_spaces_dir`), sorted."""
    root = Path(root) if root is not None else search_spaces_dir()
    return sorted(p.stem for p in (root / "presets").glob("*.yaml"))


def load_preset(name: str | Path, root: str | Path | None = None) -> Preset:
    """Read and validate ``root/presets/<name>.yaml`` (or ``name`` itself if it is a YAML path).

    Raises:
        SpecError: unknown preset (listing the available ones), unknown keys, an unknown
            dataset or model, bad sweep settings, a spec that does not build, a replacement
            for a parameter no family has; each names the file and the key.
    """
    root = Path(root) if root is not None else search_spaces_dir()
    if not root.is_dir():
        raise SpecError(
            f"--spaces {root}: not a directory; expected a folder holding <family>.yaml files "
            "and presets/ (like the shipped search_spaces/)"
        )
    text = str(name)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text).expanduser()
    else:
        path = root / "presets" / f"{text}.yaml"
        if not path.is_file():
            raise SpecError(
                f"unknown preset '{text}'; available in {root / 'presets'}: "
                f"{', '.join(list_presets(root)) or 'none'} "
                "(or give the path of a preset YAML file)"
            )
    source = str(path)
    data = read_checked(path, _FILE_KEYS)
    preset_name = data.get("preset") or path.stem
    description = data.get("description") or ""
    if not isinstance(preset_name, str) or not isinstance(description, str):
        raise SpecError(f"{source}: preset and description must be strings")

    sweep = _sweep_settings(data.get("sweep") or {}, source)
    spec = data.get("spec") or {}
    if not isinstance(spec, dict):
        raise SpecError(f"{source}: spec must be a nested mapping of spec sections, got {spec!r}")
    if isinstance(spec.get("loss"), dict) and "name" in spec["loss"]:
        raise SpecError(
            f"{source}: spec.loss.name is set by each family's search space; "
            "remove it from the preset"
        )
    spec = _with_resources(spec, sweep, source)
    _check_registries(spec, source)
    spec_from_dict(deep_merge(spec, {"loss": {"name": "ce"}}), f"{source} (spec)")

    space = data.get("space") or {}
    if not isinstance(space, dict):
        raise SpecError(f"{source}: space must map 'all' or a family to replacements")
    families = list_families(root)  # imports families defined outside ncsweep.losses
    for group, entries in space.items():
        if group != "all" and group not in list_losses():
            raise SpecError(
                f"{source}: space.{group}: not a family; allowed: all, {', '.join(list_losses())}"
            )
        if not isinstance(entries, dict):
            raise SpecError(f"{source}: space.{group} must map parameters to distributions")
        known = (
            {k for f in families for k in _space_keys(f, root)}
            if group == "all"
            else set(_space_keys(group, root))
        )
        for key, dist in entries.items():
            parse_distribution(str(key), dist, f"{source} space.{group}")
            if key not in known:
                where = "any family's" if group == "all" else f"the {group}"
                raise SpecError(
                    f"{source}: space.{group}.{key}: not a parameter of {where} "
                    f"search space; known: {', '.join(sorted(known)) or 'none'}"
                )
    return Preset(preset_name, description.strip(), spec, sweep, space, source, root)


def _with_resources(spec: dict[str, Any], sweep: SweepSettings, source: str) -> dict[str, Any]:
    raw_run = spec.get("run")
    run = raw_run if isinstance(raw_run, dict) else {}
    implied = sweep.run_resources()
    for key, value in implied.items():
        if key in run and run[key] != value:
            raise SpecError(
                f"{source}: spec.run.{key}={run[key]!r} disagrees with the sweep "
                f"settings, which imply {value!r}; set it in the sweep section only"
            )
    return deep_merge(spec, {"run": implied})


def _check_registries(spec: dict[str, Any], source: str) -> None:
    from ncsweep.data import DATASETS
    from ncsweep.models import MODELS

    for section, registry in (("data", DATASETS), ("model", MODELS)):
        node = spec.get(section)
        name = node.get("name") if isinstance(node, dict) else None
        if name is not None:
            registry.get(name, source=f"{source}: spec.{section}.name", error=SpecError)
