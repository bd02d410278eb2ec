"""NormFace: K-way softmax on cosines between unit features and unit prototypes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_inputs, check_positive, full_precision, unit
from ._registry import LossInfo, Option, register_loss

__all__ = ["NormFaceLoss"]


@register_loss(
    "normface",
    LossInfo(
        "K-way softmax on cosines to unit prototypes (instance-anchored)",
        options=(Option("temperature", float, "τ of the softmax", gt=0),),
    ),
)
class NormFaceLoss(nn.Module):
    """NormFace (docs/paper.md, loss family 2): instance-anchored, K-way normalised softmax.

    ``ℓ_i = −log exp(ŵ_{y_i}·u_i/τ) / Σ_c exp(ŵ_c·u_i/τ)``, averaged over the batch, with
    ``u_i = z_i/‖z_i‖`` and ``ŵ_c = w_c/‖w_c‖``. Each anchor sees K−1 negative classes,
    whether or not they are in the batch. Computed in float32 (float64 for float64
    inputs), also under autocast. ``bias`` is ignored: normalised losses have none.

    Args:
        temperature: τ > 0.

    Shapes:
        features B×D, labels B (int64 in [0, K)), prototypes K×D; returns a scalar.

    Example:
        >>> head = nn.Linear(512, 10, bias=False)
        >>> loss = NormFaceLoss(0.1)(torch.randn(8, 512), torch.randint(10, (8,)), head.weight)
    """

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.temperature = float(temperature)
        self.negative_set_size = 0

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        prototypes: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_inputs("normface", features, labels, prototypes, bias)
        assert prototypes is not None, "check_inputs raised otherwise"
        self.negative_set_size = prototypes.shape[0]
        with full_precision(features, prototypes) as dtype:
            logits = unit(features, dtype) @ unit(prototypes, dtype, 1 / self.temperature).T
            return F.cross_entropy(logits, labels)
