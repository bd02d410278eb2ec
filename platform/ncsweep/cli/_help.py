"""Help texts derived from the registries, built only when help is shown.

Importing the loss registry imports torch (seconds); a verb's help that lists the loss
families is therefore filled in when ``--help`` renders, not when the CLI starts.
"""

from __future__ import annotations

from collections.abc import Callable

from typer.core import TyperArgument, TyperCommand, TyperOption

__all__ = ["examples", "families_help", "names_help", "registry_help"]


def families_help(prefix: str) -> str:
    """``prefix`` followed by every registered loss family with its one-line description."""
    from ..losses import LOSSES

    return f"{prefix} " + "; ".join(LOSSES.describe().splitlines()) + "."


def names_help(prefix: str, names: Callable[[], list[str]]) -> Callable[[], str]:
    """A help text ``prefix (a, b, c).`` whose names are read when help is shown."""
    return lambda: f"{prefix} ({', '.join(names())})."


def registry_help(**helps: Callable[[], str]) -> type[TyperCommand]:
    """A command class whose options ``name`` get the help ``helps[name]()`` when shown."""

    class Command(TyperCommand):
        def format_help(self, ctx, formatter) -> None:
            for param in self.params:
                # click's Parameter has no help; typer's options and arguments do
                if param.name in helps and isinstance(param, TyperOption | TyperArgument):
                    param.help = helps[param.name]()
            super().format_help(ctx, formatter)

    return Command


def examples(*commands: str) -> str:
    """A verb's ``--help`` epilog: one example command per line."""
    return "\n\n".join(["Examples:", *(f"  $ {c}" for c in commands)])
