"""Loss registry: each family registers its class with a :class:`LossInfo`, the one place
that says what the platform needs to know about it.

``@register_loss(name, LossInfo(...))`` fills the registry; ``create_loss`` is the one
factory; :func:`loss_info` answers every other question (options with types, defaults and
ranges, model head, views, evaluation loss, probes, prototypes, a one-line description).
The registry is a :class:`ncsweep.registry.Registry` (:data:`LOSSES`): each family's
options are a pydantic model built from its :class:`Option` descriptors, so the unknown-key
and value checks are the registry's, shared with every other catalogue. The spec
validation (``config.LossSpec``), the search-space family list, the study table's family
order (registration order: :func:`families`), the model head of the training loop and the
CLI help are derived from it.

An option's default is the constructor's own default (read from its signature once, at
registration), so the descriptor states only what the signature cannot: the type, the
range or choices, and a one-line help. Registration fails if the two disagree on names.

Adding a family: one module ``losses/<name>_loss.py`` with a registered class (the package
imports every ``*_loss`` module) and one ``search_spaces/<name>.yaml``. A family defined
outside the package is registered by importing its module; a spec or search space names
that module as ``loss.module`` so Ray workers import it too.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field, create_model
from torch import nn

from ..registry import Options, Registry

__all__ = [
    "DEFAULT_PROBE_TEMPERATURE",
    "LOSSES",
    "LossInfo",
    "Option",
    "create_loss",
    "evaluation_loss",
    "families",
    "list_losses",
    "loss_info",
    "register_loss",
    "unregister_loss",
]

_UNSET: Any = object()

_LossClass = TypeVar("_LossClass", bound=type[nn.Module])

#: τ of the normalised probe (``evaluate.probes``) of a family that has no ``temperature``
#: option and declares no ``probe_temperature`` (NormFace's own default).
DEFAULT_PROBE_TEMPERATURE = 0.1


@dataclass(frozen=True)
class Option:
    """One constructor option of a loss.

    Attributes:
        name: the constructor argument (also the spec key ``loss.<name>``).
        type: ``float``, ``int``, ``bool`` or ``str``.
        help: one line for error messages and docs.
        gt, ge, lt, le: bounds of a number (exclusive / inclusive).
        choices: allowed values of a ``str`` option.
        nullable: ``None`` is allowed (e.g. "off").
        default: the constructor's default (filled at registration).
    """

    name: str
    type: type
    help: str = ""
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    default: Any = _UNSET

    def kind(self) -> str:
        """``float > 0``, ``one of a, b``, ``bool``."""
        if self.choices is not None:
            kind = "one of " + ", ".join(map(str, self.choices))
        else:
            kind = self.type.__name__
            bounds = [
                f"{op} {v:g}"
                for op, v in ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
                if v is not None
            ]
            kind = " ".join([kind, " and ".join(bounds)]) if bounds else kind
        return kind + (" or null" if self.nullable else "")

    def check(self, value: Any) -> Any:
        """``value`` converted to the option's type; ValueError says what is allowed (the
        registry adds the key and the value)."""
        if value is None and self.nullable:
            return None
        wrong = ValueError(f"must be {self.kind()}")
        if self.type is bool:
            if not isinstance(value, bool):
                raise wrong
        elif self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong
            if self.type is int:
                if value != int(value):
                    raise wrong
                value = int(value)
            else:
                value = float(value)
                if math.isnan(value):
                    raise wrong
            limits = (
                (self.gt, operator.gt),
                (self.ge, operator.ge),
                (self.lt, operator.lt),
                (self.le, operator.le),
            )
            if not all(bound is None or ok(value, bound) for bound, ok in limits):
                raise wrong
        elif not isinstance(value, self.type):
            raise wrong
        if self.choices is not None and value not in self.choices:
            raise wrong
        return value


@dataclass(frozen=True)
class LossInfo:
    """What the platform needs to know about one loss family.

    Attributes:
        description: one line (CLI help, docs).
        options: constructor options (defaults come from the constructor).
        head: model head the family trains, a name of the head registry (``models.heads``):
            ``linear`` = ``W z + b``; ``prototype`` = ``W z`` without bias; ``projection`` =
            an MLP projection, classified by class means.
        views: augmented views per sample (the loss takes B×V×D when > 1).
        normalized: predictions by cosine to unit prototypes (no bias).
        uses_prototypes: the loss reads the head's prototypes.
        eval_loss: ``options -> (family, options)`` of the loss on validation batches;
            ``None``: the family itself without gathering and without memory.
        probes: linear probes are trained on the frozen encoder at the end of a run.
        probe_temperature: τ of the normalised (NormFace) probe on this family's frozen
            features (``evaluate.probes``): a number, or ``options -> τ``; ``None``: the
            family's own ``temperature`` option, else :data:`DEFAULT_PROBE_TEMPERATURE`.
        name, cls: filled at registration.
    """

    description: str
    options: tuple[Option, ...] = ()
    head: str = "prototype"
    views: int = 1
    normalized: bool = True
    uses_prototypes: bool = True
    eval_loss: Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]] | None = None
    probes: bool = False
    probe_temperature: float | Callable[[Mapping[str, Any]], float] | None = None
    name: str = ""
    cls: type[nn.Module] | None = field(default=None, compare=False)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)

    @property
    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}

    def normprobe_temperature(self, options: Mapping[str, Any]) -> float:
        """τ of the normalised probe for a run with loss ``options`` (see ``probe_temperature``)."""
        declared = self.probe_temperature
        if callable(declared):
            return float(declared({**self.defaults, **options}))
        if declared is not None:
            return float(declared)
        if "temperature" in self.option_names:
            return float({**self.defaults, **options}["temperature"])
        return DEFAULT_PROBE_TEMPERATURE

    def check_options(self, values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """All options, ``values`` over the defaults, each checked; ValueError names every
        wrong key (as ``prefix + name``) and what the family takes."""
        return {
            **self.defaults,
            **LOSSES.validate_options(self.name, values, prefix=prefix).given(),
        }


#: The loss families; :func:`list_losses` sorted, :func:`families` in registration order.
LOSSES: Registry[LossInfo] = Registry("loss")


def _options_model(name: str, options: tuple[Option, ...]) -> type[Options]:
    """The pydantic model of a family's options: each value goes through ``Option.check``."""
    fields: dict[str, Any] = {
        o.name: (
            Annotated[Any, BeforeValidator(o.check)],
            Field(o.default, description=o.help, json_schema_extra={"kind": o.kind()}),
        )
        for o in options
    }
    return create_model(f"{name}_options", __base__=Options, **fields)


