"""Training and evaluation on a streamed split (an ``IterableDataset``: ``imagenet_shards``).

A stream has no random access, so instead of a sampler each rank reads its own shards
(``ShardedImageDataset.for_rank``), each DataLoader worker its share of those, batching its
own samples (its last partial batch dropped). Every rank takes the same number of steps per
epoch, :func:`stream_steps_per_epoch`: the fewest full batches any rank has in any of the
run's epochs, computed from the shard index before anything is read. Epoch ``e`` is the
first ``steps_per_epoch`` batches of the stream after ``set_epoch(e)``; a run restored at
batch ``offset`` of an epoch reads and skips the batches it had already trained on (the
stream's shuffles depend on the seed, the epoch and the reader only), so it continues in
the uninterrupted order.

Evaluation reads each rank's share in the written order, at most ``limit`` samples
(:class:`StreamedEvalSplit`, the interface of ``evaluation.EvalSplit``).

Images decoded on the GPU (``decode=cuda``) are decoded in the training process: DataLoader
workers are forked and cannot use CUDA.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Protocol, TypeGuard, cast

import torch
from torch.utils.data import DataLoader, IterableDataset

__all__ = [
    "Stream",
    "StreamedEvalSplit",
    "epoch_batches",
    "is_stream",
    "stream_loader",
    "stream_steps_per_epoch",
    "train_size",
]


class Stream(Protocol):
    """What training reads of a streamed split (``data.shards.ShardedImageDataset``)."""

    @property
    def num_samples(self) -> int: ...

    def set_epoch(self, epoch: int) -> None: ...

    def reader_samples(self, epoch: int, readers: int) -> list[int]: ...

    def for_rank(self, rank: int, world_size: int) -> Stream: ...


def is_stream(dataset: Any) -> TypeGuard[Stream]:
    return isinstance(dataset, IterableDataset)


def train_size(dataset: Any) -> int:
    """Samples in a split, streamed (from its index) or not."""
    return int(dataset.num_samples) if is_stream(dataset) else len(dataset)


def _readers(dataset: Any, workers: int) -> int:
    """DataLoader workers that read ``dataset`` (0 workers: the process itself reads)."""
    return 0 if getattr(dataset, "device", "cpu") != "cpu" else workers


def stream_loader(
    dataset: Any, batch_size: int, workers: int, *, drop_last: bool, pin_memory: bool = False
) -> DataLoader[Any]:
    """A DataLoader over a rank's stream (GPU decoding stays in this process)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        drop_last=drop_last,
        num_workers=_readers(dataset, workers),
        pin_memory=pin_memory,
    )


def _rank_counts(dataset: Any, epoch: int, world_size: int, workers: int) -> list[list[int]]:
    """Per rank, the samples each of its readers streams in ``epoch``."""
    per_rank = max(workers, 1)
    counts = dataset.reader_samples(epoch, world_size * per_rank)
    return [counts[r * per_rank : (r + 1) * per_rank] for r in range(world_size)]


def stream_steps_per_epoch(
    dataset: Any, epochs: int, batch_size: int, world_size: int, workers: int
) -> int:
    """Steps every rank can take in each of ``epochs`` epochs (module docstring):
    min over epochs and ranks of sum over the rank's readers of ``samples // batch_size``."""
    readers = _readers(dataset, workers)
    return min(
        sum(count // batch_size for count in rank)
        for epoch in range(max(epochs, 1))
        for rank in _rank_counts(dataset, epoch, world_size, readers)
    )


def epoch_batches(
    loader: DataLoader[Any], epoch: int, offset: int, steps: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches ``offset`` to ``steps`` of ``epoch`` (the first ``offset`` read and skipped)
    of a loader over a stream (:func:`stream_loader`)."""
    cast(Stream, loader.dataset).set_epoch(epoch)
    return itertools.islice(loader, offset, steps)


class StreamedEvalSplit:
    """A rank's share of a streamed split in its written order, at most ``limit`` samples
    (None: all), as ``(x, y)`` batches; ``dataset`` is the rank's view (``for_rank``)."""

    def __init__(self, dataset: Any, limit: int | None, batch_size: int, workers: int = 0):
        self.dataset, self.limit, self.batch_size = dataset, limit, batch_size
        self.workers = workers
        self.prepare = lambda x: x

    def __len__(self) -> int:
        rank = self.dataset.rank or 0
        world = self.dataset.world_size or 1
        readers = _readers(self.dataset, self.workers)
        held = sum(_rank_counts(self.dataset, 0, world, readers)[rank])
        return held if self.limit is None else min(held, self.limit)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        left = len(self)
        loader = stream_loader(self.dataset, self.batch_size, self.workers, drop_last=False)
        for x, y in loader:
            if left <= 0:
                return
            if len(y) > left:
                x, y = x[:left], y[:left]
            left -= len(y)
            yield x, y

    def sample_shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.dataset))[0].shape)
