"""Thin helpers over ``torch.distributed`` that also work in a single process."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["is_distributed", "rank", "world_size", "all_reduce_", "unwrap"]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce (``sum``, ``min`` or ``max``); a no-op in one process (Ray
    Train initialises a process group even for one worker: skip its round trips)."""
    if is_distributed() and world_size() > 1:
        dist.all_reduce(
            tensor,
            op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}[op],
        )
    return tensor


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside ``torch.compile`` and DistributedDataParallel (or the module itself)."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)
