"""Command-line options built from the sweep settings' declarations.

A sweep setting is declared once, as a field of ``SweepSettings`` or ``SweepConfig``
(``plan/settings.py``, ``plan/sweep_config.py``): type, bounds, default, help (the field's
description) and a :class:`~ncsweep.plan.settings.Flag` (``--help`` panel, flag name, short
option). :func:`with_settings` gives a command one typer option per named field; only a
flag that reads something other than the field's type (a comma list, JSON, a path) needs
an entry in :data:`READS` here.

A setting of ``SweepSettings`` defaults to "not given" on the command line (``None``), so
the preset's ``sweep:`` section, then the field's default, applies (``sweep_config.py``).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from ..plan import names
from ..plan.settings import Flag, SweepSettings, flag_of
from ..plan.sweep_config import SweepConfig

__all__ = [
    "CLUSTER",
    "OUTPUT",
    "PANELS",
    "READS",
    "RUN",
    "SEARCH",
    "name_argument",
    "setting_option",
    "setting_values",
    "with_settings",
]

# --help panels: every verb groups its options under these titles
SEARCH = "Search"
RUN = "Training and resources"
CLUSTER = "Cluster, storage and tracking"
OUTPUT = "Output"
PANELS = {"search": SEARCH, "run": RUN, "output": OUTPUT, "cluster": CLUSTER}


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _resources(text: str) -> dict[str, float]:
    from ..runtime.cluster import parse_resources

    return parse_resources(text)


def _storage(storage: str) -> str:
    from ..defaults import default_storage

    return default_storage(storage)


def _tracking(uri: str) -> str:
    from ..tracking import resolve_tracking_uri

    return resolve_tracking_uri(uri)


#: ``{field: (what its flag reads, how that becomes the field's value)}`` for the flags that
#: do not read the field's own type.
READS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "families": (str, _comma_list),
    "resources_per_worker": (str, _resources),
    "time_budget": (str, str),  # a duration (90m, 2h): the field parses it
    "spaces_root": (Path, lambda path: str(path.resolve())),
    "overrides": (list[str], list),
    "constraint": (list[str], list),
    "storage": (str, _storage),
    "tracking_uri": (str, _tracking),
}


#: ``{field: check}`` run as the flag is parsed, before the command imports torch or starts
#: Ray (``plan/names.py``); the same checks validate ``SweepConfig`` from Python.
CHECKS: dict[str, Callable[[str], str]] = {
    "name": names.check_name,
    "storage": names.check_storage,
    "tracking_uri": names.check_tracking_uri,
    "warm_start": names.check_warm_start,
}


def checked(flag: str, check: Callable[[str], str]) -> Callable[[Any], Any]:
    """A typer callback: ``check`` a given value, a mistake exits 2 naming ``flag``."""

    def callback(value: Any) -> Any:
        if value is None:
            return value
        try:
            return check(value)
        except ValueError as err:
            raise names.flag_error(flag, err) from None

    return callback


def name_argument(help: str, flag: str = "NAME") -> Any:
    """A command's sweep or study name argument, checked as it is parsed."""
    return typer.Argument(help=help, callback=checked(flag, names.check_name))


def _plain(annotation: Any) -> Any:
    """The type a flag reads for a field annotated ``annotation``: ``X | None`` -> ``X``, a
    ``Literal`` of strings -> ``str``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is Literal:
        return str
    return annotation


def _flag(name: str) -> Flag:
    """The :class:`Flag` setting ``name`` declares; a ``ValueError`` where it has none."""
    flag = flag_of(SweepConfig.model_fields[name])
    if flag is None:
        raise ValueError(f"setting {name!r} declares no Flag: not a command-line option")
    return flag


def _default_shown(name: str, default: Any) -> str | bool:
    """A ``SweepSettings`` field's ``[default: ...]``: the preset's, else the field's."""
    if default is None:
        return False
    if isinstance(default, bool):
        flag = _flag(name)
        default = flag.flag(name) if default else flag.off
    return f"the preset's, else {default}"


def setting_option(name: str, *, panel: bool = True) -> tuple[Any, Any]:
    """``(annotation, default)`` of the option of setting ``name``: an
    ``Annotated[type, typer.Option(...)]`` and what it is when not given; ``panel``: put it
    under its ``--help`` panel (False for a verb without panels)."""
    field = SweepConfig.model_fields[name]
    flag = _flag(name)
    reads = READS.get(name, (_plain(field.annotation), None))[0]
    declarations = [f"{flag.flag(name)}/{flag.off}" if flag.off else flag.flag(name)]
    declarations += [flag.short] if flag.short else []
    own_default = (
        name not in SweepSettings.model_fields
        and not field.is_required()
        and field.default_factory is None
        and field.default is not None
    )
    default = field.default if own_default else None
    shown: str | bool = True
    if name in SweepSettings.model_fields:
        shown = _default_shown(name, field.default)
    option = typer.Option(
        *declarations,
        help=field.description,
        show_default=shown,
        rich_help_panel=PANELS[flag.panel] if panel else None,
        callback=checked(declarations[0].split("/")[0], CHECKS[name]) if name in CHECKS else None,
    )
    annotation = reads if own_default else reads | None
    return Annotated[annotation, option], default


def with_settings(*names: str, panels: bool = True) -> Callable[[Callable], Callable]:
    """Give the decorated command, which takes ``**settings``, one option per setting in
    ``names`` (before its own options, grouped by panel in the order of :data:`PANELS`):
    typer reads the signature this sets; the command receives the flags' raw values in
    ``settings`` (:func:`setting_values` turns them into ``SweepConfig`` keywords)."""
    order = list(PANELS)

    def panel_of(name: str) -> int:
        return order.index(_flag(name).panel)

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
        settings = []
        for name in sorted(names, key=panel_of) if panels else names:
            annotation, default = setting_option(name, panel=panels)
            settings.append(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
                )
            )
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        parameters = settings + own
        # inspect.signature reads __signature__ off any function; typeshed's function type
        # does not declare the attribute
        command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {
            **{p.name: p.annotation for p in parameters},
            "return": signature.return_annotation,
        }
        return command

    return decorate


def setting_values(settings: dict[str, Any]) -> dict[str, Any]:
    """The flags' raw values as ``SweepConfig`` keywords: each read as its field (a comma
    list split, JSON parsed, a path made absolute, storage and tracking URI resolved);
    ``None`` (not given) stays ``None``."""
    out = {}
    for name, value in settings.items():
        parse = READS.get(name, (None, None))[1]
        out[name] = parse(value) if parse is not None and value is not None else value
    return out


def all_settings() -> list[str]:
    """Every setting with a command-line flag: ``SweepConfig``'s own fields (which sweep)
    first, then ``SweepSettings``' (how it runs), each in declaration order."""
    own = [n for n in SweepConfig.model_fields if n not in SweepSettings.model_fields]
    names = own + list(SweepSettings.model_fields)
    return [n for n in names if flag_of(SweepConfig.model_fields[n]) is not None]
