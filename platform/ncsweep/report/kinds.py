"""The registry of panel kinds: what a dashboard ``kind:`` may name and how it is drawn.

A kind is registered with :func:`register_kind` next to its renderer (``report/panels/``);
the spec loader validates against this registry (:data:`PANEL_KINDS`, a
:class:`ncsweep.registry.Registry` whose entries carry their ``options:`` as a pydantic
model), so a new kind needs no other edit.
A renderer gets the panel spec, one sweep's data and the page context, and returns a
:class:`Fragment`: HTML plus the number of plotly figures it holds (the browser test
counts drawn plots against it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, create_model

from ..config import SpecError
from ..registry import Options, Registry

if TYPE_CHECKING:
    from .data import SweepData
    from .page import PageContext
    from .spec import PanelSpec

__all__ = ["Fragment", "PanelKind", "PANEL_KINDS", "register_kind"]


@dataclass
class Fragment:
    html: str
    plots: int = 0
    rows: int = 0


@dataclass(frozen=True)
class PanelKind:
    """A panel kind.

    Attributes:
        name: the ``kind:`` value.
        render: ``(panel, data, page) -> Fragment``.
        groupings: allowed ``grouping:`` values, the first is the default.
        metrics_required: how many ``metrics`` the kind needs at least.
        metrics_help: what those metrics mean (for error messages).

    Its ``options:`` are the registry's options model of the kind.
    """

    name: str
    render: Callable[[PanelSpec, SweepData, PageContext], Fragment]
    groupings: tuple[str, ...] = ("family",)
    metrics_required: int = 0
    metrics_help: str = ""
    doc: str = field(default="", compare=False)


#: The panel kinds, in registration order.
PANEL_KINDS: Registry[PanelKind] = Registry("panel kind", error=SpecError, sort=False)


def _one_of(allowed: tuple[str, ...]) -> Callable[[Any], Any]:
    """A check that a value, or each item of a list, is one of ``allowed`` (``None``: unset)."""

    def check(value: Any) -> Any:
        if value is not None and any(
            v not in allowed for v in (value if isinstance(value, list) else [value])
        ):
            raise ValueError(f"must be one of {', '.join(allowed)} (or a list of them)")
        return value

    return check


def _options_model(
    name: str, options: tuple[str, ...], option_values: dict[str, tuple[str, ...]]
) -> type[Options]:
    """The ``options:`` of a kind: each optional; a closed set of values is checked."""
    fields: dict[str, Any] = {}
    for key in options:
        allowed = option_values.get(key)
        if allowed is None:
            fields[key] = (Any, None)
        else:
            kind = f"one of {', '.join(allowed)}, or a list of them"
            check = AfterValidator(_one_of(allowed))
            fields[key] = (Annotated[Any, check], Field(None, json_schema_extra={"kind": kind}))
    return create_model(f"{name}_options", __base__=Options, **fields)


def register_kind(
    name: str,
    *,
    options: tuple[str, ...] = (),
    option_values: dict[str, tuple[str, ...]] | None = None,
    **kwargs,
):
    """Decorator: ``@register_kind("pareto", metrics_required=2, ...)`` on a renderer.

    ``options``: the ``options:`` keys the kind takes; ``option_values``: for options whose
    values are a closed set, the allowed values (a list option takes any of them).
    """

    def wrap(render):
        doc = render.__doc__ or ""
        PANEL_KINDS.register(
            name,
            PanelKind(name=name, render=render, doc=doc, **kwargs),
            options=_options_model(name, tuple(options), option_values or {}),
            description=doc.strip().split("\n")[0],
        )
        return render

    return wrap
