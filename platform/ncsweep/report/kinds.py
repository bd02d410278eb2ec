"""The registry of panel kinds: what a dashboard ``kind:`` may name and how it is drawn.

A kind is registered with :func:`register_kind` next to its renderer (``report/panels/``);
the spec loader validates against this registry, so a new kind needs no other edit.
A renderer gets the panel spec, one sweep's data and the page context, and returns a
:class:`Fragment`: HTML plus the number of plotly figures it holds (the browser test
counts drawn plots against it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
        options: the ``options:`` keys it takes.
        option_values: for options whose values are a closed set, the allowed values
            (a list option takes any of them).
    """

    name: str
    render: Callable[[PanelSpec, SweepData, PageContext], Fragment]
    groupings: tuple[str, ...] = ("family",)
    metrics_required: int = 0
    metrics_help: str = ""
    options: tuple[str, ...] = ()
    option_values: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    doc: str = field(default="", compare=False)


PANEL_KINDS: dict[str, PanelKind] = {}


def register_kind(name: str, **kwargs):
    """Decorator: ``@register_kind("pareto", metrics_required=2, ...)`` on a renderer."""

    def wrap(render):
        PANEL_KINDS[name] = PanelKind(name=name, render=render, doc=render.__doc__ or "", **kwargs)
        return render

    return wrap


from . import panels  # noqa: E402,F401  (fills PANEL_KINDS)
