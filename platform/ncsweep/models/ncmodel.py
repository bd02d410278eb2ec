"""``NCModel``: a backbone (x -> z) and a head, shaped for DistributedDataParallel."""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
from torch import nn

from .heads import Head

__all__ = ["NCModel", "NCOutput"]


class NCOutput(NamedTuple):
    """What ``NCModel.forward`` returns; feeds ``loss(features, labels, prototypes, bias)``.

    Attributes:
        features: B×D penultimate features z (heads ``linear``/``prototype``), or B×P
            projection-head outputs (head ``projection``, P = ``proj_dim``).
        prototypes: K×D classifier weight, or None for ``projection``.
        bias: K classifier bias for ``linear``, else None.
    """

    features: torch.Tensor
    prototypes: torch.Tensor | None
    bias: torch.Tensor | None


class NCModel(nn.Module):
    """Backbone + head. ``forward(x)`` returns ``NCOutput(features, prototypes, bias)``.

    Why forward returns the prototypes: the losses contrast features against the classifier
    weight ``W`` themselves (``loss(features, labels, prototypes=W, bias=b)``), so ``W`` is
    never used *inside* a head call. DDP's contract is that parameters take part in the
    wrapped ``forward``: ``find_unused_parameters=True`` searches the forward outputs' graph
    and would report ``W`` unused, and ``static_graph`` and compiled DDP plan their gradient
    buckets from the forward graph. (Plain DDP in torch 2.14 happens to all-reduce a ``W``
    read from ``ddp.module`` correctly too, measured with 2 gloo ranks; we do not rely on it.)
    So ``forward`` hands ``W`` (and ``b``) out as outputs, through a no-copy ``view`` that puts
    them in the forward graph, and

        out = ddp(x)
        loss = criterion(out.features, y, prototypes=out.prototypes, bias=out.bias)
        loss.backward()        # W's gradient is all-reduced like any other

    works with ``find_unused_parameters=False``. Contract for the caller: every tensor in
    ``NCOutput`` must reach the loss (pair head ``linear`` with CE, which uses the bias, and
    head ``prototype`` with the normalised losses, which use none); a returned tensor that
    gets no gradient leaves DDP waiting for it.

    Shapes: ``x`` B×C×H×W; ``features(x)`` B×D; ``embed(z)`` B×P for ``projection``, else z.

    Attributes:
        backbone: x (B×C×H×W) -> z (B×D).
        feature_dim: D.
        head: the head module (``heads.py``).
        head_name: ``"linear"``, ``"prototype"`` or ``"projection"``.
        num_classes: K.
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        head: nn.Module,
        *,
        head_name: str,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.head = head
        self.head_name = head_name
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features z = backbone(x), B×D (for NC statistics and probes)."""
        z: torch.Tensor = self.backbone(x)
        return z

    @property
    def _head(self) -> Head:
        # nn.Module types a submodule as Module; every registered head is also a Head
        return cast(Head, self.head)

    def embed(self, z: torch.Tensor) -> torch.Tensor:
        """What the loss sees as features: the projection of z (B×P) or z itself (B×D)."""
        return self._head.embed(z)

    def forward(self, x: torch.Tensor) -> NCOutput:
        features = self.embed(self.backbone(x))
        w, b = self.prototypes, self.bias
        return NCOutput(
            features,
            None if w is None else w.view_as(w),
            None if b is None else b.view_as(b),
        )

    @property
    def prototypes(self) -> torch.Tensor | None:
        """K×D classifier weight (the parameter itself), or None for ``projection``."""
        return self._head.prototypes

    @property
    def bias(self) -> torch.Tensor | None:
        """K bias of the ``linear`` head, else None."""
        return self._head.bias
