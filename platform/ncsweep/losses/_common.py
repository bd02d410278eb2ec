"""Helpers shared by the losses: validation, precision, masked reductions, negative set."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import torch
from torch import nn

from ._distributed import gather, gather_no_grad, rank
from ._memory import CrossBatchMemory

__all__ = [
    "Columns",
    "NegativeSet",
    "check_inputs",
    "check_positive",
    "full_precision",
    "masked_logsumexp",
    "masked_mean",
    "prototype_rows",
    "unit",
]


def check_positive(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` > 0 (temperatures)."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_inputs(
    loss: str,
    features: torch.Tensor,
    labels: torch.Tensor,
    prototypes: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    *,
    views: int = 1,
    needs_prototypes: bool = True,
) -> None:
    """Validate shapes and label range of a loss call; raise ValueError saying what was expected.

    ``views`` 1 expects features B×D; ``views`` ≥ 2 expects B×V×D with V ≥ 2.
    """
    if views == 1 and features.dim() != 2:
        raise ValueError(f"{loss} expects features B×D (2-D), got shape {tuple(features.shape)}")
    if views > 1 and (features.dim() != 3 or features.shape[1] < 2):
        raise ValueError(
            f"{loss} expects features B×V×D (3-D) with V >= 2 views, got shape {tuple(features.shape)}"
        )
    if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(
            f"{loss} expects integer labels of shape B, got {labels.dtype} {tuple(labels.shape)}"
        )
    if labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"{loss}: batch size mismatch, features have B={features.shape[0]} "
            f"but labels have {labels.shape[0]}"
        )
    # one read of two numbers from the device per call, the price of catching bad labels
    low, high = torch.stack(torch.aminmax(labels)).tolist() if labels.numel() else (0, 0)
    if not needs_prototypes:
        if low < 0:
            raise ValueError(f"{loss} expects labels >= 0, got {low}")
        return
    if prototypes is None:
        raise ValueError(f"{loss} needs prototypes K×D (like nn.Linear.weight), got None")
    if prototypes.dim() != 2 or prototypes.shape[1] != features.shape[-1]:
        raise ValueError(
            f"{loss} expects prototypes K×D with D={features.shape[-1]} like the features, "
            f"got shape {tuple(prototypes.shape)}"
        )
    k = prototypes.shape[0]
    if bias is not None and tuple(bias.shape) != (k,):
        raise ValueError(f"{loss} expects bias of shape K=({k},), got {tuple(bias.shape)}")
    if low < 0 or high >= k:
        raise ValueError(
            f"{loss} expects labels in [0, K) = [0, {k}), got values in [{low}, {high}]"
        )


@contextlib.contextmanager
def full_precision(*tensors: torch.Tensor) -> Iterator[torch.dtype]:
    """Disable autocast and yield the compute dtype: float64 if any input is, else float32.

    Cosines divided by a small τ reach 100; their exponentials and sums lose the class
    signal in bf16/fp16, so similarities and reductions always run in float32 or better.
    """
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    with torch.autocast(device_type=tensors[0].device.type, enabled=False):
        yield dtype


class _ScaledUnit(torch.autograd.Function):
    """``y = scale · x/‖x‖`` with a fused backward ``r·g − y·(y·g)·r/scale²``, ``r = scale/‖x‖``.

    Autograd through ``F.normalize`` makes about twice as many passes over B×D, which is
    most of what the normalised losses cost beyond CE at moderate sizes.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        r: torch.Tensor = scale / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-12)
        y = x * r
        ctx.save_for_backward(y, r)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        y, r = ctx.saved_tensors
        along = (y * grad).sum(dim=-1, keepdim=True) * (r / ctx.scale**2)
        return grad * r - y * along, None


