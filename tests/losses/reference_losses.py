"""Input builders, and plain per-sample references for the losses, written out from the docs/paper.md formulas.

Slow on purpose: one Python loop per anchor, one sum per denominator, float64. The memory
argument holds unit features and labels that join the columns after the batch.
"""

from __future__ import annotations

import math

import torch


def make_inputs(loss, b=12, d=6, k=5, seed=0, dtype=torch.float64, labels=None):
    """Random features (B×D or B×V×D), labels and prototypes suited to ``loss``."""
    g = torch.Generator().manual_seed(seed)
    shape = (b, loss.views, d) if loss.views > 1 else (b, d)
    features = torch.randn(*shape, generator=g, dtype=dtype)
    if labels is None:
        labels = torch.randint(k, (b,), generator=g)
    prototypes = torch.randn(k, d, generator=g, dtype=dtype) if loss.uses_prototypes else None
    return features, labels, prototypes


def call(loss, features, labels, prototypes):
    """``loss`` on the inputs, passing prototypes only to a loss that uses them."""
    return loss(features, labels, prototypes) if loss.uses_prototypes else loss(features, labels)


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def log_sum_exp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def ce(features, labels, prototypes, bias=None, label_smoothing=0.0):
    k, total = prototypes.shape[0], 0.0
    for z, y in zip(features, labels.tolist(), strict=True):
        logits = [float(prototypes[c] @ z + (0.0 if bias is None else bias[c])) for c in range(k)]
        lse = log_sum_exp(logits)
        nll = lse - logits[y]
        smooth = sum(lse - logits[c] for c in range(k)) / k
        total += (1 - label_smoothing) * nll + label_smoothing * smooth
    return total / len(labels)


def normface(features, labels, prototypes, temperature):
    u, w, total = unit(features), unit(prototypes), 0.0
    for i, y in enumerate(labels.tolist()):
        logits = [float(w[c] @ u[i]) / temperature for c in range(w.shape[0])]
        total += log_sum_exp(logits) - logits[y]
    return total / len(labels)


def _columns(features, labels, memory):
    cols, col_labels = unit(features), labels.tolist()
    if memory is not None:
        cols = torch.cat([cols, memory[0]])
        col_labels = col_labels + memory[1].tolist()
    return cols, col_labels


def ntce(features, labels, prototypes, temperature, memory=None):
    u, w = unit(features), unit(prototypes)
    cols, _ = _columns(features, labels, memory)
    total = 0.0
    for i, y in enumerate(labels.tolist()):
        numerator = float(w[y] @ u[i]) / temperature
        denominator = [float(w[y] @ cols[j]) / temperature for j in range(len(cols))]
        total += log_sum_exp(denominator) - numerator
    return total / len(labels)


def nonl(
    features,
    labels,
    prototypes,
    temperature,
    anchor="prototype",
    align_weight=1.0,
    unif_weight=1.0,
    memory=None,
):
    """NONL for one anchor i at a time, in float64:
    ``−a·ŵ_{y_i}·u_i/τ + b·log(Σ_{j: y_j≠y_i} exp(ŵ_{y_i}·u_j/τ) + Σ_{c≠y_i} exp(ŵ_c·u_i/τ))``,
    with only the first sum (prototype anchor), only the second (instance anchor) or both
    under one log (bidirectional, the authors' ``denom + denom_sym``). The memory joins the
    columns j only. An anchor with no negative term at all is left out of the mean."""
    u, w = unit(features), unit(prototypes)
    cols, col_labels = _columns(features, labels, memory)
    per_anchor = []
    for i, y in enumerate(labels.tolist()):
        denominator = 0.0  # a plain sum of exponentials, then one log
        has_negative = False
        if anchor in ("prototype", "bidirectional"):
            for j in range(len(cols)):
                if col_labels[j] != y:
                    denominator += math.exp(float(w[y] @ cols[j]) / temperature)
                    has_negative = True
        if anchor in ("instance", "bidirectional"):
            for c in range(w.shape[0]):
                if c != y:
                    denominator += math.exp(float(w[c] @ u[i]) / temperature)
                    has_negative = True
        if has_negative:
            alignment = float(w[y] @ u[i]) / temperature
            per_anchor.append(-align_weight * alignment + unif_weight * math.log(denominator))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


def scl(features, labels, temperature, base_temperature=None, memory=None):
    b, v, d = features.shape
    a = unit(features).reshape(b * v, d)
    flat_labels = [y for y in labels.tolist() for _ in range(v)]
    cols, col_labels = a, list(flat_labels)
    if memory is not None:
        cols = torch.cat([cols, memory[0]])
        col_labels += memory[1].tolist()
    per_anchor = []
    for i in range(b * v):
        others = [k for k in range(len(cols)) if k != i]
        positives = [p for p in others if col_labels[p] == flat_labels[i]]
        if not positives:
            continue
        lse = log_sum_exp([float(a[i] @ cols[k]) / temperature for k in others])
        value = -sum(float(a[i] @ cols[p]) / temperature - lse for p in positives) / len(positives)
        if base_temperature is not None:
            value *= temperature / base_temperature
        per_anchor.append(value)
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0
