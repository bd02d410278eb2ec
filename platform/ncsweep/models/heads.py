"""Heads on the penultimate feature z (B×D): a registry like the backbones'.

- ``linear``: ``nn.Linear(D, K)`` with bias; CE's classifier. Prototypes = weight (K×D).
- ``prototype``: K×D weight, no bias; the normalised losses (NormFace, NTCE, NONL) use its
  rows as class prototypes ``w_c`` and normalise them inside the loss.
- ``projection``: SupCon's MLP ``D -> D -> proj_dim`` (Linear, ReLU, Linear); no prototypes.

Every head has ``embed(z)`` (what the loss gets as features), ``prototypes`` and ``bias``.
The registry is :data:`HEAD_REGISTRY` (``ncsweep.registry``); a head takes no options of
its own (``proj_dim`` is the model's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, TypeVar

import torch
from torch import nn

from ..registry import Registry

__all__ = [
    "HEAD_REGISTRY",
    "Head",
    "LinearHead",
    "ProjectionHead",
    "PrototypeHead",
    "create_head",
    "list_heads",
    "register_head",
]

HEAD_REGISTRY: Registry[Callable[..., nn.Module]] = Registry("head")

_HeadClass = TypeVar("_HeadClass", bound=type[nn.Module])


class Head(Protocol):
    """What ``NCModel`` reads of its head, besides it being an ``nn.Module``."""

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """What the loss gets as features: B×P for ``projection``, else z (B×D)."""
        ...

    @property
    def prototypes(self) -> torch.Tensor | None:
        """K×D classifier weight, or None."""
        ...

    @property
    def bias(self) -> torch.Tensor | None:
        """K bias, or None."""
        ...


def register_head(name: str) -> Callable[[_HeadClass], _HeadClass]:
    """Register a head class built as ``cls(feature_dim, num_classes, proj_dim)``."""

    def decorator(cls: _HeadClass) -> _HeadClass:
        doc = (cls.__doc__ or "").strip().split("\n")[0]
        HEAD_REGISTRY.register(name, cls, description=doc)
        return cls

    return decorator


def list_heads() -> list[str]:
    """Registered head names, sorted."""
    return HEAD_REGISTRY.names()


def create_head(name: str, *, feature_dim: int, num_classes: int, proj_dim: int) -> nn.Module:
    """Build head ``name``; ``ValueError`` listing the allowed names if unknown."""
    return HEAD_REGISTRY.get(name)(feature_dim, num_classes, proj_dim)


@register_head("linear")
class LinearHead(nn.Linear):
    """``nn.Linear(D, K)`` with bias. ``embed(z) = z``; logits ``z Wᵀ + b`` are the loss's job."""

    def __init__(self, feature_dim: int, num_classes: int, proj_dim: int = 0) -> None:
        super().__init__(feature_dim, num_classes, bias=True)

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        return z

    @property
    def prototypes(self) -> torch.Tensor:
        """K×D classifier weight."""
        return self.weight


@register_head("prototype")
class PrototypeHead(nn.Module):
    """K learnable prototypes ``W`` (K×D), no bias, initialised like ``nn.Linear.weight``.

    ``embed(z) = z``; calling the head gives the cosine logits ``û ŵᵀ`` (B×K) for convenience.
    """

    def __init__(self, feature_dim: int, num_classes: int, proj_dim: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, feature_dim))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(z, dim=1) @ nn.functional.normalize(self.weight, dim=1).T

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        return z

    @property
    def prototypes(self) -> torch.Tensor:
        """K×D prototypes (unnormalised; losses normalise)."""
        return self.weight

    @property
    def bias(self) -> None:
        return None


@register_head("projection")
class ProjectionHead(nn.Sequential):
    """SupCon's projection MLP: ``D -> D -> proj_dim`` (Linear, ReLU, Linear).

    ``embed(z)`` = ``head(z)`` (B×proj_dim, unnormalised; the loss normalises). No prototypes.
    """

    def __init__(self, feature_dim: int, num_classes: int, proj_dim: int = 128) -> None:
        super().__init__(
            nn.Linear(feature_dim, feature_dim),
            nn.ReLU(inplace=True),
            nn.Linear(feature_dim, proj_dim),
        )

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        projected: torch.Tensor = self(z)
        return projected

    @property
    def prototypes(self) -> None:
        return None

    @property
    def bias(self) -> None:
        return None