def register_loss(name: str, info: LossInfo) -> Callable[[_LossClass], _LossClass]:
    """Class decorator that registers a loss under ``name`` with its descriptor.

    Sets ``cls.name``, ``cls.info`` and the class attributes the training loop reads
    (``views``, ``normalized``, ``uses_prototypes``) from ``info``.

    Raises:
        ValueError: ``name`` taken by another class, or options that do not match the
            constructor's arguments. (The head is checked against the head registry by
            ``create_model``, and for every family by the registry contract test: the loss
            library does not import the models.)

    Example:
        >>> @register_loss("my_loss", LossInfo("my loss", head="prototype"))  # doctest: +SKIP
        ... class MyLoss(nn.Module): ...
    """

    def decorator(cls: _LossClass) -> _LossClass:
        taken = LOSSES.get(name) if name in LOSSES else None
        if (
            taken is not None
            and taken.cls is not None
            and taken.cls is not cls
            and taken.cls.__qualname__ != cls.__qualname__
        ):
            raise ValueError(f"loss {name!r} is already registered to {taken.cls.__name__}")
        params = {
            p.name: p.default
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self"
        }
        declared = [o.name for o in info.options]
        if sorted(declared) != sorted(params) or any(
            v is inspect.Parameter.empty for v in params.values()
        ):
            raise ValueError(
                f"loss {name!r}: LossInfo options {declared} must be the constructor's "
                f"arguments {list(params)}, each with a default"
            )
        options = tuple(replace(o, default=params[o.name]) for o in info.options)
        full = replace(info, name=name, cls=cls, options=options)
        # any nn.Module class can be registered, so these attributes are not declared on it
        for attribute, value in (
            ("name", name),
            ("info", full),
            ("views", info.views),
            ("normalized", info.normalized),
            ("uses_prototypes", info.uses_prototypes),
        ):
            setattr(cls, attribute, value)
        LOSSES.register(
            name,
            full,
            options=_options_model(name, options),
            description=info.description,
            replace=True,
        )
        return cls

    return decorator


def unregister_loss(name: str) -> None:
    """Remove ``name`` from the registry (tests that register a family of their own)."""
    LOSSES.unregister(name)


def list_losses() -> list[str]:
    """Names of the registered losses, sorted."""
    return LOSSES.names()


def families() -> list[str]:
    """The registered families in registration order: the paper's order (the package
    imports its families in that order), then families registered later."""
    return LOSSES.registered()


def loss_info(name: str) -> LossInfo:
    """The descriptor of loss ``name``; ValueError lists the registered names."""
    return LOSSES.get(name)


def create_loss(name: str, **kwargs: Any) -> nn.Module:
    """Build the loss registered as ``name`` with constructor options ``kwargs``.

    Raises:
        ValueError: unknown ``name``, an option the loss does not take, or a value outside
            the option's declared type or range; the message lists what is allowed.

    Example:
        >>> loss = create_loss("ntce", temperature=0.1, memory=4096)  # doctest: +SKIP
    """
    info = loss_info(name)
    assert info.cls is not None, "register_loss sets cls"
    return info.cls(**LOSSES.validate_options(name, kwargs).given())


def evaluation_loss(name: str, options: Mapping[str, Any]) -> nn.Module:
    """The loss a run of family ``name`` (with ``options``) reports on validation batches.

    Per rank and without memory: validation shards differ in length (a collective per batch
    would hang) and evaluation must not enqueue. A family with ``eval_loss`` (SCL: one view
    on validation, NormFace against its class-mean prototypes) names another loss.
    """
    info = loss_info(name)
    if info.eval_loss is not None:
        other, other_options = info.eval_loss(options)
        return create_loss(other, **other_options)
    kwargs = {k: v for k, v in options.items() if k in info.option_names}
    kwargs.update({k: v for k, v in (("gather", False), ("memory", 0)) if k in kwargs})
    return create_loss(name, **kwargs)
