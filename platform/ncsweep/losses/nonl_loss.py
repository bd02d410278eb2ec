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
    """NONL (PAPER.md, loss family 4): negatives-only normalisation; can be negative.

    With ``s_ij = ŵ_{y_i}·u_j/τ``, ``a`` = ``align_weight``, ``b`` = ``unif_weight``:

    - ``anchor="prototype"`` (the paper's NONL, default):
      ``ℓ_i = a·(−s_ii) + b·log Σ_{j: y_j ≠ y_i} exp(s_ij)`` over the M columns (batch,
      gathered across ranks if ``gather``, then ``memory`` past entries, as in NTCE).
    - ``anchor="instance"``: ``ℓ_i = a·(−s_ii) + b·log Σ_{c ≠ y_i} exp(ŵ_c·u_i/τ)``, the
      other K−1 prototypes as negatives (no columns, nothing gathered).
    - ``anchor="bidirectional"``: ``ℓ_i = a·(−s_ii) + b·(log Σ_{j: y_j ≠ y_i} exp(s_ij)
      + log Σ_{c ≠ y_i} exp(ŵ_c·u_i/τ))``: the alignment term once plus both log-sum-exp
      terms; an empty term (a single-class negative set, or K = 1) contributes 0.

    ``gather`` and ``memory`` only act on the prototype-anchored term, so they do nothing
    for ``anchor="instance"``. The mean is over this rank's anchors that have at least one negative; the others are
    left out (e.g. a batch of one class with the prototype anchor). If none has, the loss
    is a zero connected to the inputs. ``negative_set_size`` after a call: M for the
    prototype anchor, K for the instance anchor, M + K for bidirectional. Log-sum-exp in
    float32 (float64 for float64 inputs), also under autocast. ``bias`` is ignored. The
    distributed convention is NTCE's (see ``NTCELoss``).

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
        with full_precision(features, prototypes) as dtype:
            u, w = unit(features, dtype), unit(prototypes, dtype, 1 / self.temperature)
            local = torch.arange(labels.shape[0], device=labels.device)
            valid = torch.zeros_like(labels, dtype=torch.bool)
            uniform, cols, rows, size = 0, None, None, 0
            if self.anchor != "instance":
                cols = self.negatives.columns(u, labels)
                rows, row_labels, row_of = prototype_rows(w, labels)
                sims = rows @ cols.features.T
                positive = sims[row_of, cols.offset + local]
                same_class = row_labels[:, None] == cols.labels[None, :]
                lse, nonempty = masked_logsumexp(sims, same_class)
                uniform = torch.where(nonempty[row_of], lse[row_of], 0)
                valid, size = valid | nonempty[row_of], size + cols.features.shape[0]
            if self.anchor != "prototype":
                n = labels.shape[0]
                if rows is w:
                    # the prototype rows already hold every ŵ_c·u_i for the local batch
                    logits = sims[:, cols.offset : cols.offset + n].T
                else:
                    logits = u @ w.T
                if self.anchor == "instance":
                    positive = logits.gather(1, labels[:, None]).squeeze(1)
                if w.shape[0] > 1:  # with K = 1 there is no other prototype
                    others = logits.scatter(1, labels[:, None], float("-inf"))
                    uniform = uniform + torch.logsumexp(others, dim=1)
                    valid = torch.ones_like(valid)
                size += w.shape[0]
            per_anchor = -self.align_weight * positive + self.unif_weight * uniform
            loss = masked_mean(per_anchor, valid)
        if cols is not None:
            self.negatives.remember(cols)
        self.negative_set_size = size
        return loss
