"""NONL: the NTCE numerator over a denominator of negatives only."""

from __future__ import annotations

import torch
from torch import nn

from ._common import (
    NegativeSet,
    check_inputs,
    check_positive,
    full_precision,
    masked_logsumexp,
    masked_mean,
    prototype_rows,
    unit,
)
from ._registry import LossInfo, Option, register_loss

__all__ = ["NONLLoss"]

ANCHORS = ("prototype", "instance", "bidirectional")


@register_loss(
    "nonl",
    LossInfo(
        "negatives-only normalisation, separate alignment and uniformity weights",
        options=(
            Option("temperature", float, "τ of the softmax", gt=0),
            Option("anchor", str, "which side anchors the contrast", choices=ANCHORS),
            Option("align_weight", float, "weight of the alignment term", ge=0),
            Option("unif_weight", float, "weight of the uniformity term(s)", ge=0),
            Option("gather", bool, "negatives from every worker (autograd all-gather)"),
            Option("memory", int, "cross-batch memory entries (0 = off)", ge=0),
        ),
    ),
)
class NONLLoss(nn.Module):
    """NONL (docs/paper.md, loss family 4): negatives-only normalisation; can be negative.

    With ``s_ij = ŵ_{y_i}·u_j/τ``, ``a`` = ``align_weight``, ``b`` = ``unif_weight``:

    - ``anchor="prototype"`` (the paper's NONL, default):
      ``ℓ_i = a·(−s_ii) + b·log Σ_{j: y_j ≠ y_i} exp(s_ij)`` over the M columns (batch,
      gathered across ranks if ``gather``, then ``memory`` past entries, as in NTCE).
    - ``anchor="instance"``: ``ℓ_i = a·(−s_ii) + b·log Σ_{c ≠ y_i} exp(ŵ_c·u_i/τ)``, the
      other K−1 prototypes as negatives (no columns, nothing gathered).
    - ``anchor="bidirectional"`` (the authors' ``bidirectional=True``): one normaliser over
      the union of both negative sets, ``ℓ_i = a·(−s_ii) + b·log( Σ_{j: y_j ≠ y_i} exp(s_ij)
      + Σ_{c ≠ y_i} exp(ŵ_c·u_i/τ) )``: "the sum of both denominators" (docs/paper.md), one log.
      An empty part (a single-class column set, or K = 1) adds nothing to the sum.

    ``gather`` and ``memory`` only act on the prototype-anchored part (the columns j), so
    they do nothing for ``anchor="instance"``. The mean is over this rank's anchors that
    have at least one negative; the others are left out (e.g. a batch of one class with the
    prototype anchor). If none has, the loss is a zero connected to the inputs.
    ``negative_set_size`` after a call: M for the prototype anchor, K for the instance
    anchor, M + K for bidirectional. Log-sum-exp in float32 (float64 for float64 inputs),
    also under autocast. ``bias`` is ignored. The distributed convention is NTCE's (see
    ``NTCELoss``).

    Args:
        temperature: τ > 0.
        anchor: "prototype", "instance" or "bidirectional".
        align_weight: weight of the alignment term.
        unif_weight: weight of the log-sum-exp (uniformity) term(s).
        gather: gather the columns from every rank under torch.distributed.
        memory: number of past gathered features kept as extra columns (0: none).

    Shapes:
        features B×D, labels B (int64 in [0, K)), prototypes K×D; returns a scalar.

    Example:
        >>> head = nn.Linear(512, 10, bias=False)
        >>> loss = NONLLoss(0.1)(torch.randn(8, 512), torch.randint(10, (8,)), head.weight)
    """

    def __init__(
        self,
        temperature: float = 0.1,
        anchor: str = "prototype",
        align_weight: float = 1.0,
        unif_weight: float = 1.0,
        gather: bool = True,
        memory: int = 0,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        if anchor not in ANCHORS:
            raise ValueError(f"anchor must be one of {', '.join(ANCHORS)}; got {anchor!r}")
        self.temperature, self.anchor = float(temperature), anchor
        self.align_weight, self.unif_weight = float(align_weight), float(unif_weight)
        self.negatives = NegativeSet(gather, memory)
        self.negative_set_size = 0

    def forward(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        prototypes: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        check_inputs("nonl", features, labels, prototypes, bias)
        assert prototypes is not None, "check_inputs raised otherwise"
        with full_precision(features, prototypes) as dtype:
            u, w = unit(features, dtype), unit(prototypes, dtype, 1 / self.temperature)
            local = torch.arange(labels.shape[0], device=labels.device)
            # per anchor: one log-sum-exp per part, and whether that part has any negative
            parts, nonempty_parts, cols, sims, rows, size = [], [], None, None, None, 0
            if self.anchor != "instance":
                cols = self.negatives.columns(u, labels)
                rows, row_labels, row_of = prototype_rows(w, labels)
                sims = rows @ cols.features.T
                positive = sims[row_of, cols.offset + local]
                same_class = row_labels[:, None] == cols.labels[None, :]
                lse, nonempty = masked_logsumexp(sims, same_class)
                parts.append(lse[row_of])
                nonempty_parts.append(nonempty[row_of])
                size += cols.features.shape[0]
            if self.anchor != "prototype":
                if rows is w and sims is not None and cols is not None:
                    # the prototype rows already hold every ŵ_c·u_i for the local batch
                    logits = sims[:, cols.offset + local].T
                else:
                    logits = u @ w.T
                if self.anchor == "instance":
                    positive = logits.gather(1, labels[:, None]).squeeze(1)
                own_class = torch.zeros_like(logits, dtype=torch.bool)
                own_class[local, labels] = True
                lse, nonempty = masked_logsumexp(logits, own_class)
                parts.append(lse)
                nonempty_parts.append(nonempty)
                size += w.shape[0]
            # log(Σ_part exp(lse_part)): the sum of the denominators under one log
            uniform, valid = masked_logsumexp(
                torch.stack(parts, dim=1), ~torch.stack(nonempty_parts, dim=1)
            )
            per_anchor = -self.align_weight * positive + self.unif_weight * uniform
            loss = masked_mean(per_anchor, valid)
        if cols is not None:
            self.negatives.remember(cols)
        self.negative_set_size = size
        return loss
