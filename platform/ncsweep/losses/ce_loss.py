"""CE: softmax cross entropy on raw features and raw weights, with a bias."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import check_inputs, full_precision
from ._registry import LossInfo, Option, register_loss

__all__ = ["CELoss"]


@register_loss(
    "ce",
    LossInfo(
        "softmax cross entropy on W z + b (no normalisation)",
        options=(Option("label_smoothing", float, "as in F.cross_entropy", ge=0, lt=1),),
        head="linear",
        normalized=False,
        probe_temperature=0.1,  # CE has no temperature: the probe uses NormFace's usual τ
    ),
)
class CELoss(nn.Module):
    """CE (docs/paper.md, loss family 1): softmax cross entropy on ``W z + b``.

    ``ℓ_i = −log exp(w_{y_i}·z_i + b_{y_i}) / Σ_c exp(w_c·z_i + b_c)``, averaged over the
    batch. No normalisation; prediction is ``argmax_c w_c·z + b_c``. Logits and the
    reduction run in float32 (float64 for float64 inputs), also under autocast.

    Args:
        label_smoothing: as in ``torch.nn.functional.cross_entropy``, in [0, 1).

    Shapes:
        features B×D, labels B (int64 in [0, K)), prototypes K×D, bias K or None;
        returns a scalar.

    Example:
        >>> head = nn.Linear(512, 10)
        >>> loss = CELoss()(torch.randn(8, 512), torch.randint(10, (8,)), head.weight, head.bias)
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.negative_set_size = 0

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        prototypes: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_inputs("ce", features, labels, prototypes, bias)
        assert prototypes is not None, "check_inputs raised otherwise"
        self.negative_set_size = prototypes.shape[0]
        with full_precision(features, prototypes) as dtype:
            b = None if bias is None else bias.to(dtype)
            logits = F.linear(features.to(dtype), prototypes.to(dtype), b)
            return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