def unit(x: torch.Tensor, dtype: torch.dtype, scale: float = 1.0) -> torch.Tensor:
    """``scale · x/‖x‖`` along the last dim, computed in ``dtype``.

    ``scale = 1/τ`` on the smaller operand of a similarity matrix folds the temperature in
    without another pass over the logits.
    """
    y: torch.Tensor = _ScaledUnit.apply(x.to(dtype), float(scale))
    return y


def masked_logsumexp(
    logits: torch.Tensor, exclude: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``log Σ_{j: not exclude_ij} exp(logits_ij)`` per row, and whether the row had any entry.

    A row with every entry excluded returns the log-sum-exp of all its entries instead of
    −inf (whose gradient is NaN); callers drop those rows with :func:`masked_mean` or
    ``torch.where``, which sends them a zero gradient.
    """
    nonempty = ~exclude.all(dim=1)
    lse = torch.logsumexp(logits.masked_fill(exclude & nonempty[:, None], float("-inf")), dim=1)
    return lse, nonempty


def masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``valid`` rows; a zero still connected to the graph if none."""
    kept = torch.where(valid, values, torch.zeros((), dtype=values.dtype, device=values.device))
    return kept.sum() / valid.sum().clamp(min=1)


def prototype_rows(
    prototypes: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prototype rows to contrast with the columns, their labels, and each anchor's row.

    A prototype-anchored denominator depends on the anchor only through its class, so with
    K ≤ B it is computed once per class (K×M similarities instead of B×M); with K > B the
    B prototypes of the batch are used instead. Returns (rows r×D, row labels r, row of
    each anchor B).
    """
    k, b = prototypes.shape[0], labels.shape[0]
    if k <= b:
        return prototypes, torch.arange(k, device=labels.device), labels
    return prototypes[labels], labels, torch.arange(b, device=labels.device)


class Columns(NamedTuple):
    """The columns local anchors are contrasted with (gathered batch, then memory).

    ``offset`` is the column of this rank's first sample; ``batch``/``batch_labels`` are
    the gathered batch alone, the part that is enqueued into the memory afterwards.
    """

    features: torch.Tensor
    labels: torch.Tensor
    offset: int
    batch: torch.Tensor
    batch_labels: torch.Tensor


class NegativeSet(nn.Module):
    """Builds the columns for ntce, nonl and scl: gathered batch plus cross-batch memory.

    With torch.distributed initialised and ``gather=True`` the unit features and labels
    of every rank are gathered (autograd-aware, see ``_distributed``) in rank order;
    ``memory`` > 0 appends the last ``memory`` gathered rows, detached. Each rank enqueues
    the same gathered batch, so memories stay identical across ranks.

    Args:
        gather: gather the columns from every rank.
        memory: capacity of the cross-batch memory in rows (0: none).
    """

    def __init__(self, gather: bool = True, memory: int = 0) -> None:
        super().__init__()
        if memory < 0:
            raise ValueError(f"memory must be >= 0 (0 disables it), got {memory}")
        self.gather = bool(gather)
        self.memory = CrossBatchMemory(memory) if memory > 0 else None

    def columns(self, unit_features: torch.Tensor, labels: torch.Tensor) -> Columns:
        """Columns for this rank's ``unit_features`` (n×D) and ``labels`` (n)."""
        batch, batch_labels, offset = unit_features, labels, 0
        if self.gather:
            batch, batch_labels = gather(unit_features), gather_no_grad(labels)
            offset = rank() * unit_features.shape[0]
        feats, labs = batch, batch_labels
        if self.memory is not None and len(self.memory):
            mem_feats, mem_labels = self.memory.get()
            feats = torch.cat([batch, mem_feats.to(batch)])
            labs = torch.cat([batch_labels, mem_labels.to(batch_labels)])
        return Columns(feats, labs, offset, batch, batch_labels)

    def remember(self, columns: Columns) -> None:
        """Enqueue the gathered batch after the loss has been computed."""
        if self.memory is not None:
            self.memory.enqueue(columns.batch, columns.batch_labels)
