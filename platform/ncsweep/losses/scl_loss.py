"""SCL: supervised contrastive loss (SupCon) over all views, one mask, masked log-sum-exp."""

from __future__ import annotations

import torch
from torch import nn

from ._common import (
    NegativeSet,
    check_inputs,
    check_positive,
    full_precision,
    masked_mean,
    unit,
)
from ._registry import LossInfo, Option, register_loss

__all__ = ["SCLLoss"]


@register_loss(
    "scl",
    LossInfo(
        "supervised contrastive loss on two views; classified by class-mean prototypes",
        options=(
            Option("temperature", float, "τ of the softmax", gt=0),
            Option(
                "base_temperature", float, "SupContrast rescaling τ/base_τ", gt=0, nullable=True
            ),
            Option("gather", bool, "negatives from every worker (autograd all-gather)"),
            Option("memory", int, "cross-batch memory entries (0 = off)", ge=0),
        ),
        head="projection",
        views=2,
        uses_prototypes=False,
        eval_loss=lambda options: ("normface", {"temperature": options["temperature"]}),
        probes=True,
    ),
)
class SCLLoss(nn.Module):
    """SCL (docs/paper.md, loss family 5): SupCon (Khosla et al. 2020) on unit projections.

    The B×V×D views are flattened sample-major to N = B·V unit vectors ``a`` (labels
    repeated V times). For a local anchor i, with columns the N·world_size gathered views
    (if ``gather``) followed by up to ``memory`` past gathered views (detached):
    ``ℓ_i = −1/|P(i)| Σ_{p∈P(i)} log exp(a_i·a_p/τ) / Σ_{k≠i} exp(a_i·a_k/τ)``, where
    P(i) are the columns other than i with label y_i (memory entries included). With
    ``base_temperature`` the loss is multiplied by ``τ/base_τ`` (SupContrast); ``None``,
    the default, drops that rescaling as the authors do. The mean is over local anchors
    with at least one positive; if none has, the loss is a zero connected to the inputs.
    Log-sum-exp in float32 (float64 for float64 inputs), also under autocast. The
    distributed convention is NTCE's (see ``NTCELoss``); ``prototypes`` and ``bias`` are
    ignored. ``negative_set_size`` after a call: all columns minus one.

    Args:
        temperature: τ > 0.
        base_temperature: base τ > 0 of SupContrast's rescaling, or None for none.
        gather: gather the views from every rank under torch.distributed.
        memory: number of past gathered views kept as extra columns (0: none).

    Shapes:
        features B×V×D (V ≥ 2), labels B (int64 ≥ 0); returns a scalar.

    Example:
        >>> loss = SCLLoss(0.1)(torch.randn(8, 2, 128), torch.randint(10, (8,)))
    """

    views: int  # set by register_loss from LossInfo.views

    def __init__(
        self,
        temperature: float = 0.1,
        base_temperature: float | None = None,
        gather: bool = True,
        memory: int = 0,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        if base_temperature is not None:
            check_positive("base_temperature", base_temperature)
        self.temperature, self.base_temperature = float(temperature), base_temperature
        self.negatives = NegativeSet(gather, memory)
        self.negative_set_size = 0

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        prototypes: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_inputs("scl", features, labels, views=self.views, needs_prototypes=False)
        b, v, d = features.shape
        with full_precision(features) as dtype:
            a = unit(features, dtype).reshape(b * v, d)
            cols = self.negatives.columns(a, labels.repeat_interleave(v))
            logits = (a / self.temperature) @ cols.features.T
            local = torch.arange(b * v, device=labels.device)
            itself = (local, cols.offset + local)
            positives = cols.labels[cols.offset + local][:, None] == cols.labels[None, :]
            positives[itself] = False
            count = positives.sum(dim=1)
            # V >= 2, so every row keeps at least one column once its own is removed
            denominator = torch.logsumexp(
                logits.index_put(itself, logits.new_tensor(float("-inf"))), dim=1
            )
            mean_positive = torch.where(positives, logits, 0).sum(dim=1) / count.clamp(min=1)
            per_anchor = denominator - mean_positive
            if self.base_temperature is not None:
                per_anchor = per_anchor * (self.temperature / self.base_temperature)
            loss = masked_mean(per_anchor, count > 0)
        self.negatives.remember(cols)
        self.negative_set_size = cols.features.shape[0] - 1
        return loss
