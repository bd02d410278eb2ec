"""One registry type for every catalogue of the platform (losses, datasets, models, heads,
evaluation suites, report panel kinds).

A :class:`Registry` maps names to entries and each entry's options to a pydantic model
(:class:`Options`: unknown keys refused). The checks every catalogue needs are written here
once: an unknown name lists the allowed names, an unknown option names the key and what the
entry takes, a bad value names the key, the value and what is allowed. Lists of names (CLI
help, study tables, validation tables) are derived from a registry, never copied.

Plain Python and pydantic: every layer may import it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

__all__ = ["NoOptions", "Options", "Registry", "options_from_signature"]

T = TypeVar("T")


class Options(BaseModel):
    """Base of an entry's options: unknown keys are refused.

    A field's ``json_schema_extra={"kind": "float > 0"}`` is what :meth:`Registry.describe`
    and error messages print as its type; a validator that refuses a value raises
    ``ValueError("must be ...")`` (the key and the value are added by the registry).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    def given(self) -> dict[str, Any]:
        """The options the caller set (checked and converted), without the defaults."""
        return {k: getattr(self, k) for k in self.model_fields_set}


class NoOptions(Options):
    """An entry that takes no options."""


def options_from_signature(
    fn: Callable[..., Any], name: str, *, skip: Iterable[str] = ()
) -> type[Options]:
    """An options model of ``fn``'s keyword-only parameters (except ``skip``).

    The defaults are the function's own; the values are not type-checked here (typed
    ``Any``): the function checks its own, as it did when called directly.
    """
    skipped = set(skip)
    fields: dict[str, Any] = {
        p.name: (Any, ... if p.default is inspect.Parameter.empty else p.default)
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in skipped
    }
    return create_model(f"{name}_options", __base__=Options, **fields)


def _describe_field(key: str, field: FieldInfo) -> str:
    """``temperature (float > 0, default 0.1)``; a required option says so."""
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    kind = extra.get("kind")
    default = "required" if field.is_required() else f"default {field.default!r}"
    return f"{key} ({kind}, {default})" if kind else f"{key} ({default})"


class Registry(Generic[T]):
    """Names -> entries of one kind, each with its options model.

    Args:
        kind: what an entry is, for messages (``"loss"``, ``"panel kind"``).
        error: the exception raised for a user mistake (``ValueError`` or ``SpecError``).
        sort: :meth:`names` sorted (``True``) or in registration order.
    """

    def __init__(self, kind: str, *, error: type[Exception] = ValueError, sort: bool = True):
        self.kind = kind
        self.error = error
        self._sort = sort
        self._entries: dict[str, T] = {}
        self._options: dict[str, type[Options]] = {}
        self._descriptions: dict[str, str] = {}

    # --- filling ------------------------------------------------------------------------

    def register(
        self,
        name: str,
        entry: T,
        *,
        options: type[Options] = NoOptions,
        description: str = "",
        replace: bool = False,
    ) -> T:
        """Add ``entry`` under ``name``; ValueError if taken (unless ``replace``)."""
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if not (isinstance(options, type) and issubclass(options, BaseModel)):
            raise TypeError(f"{self.kind} {name!r}: options must be a pydantic model class")
        self._entries[name] = entry
        self._options[name] = options
        self._descriptions[name] = description
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register an entry of their own)."""
        for table in (self._entries, self._options, self._descriptions):
            table.pop(name, None)

    # --- reading ------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Registered names, sorted or in registration order (see ``sort``)."""
        return sorted(self._entries) if self._sort else list(self._entries)

    def registered(self) -> list[str]:
        """Registered names in registration order (tables that follow the catalogue)."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._entries[n]) for n in self.names()]

    def unknown(
        self, name: Any, *, source: str = "", error: type[Exception] | None = None
    ) -> Exception:
        """The error for an unknown ``name``: it lists the allowed names."""
        message = f"unknown {self.kind} {name!r}; allowed: {', '.join(self.names()) or 'none'}"
        return (error or self.error)(f"{source}: {message}" if source else message)

    def get(self, name: str, *, source: str = "", error: type[Exception] | None = None) -> T:
        """The entry ``name``; :attr:`error` (or ``error``) listing the allowed names if
        unknown. ``source`` (a file and key, a flag) prefixes the message.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.unknown(name, source=source, error=error) from None

    def options(self, name: str) -> type[Options]:
        """The options model of ``name``."""
        self.get(name)
        return self._options[name]

    def option_names(self, name: str) -> tuple[str, ...]:
        return tuple(self.options(name).model_fields)

    def defaults(self, name: str) -> dict[str, Any]:
        """``{option: default}`` of ``name`` (required options left out)."""
        return {
            k: f.default for k, f in self.options(name).model_fields.items() if not f.is_required()
        }

    def describe_options(self, name: str) -> str:
        """``temperature (float > 0, default 0.1), gather (bool, default True)``."""
        fields = self.options(name).model_fields
        return ", ".join(_describe_field(k, f) for k, f in fields.items()) or "no options"

    def validate_options(
        self, name: str, values: Mapping[str, Any], *, source: str = "", prefix: str = ""
    ) -> Options:
        """``values`` checked against the options of ``name``.

        Raises :attr:`error` naming every wrong key (as ``prefix + key``): an unknown key,
        a missing required one, a value out of what the option allows; the message ends
        with what the entry takes. ``source`` prefixes the message.
        """
        model = self.options(name)
        if not isinstance(values, Mapping):
            message = f"options of {self.kind} {name!r} must be a mapping, got {values!r}"
            raise self.error(f"{source}: {message}" if source else message)
        try:
            return model.model_validate(dict(values))
        except ValidationError as err:
            problems = [_problem(e, prefix) for e in err.errors()]
            message = f"{'; '.join(problems)}; {self.kind} {name!r} takes: "
            message += self.describe_options(name)
            raise self.error(f"{source}: {message}" if source else message) from None

    def describe(self) -> str:
        """One line per entry: ``name: description (options: a, b)``."""
        lines = []
        for name in self.names():
            options = ", ".join(self.option_names(name)) or "no options"
            about = f": {self._descriptions[name]}" if self._descriptions[name] else ""
            lines.append(f"{name}{about} (options: {options})")
        return "\n".join(lines)


def _problem(error: Mapping[str, Any], prefix: str) -> str:
    """One pydantic error as ``unknown key 'loss.tau'`` or ``loss.memory=-1: must be int >= 0``."""
    key = prefix + ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'"
    if error["type"] == "missing":
        return f"missing key '{key}'"
    cause = error.get("ctx", {}).get("error")
    return f"{key}={error['input']!r}: {cause if cause is not None else error['msg']}"
