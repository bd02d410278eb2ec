"""A sweep's settings: one model with the defaults, one order of precedence.

Every setting is a field of :class:`SweepSettings` (how a sweep runs; a preset's ``sweep:``
section may set these) or of :class:`SweepConfig` (those plus which sweep: name, preset,
families, storage, tracking, search-space folder, ``--set`` overrides). A value comes from,
first to last:

1. the field's default (``settings.py`` for how it runs, below for which sweep),
2. the preset's ``sweep:`` section (``search_spaces/presets/<preset>.yaml``),
3. the arguments given: CLI flags (``ncsweep sweep --trials 8``) or Python keywords
   (``SweepConfig(preset="cifar10", trials=8)``); ``None`` means "not given".

``SweepConfig(...)`` itself applies that order, so the CLI (which passes the flags it was
given) and the Python API resolve identically. A saved sweep (``sweep.yaml``) holds every
field, so a resumed sweep does not depend on the preset file any more.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..defaults import DEFAULT_STORAGE, DEFAULT_TRACKING_URI, STORAGE_ENV, TRACKING_URI_ENV
from .names import check_name, check_storage, check_tracking_uri, check_warm_start
from .settings import Flag, SweepSettings, flag_of

__all__ = ["SAVED", "SweepConfig", "SweepSettings", "sweep_config"]

SAVED = "saved"
"""Validation context key: ``{SAVED: True}`` validates a saved sweep's settings (its
families were checked against the loss registry when it started)."""


class SweepConfig(SweepSettings):
    """Everything one sweep needs; saved as ``<storage>/<name>/sweep.yaml``.

    Construct it with the settings you want to change: the others come from the preset's
    ``sweep:`` section, then from the defaults (module docstring).
    """

    name: Annotated[str, Flag("output")] = Field(
        description="Sweep name (MLflow experiment; default <preset>-<time>)."
    )
    preset: Annotated[str, Flag("search")] = Field(
        "digits", description="Preset name or a YAML path."
    )
    families: Annotated[list[str], Flag("search")] = Field(
        default_factory=list,
        description="Comma-separated loss families (default: every search space).",
    )
    spaces_root: Annotated[str | None, Flag("search", name="--spaces")] = Field(
        None, description="Search-space folder (default: the shipped search_spaces/)."
    )
    warm_start: Annotated[str | None, Flag("search")] = Field(
        None,
        description="Try the best config per family of an earlier sweep first: a folder of "
        "exported configs (best_configs/) or the sweep's name in the MLflow store.",
    )
    overrides: Annotated[list[str], Flag("run", name="--set")] = Field(
        default_factory=list,
        description="Override a spec key, e.g. --set loss.temperature=0.2 (repeatable).",
    )
    resources_per_worker: Annotated[dict[str, float], Flag("run")] = Field(
        default_factory=dict,
        description="Custom Ray resources each Train worker asks for, as JSON, e.g. "
        "'{\"worker_node\": 0.01}' to place trials on nodes started with that resource.",
    )
    storage: Annotated[str, Flag("cluster")] = Field(
        description=f"Ray results: a local dir or s3://bucket/prefix (default: {STORAGE_ENV}, "
        f"else ./{DEFAULT_STORAGE})."
    )
    shared_storage: Annotated[bool, Flag("cluster")] = Field(
        False,
        description="The local --storage path is a filesystem mounted at the same path on "
        "every node (NFS, EFS); without it a multi-node cluster needs --storage s3://...",
    )
    tracking_uri: Annotated[str, Flag("cluster")] = Field(
        description=f"MLflow tracking URI (default: {TRACKING_URI_ENV}, else "
        f"MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})."
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        given = {k: v for k, v in data.items() if v is not None}
        given["preset"] = str(given.get("preset", "digits"))
        root = given.get("spaces_root")
        # a saved sweep stores every setting, unset ones as null: its preset is read (which
        # imports the loss registry, torch) only for a setting its file lacks
        stored = data if info.context and info.context.get(SAVED) else given
        if any(k not in stored for k in SweepSettings.model_fields) or not given.get("families"):
            from .presets import load_preset  # imports the loss registry (torch)
            from .spaces import list_families

            preset = load_preset(given["preset"], root)
            given = {**preset.sweep.model_dump(exclude_unset=True), **given}
            given["families"] = given.get("families") or list_families(root)
        if "name" not in given:
            stem = Path(given["preset"]).stem
            given["name"] = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        if "storage" not in given:
            from ..defaults import default_storage

            given["storage"] = default_storage(None)
        if "tracking_uri" not in given:
            from ..tracking import resolve_tracking_uri

            given["tracking_uri"] = resolve_tracking_uri(None)
        return given

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("storage")
    @classmethod
    def _storage_scheme(cls, value: str) -> str:
        return check_storage(value)

    @field_validator("tracking_uri")
    @classmethod
    def _tracking_scheme(cls, value: str) -> str:
        return check_tracking_uri(value)

    @field_validator("warm_start")
    @classmethod
    def _warm_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        # a resumed sweep's studies hold the warm points already: its source may be gone
        if value is None or (info.context and info.context.get(SAVED)):
            return value
        return check_warm_start(value)

    @model_validator(mode="after")
    def _known_families(self, info: ValidationInfo) -> SweepConfig:
        if info.context and info.context.get(SAVED):
            # checked when the sweep started; reading its state back (status, export,
            # report) must not import the loss registry (torch): a family gone since then
            # fails when its space is loaded (spaces.load_space), by name
            return self
        from .spaces import list_families  # imports the loss registry (torch)

        available = list_families(self.spaces_root)
        unknown = [f for f in self.families if f not in available]
        if unknown or not self.families:
            raise ValueError(
                f"families: unknown {unknown or '(none given)'}; allowed (a search space "
                f"each): {', '.join(available)}"
            )
        return self

    @model_validator(mode="after")
    def _constraints_name_swept_families(self) -> SweepConfig:
        from .constraints import OWN_FAMILY

        for c in self.constraints:
            if c.family not in (None, OWN_FAMILY, *self.families):
                raise ValueError(
                    f"constraint (--constraint): {c.text!r} is relative to family {c.family}, "
                    f"which this sweep does not search (families, --families); allowed: "
                    f"{', '.join([OWN_FAMILY, *self.families])} or a number"
                )
        return self

    def settings(self) -> SweepSettings:
        """The how-it-runs part (what a preset's ``sweep:`` section sets)."""
        return SweepSettings(**{k: getattr(self, k) for k in SweepSettings.model_fields})


def sweep_config(**given: Any) -> SweepConfig:
    """``SweepConfig(**given)`` with a mistake raised as a SpecError (exit code 2) that
    names each key, what was wrong and what was given; what the CLI calls."""
    from pydantic import ValidationError

    from ..config import SpecError
    from .presets import load_preset

    load_preset(given.get("preset") or "digits", given.get("spaces_root"))  # its own errors
    source = f"sweep settings (preset {given.get('preset') or 'digits'} + arguments)"
    try:
        return SweepConfig(**given)
    except ValidationError as err:
        lines = [f"{source}: invalid"]
        for item in err.errors():
            key = ".".join(str(p) for p in item["loc"])
            field = SweepConfig.model_fields.get(key)
            flag = flag_of(field) if field is not None else None
            if flag is not None:  # the user typed the flag: name it too
                key = f"{key} ({flag.flag(key)})"
            msg = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                msg = f"unknown setting; allowed: {', '.join(SweepConfig.model_fields)}"
            # a check across settings (loc empty) names its key in its message
            lines.append(f"  - {key}: {msg} (got {item.get('input')!r})" if key else f"  - {msg}")
        raise SpecError("\n".join(lines)) from None
