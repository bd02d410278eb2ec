"""Loss registry: ``@register_loss(name)`` fills it, ``create_loss`` is the one factory."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

__all__ = ["create_loss", "list_losses", "register_loss"]

_LOSSES: dict[str, type[nn.Module]] = {}


def register_loss(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator that registers a loss under ``name`` (also set as ``cls.name``).

    Example:
        >>> @register_loss("my_loss")  # doctest: +SKIP
        ... class MyLoss(nn.Module): ...
    """

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _LOSSES and _LOSSES[name] is not cls:
            raise ValueError(f"loss {name!r} is already registered to {_LOSSES[name].__name__}")
        cls.name = name
        _LOSSES[name] = cls
        return cls

    return decorator


def list_losses() -> list[str]:
    """Names of the registered losses, sorted."""
    return sorted(_LOSSES)


def _options(cls: type[nn.Module]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return sorted(p for p in params if p != "self")


def create_loss(name: str, **kwargs) -> nn.Module:
    """Build the loss registered as ``name`` with constructor options ``kwargs``.

    Raises:
        ValueError: unknown ``name`` or an option the loss does not take; the message
            lists what is allowed.

    Example:
        >>> loss = create_loss("ntce", temperature=0.1, memory=4096)  # doctest: +SKIP
    """
    if name not in _LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(list_losses())}")
    cls = _LOSSES[name]
    allowed = _options(cls)
    for key in kwargs:
        if key not in allowed:
            raise ValueError(f"{name} got unknown option {key!r}; allowed: {', '.join(allowed)}")
    return cls(**kwargs)
