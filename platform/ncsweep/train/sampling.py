"""Samplers: a resumable distributed training sampler and fixed evaluation shards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler

__all__ = ["ResumableDistributedSampler", "eval_shard"]


class ResumableDistributedSampler(DistributedSampler[int]):
    """``DistributedSampler`` that can start an epoch part-way, after ``skip`` samples.

    A run restored mid-epoch continues with the batches it had not seen instead of replaying
    the epoch; the order is the same as an uninterrupted run because the permutation is a
    function of ``(seed, epoch)`` only.
    """

    def __init__(self, dataset: Dataset[Any], num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.skip = 0

    def start_at(self, epoch: int, skip: int) -> None:
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter(indices[skip:])


def eval_shard(
    num_samples: int, rank: int, world_size: int, limit: int | None = None, seed: int = 0
) -> list[int]:
    """This rank's slice of a fixed, seeded subset of at most ``limit`` samples.

    Shards are disjoint and cover the subset exactly (no padding), so statistics summed over
    ranks equal one pass over the subset.
    """
    if limit is not None and limit < num_samples:
        generator = torch.Generator().manual_seed(seed)
        subset = torch.randperm(num_samples, generator=generator)[:limit].sort().values.tolist()
    else:
        subset = list(range(num_samples))
    return subset[rank::world_size]
