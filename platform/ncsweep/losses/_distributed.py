"""Autograd-aware all-gather, after lightly's ``utils/dist.py``.

Forward gathers a tensor from every rank; backward all-reduces (sums) the gradient of the
gathered tensor and returns this rank's slice. A loss that uses local anchors against
gathered columns therefore sends every rank's gradient back to the rank that owns the
feature. With DDP averaging parameter gradients over ranks, the result equals the
single-process gradient on the concatenated batch (see ``ntce_loss.NTCELoss``).

Without an initialised process group, or with world size 1, everything is a no-op.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

__all__ = ["gather", "gather_no_grad", "rank", "world_size"]


def world_size() -> int:
    """Number of ranks, 1 when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """This process's rank, 0 when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(grads)
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        return stacked[dist.get_rank()]


def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (n×…) from every rank along dim 0, in rank order, with gradients.

    Every rank must pass the same shape. Returns ``x`` itself when not distributed.
    """
    if world_size() == 1:
        return x
    return torch.cat(_GatherWithGrad.apply(x), dim=0)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dim 0 (labels, detached data)."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)
