"""NTCE: each class prototype contrasted with all M instances of the negative set."""

from __future__ import annotations

import torch
from torch import nn

from ._common import NegativeSet, check_inputs, check_positive, full_precision, prototype_rows, unit
from ._registry import LossInfo, Option, register_loss

__all__ = ["NTCELoss"]


@register_loss(
    "ntce",
    LossInfo(
        "each prototype contrasted with all M instances of the negative set",
        options=(
            Option("temperature", float, "τ of the softmax", gt=0),
            Option("gather", bool, "negatives from every worker (autograd all-gather)"),
            Option("memory", int, "cross-batch memory entries (0 = off)", ge=0),
        ),
    ),
)
class NTCELoss(nn.Module):
    """NTCE (docs/paper.md, loss family 3): prototype-anchored normalised temperature-scaled CE.

    ``ℓ_i = −log exp(ŵ_{y_i}·u_i/τ) / Σ_{j=1..M} exp(ŵ_{y_i}·u_j/τ)``, averaged over this
    rank's B samples. As in the authors' code the denominator includes i itself and the
    other instances of its class. The M columns are the batch (gathered from every rank
    when torch.distributed is initialised and ``gather=True``) followed by up to
    ``memory`` past gathered unit features (detached, enqueued after the loss is computed).
    A class absent from the batch contributes nothing. Computed with log-sum-exp in
    float32 (float64 for float64 inputs), also under autocast. ``bias`` is ignored.

    Distributed convention (also for nonl and scl): local anchors against gathered
    columns, mean over local anchors, no rescaling. With equal per-rank batches, the mean
    over ranks of the per-rank losses equals the loss on the concatenated batch; the
    prototype gradient DDP produces (mean over ranks) equals the single-process one; the
    gradient each rank sees on its own features is ``world_size`` times the
    single-process gradient on those rows (the gather's backward sums over ranks), which
    DDP's averaging of the backbone's gradients turns back into the single-process value.
    Every rank must pass the same batch size.

    Args:
        temperature: τ > 0.
        gather: gather the columns from every rank under torch.distributed.
        memory: number of past gathered features kept as extra columns (0: none).

    Shapes:
        features B×D, labels B (int64 in [0, K)), prototypes K×D; returns a scalar.
        After a call ``negative_set_size`` is M.

    Example:
        >>> head = nn.Linear(512, 10, bias=False)
        >>> loss = NTCELoss(0.1)(torch.randn(8, 512), torch.randint(10, (8,)), head.weight)
    """

    def __init__(self, temperature: float = 0.1, gather: bool = True, memory: int = 0) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.temperature = float(temperature)
        self.negatives = NegativeSet(gather, memory)
        self.negative_set_size = 0

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        prototypes: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_inputs("ntce", features, labels, prototypes, bias)
        assert prototypes is not None, "check_inputs raised otherwise"
        with full_precision(features, prototypes) as dtype:
            cols = self.negatives.columns(unit(features, dtype), labels)
            rows, _, row_of = prototype_rows(unit(prototypes, dtype, 1 / self.temperature), labels)
            sims = rows @ cols.features.T
            local = torch.arange(labels.shape[0], device=labels.device)
            positive = sims[row_of, cols.offset + local]
            loss = (torch.logsumexp(sims, dim=1)[row_of] - positive).mean()
        self.negatives.remember(cols)
        self.negative_set_size = cols.features.shape[0]
        return loss
