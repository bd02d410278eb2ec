"""Datasets that live in memory as tensors, with batched augmentation, and labelled subsets.

``TensorImageDataset`` implements ``__getitems__``, which ``torch.utils.data.DataLoader``
(torch >= 2.1) calls with a whole batch of indices: one gather and one vectorised
augmentation per batch instead of one per sample. It also works with a
``DistributedSampler`` unchanged, since samplers only produce indices.

Augmenting on the trial's device (CPU, or CUDA when present): hold the images as uint8
N×C×H×W and give a ``BatchPipeline`` (``ncsweep.data.augment``) built from the dataset's
torchvision train transform. ``batch``/the loader then return the raw uint8 samples, and the
training loop augments after moving them, with a generator it checkpoints::

    pipeline = BatchPipeline.from_torchvision(cifar_transforms(stats, views=2, augment=True)[0])
    train = TensorImageDataset(uint8_images, targets, pipeline=pipeline)
    gen = torch.Generator(device=device).manual_seed(seed)   # state saved with the model
    for x, y in loader:                                      # x: B×3×32×32 uint8
        x = train.augment_batch(x.to(device, non_blocking=True), gen)  # B×V×3×32×32 float
        ...
    # resume: gen.set_state(saved_state) replays the same augmentation stream

uint8 batches are 4× smaller to gather and copy to the GPU than float ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset

from ncsweep.data.bundle import DataBundle, Sample
from ncsweep.data.transforms import RandomShift

if TYPE_CHECKING:
    from ncsweep.data.augment import BatchPipeline

__all__ = [
    "LabelledSubset",
    "TensorImageDataset",
    "device_bundle",
    "in_memory_bundle",
    "subset",
    "targets_of",
]


class TensorImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images and labels held as tensors.

    Args:
        images: N×C×H×W float tensor (already normalised).
        targets: N integer labels.
        augment: batched augmentation B×C×H×W -> B×C×H×W (e.g. ``RandomShift``), or None.
        views: V; with V > 1 a sample is V×C×H×W, each view augmented independently.
        pipeline: a ``BatchPipeline`` the training loop applies on its device through
            ``augment_batch``; then ``images`` are usually uint8, samples come out as stored,
            and ``augment``/``views`` must be left unset (the pipeline has its own views).

    ``dataset[i]`` -> ``(x, y)`` with ``x`` C×H×W (V×C×H×W if V > 1) and ``y`` an int.
    ``dataset.batch(idx)`` -> ``(X, Y)`` stacked: B×C×H×W (B×V×C×H×W), B.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        *,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        views: int = 1,
        pipeline: BatchPipeline | None = None,
    ) -> None:
        if images.dim() != 4 or len(images) != len(targets):
            raise ValueError(
                f"need N×C×H×W images and N targets, got {tuple(images.shape)} and {len(targets)}"
            )
        if pipeline is not None and (augment is not None or views != 1):
            raise ValueError("give either a pipeline or augment/views, not both")
        self.pipeline = pipeline
        self.images = images
        self._targets = torch.as_tensor(targets, dtype=torch.long)
        self.augment = augment
        self.views = views

    @property
    def targets(self) -> torch.Tensor:
        """N labels (long tensor), in sample order."""
        return self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stacked samples for ``indices``: (B×C×H×W or B×V×C×H×W, B), augmented at once."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        x = self.images[idx]
        if self.views > 1:
            x = x.unsqueeze(1).expand(-1, self.views, -1, -1, -1)
        if self.augment is not None:
            shape = x.shape
            x = self.augment(x.reshape(-1, *shape[-3:])).reshape(shape)
        elif self.views > 1:
            x = x.contiguous()
        return x, self._targets[idx]

    def augment_batch(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The pipeline applied to a batch from ``batch``/the loader (on any device), else ``x``."""
        return x if self.pipeline is None else self.pipeline(x, generator)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, y = self.batch([index])
        return x[0], int(y[0])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.batch(indices)
        return list(zip(x.unbind(0), y.unbind(0), strict=True))

    def subset(self, indices: Sequence[int] | torch.Tensor) -> TensorImageDataset:
        """A new dataset with the samples at ``indices``, same augmentation and views."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return TensorImageDataset(
            self.images[idx],
            self._targets[idx],
            augment=self.augment,
            views=self.views,
            pipeline=self.pipeline,
        )

    def without_augmentation(self) -> TensorImageDataset:
        """The same tensors, no augmentation, one view (the ``train_eval`` split).

        A pipeline keeps its fixed steps (``ToFloat``, ``Normalize``) for ``augment_batch``.
        """
        fixed = None if self.pipeline is None else self.pipeline.without_augmentation()
        return TensorImageDataset(self.images, self._targets, pipeline=fixed)


class LabelledSubset(Dataset[Sample]):
    """``torch.utils.data.Subset`` that keeps a ``targets`` attribute for its samples."""

    def __init__(self, dataset: Dataset[Sample], indices: Sequence[int] | torch.Tensor) -> None:
        self.dataset = dataset
        self.indices = torch.as_tensor(indices, dtype=torch.long)
        self.targets = targets_of(dataset)[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.dataset[int(self.indices[index])]


def targets_of(dataset: Dataset[Sample]) -> torch.Tensor:
    """The labels of a dataset with a ``targets`` attribute, as a long tensor."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        raise TypeError(f"{type(dataset).__name__} has no 'targets'; cannot count classes")
    return torch.as_tensor(targets, dtype=torch.long)


def subset(dataset: Dataset[Sample], indices: torch.Tensor) -> Dataset[Sample]:
    """``dataset.subset(indices)`` when it has one (keeps batched fetching), else a wrapper."""
    own = getattr(dataset, "subset", None)
    if not callable(own):
        return LabelledSubset(dataset, indices)
    picked: Dataset[Sample] = own(indices)
    return picked


def in_memory_bundle(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    num_classes: int,
    views: int,
    augment: bool,
    shift: int,
    name: str,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> DataBundle:
    """Normalise with the train split's statistics and wrap tensors as a ``DataBundle``.

    Shapes: ``train_x`` N×C×H×W, ``train_y`` N, ``val_x`` M×C×H×W, ``val_y`` M, ``test``
    (T×C×H×W images, T labels) or None. Augmentation shifts by up to ``shift`` pixels,
    filling with the normalised zero.
    """
    mean, std = train_x.mean(), train_x.std().clamp_min(1e-8)
    train_x = (train_x - mean) / std
    val_x = (val_x - mean) / std
    fill = float(-mean / std)
    aug = RandomShift(shift, fill=fill) if augment and shift > 0 else None
    train = TensorImageDataset(train_x, train_y, augment=aug, views=views)
    return DataBundle(
        train=train,
        train_eval=train.without_augmentation(),
        val=TensorImageDataset(val_x, val_y),
        num_classes=num_classes,
        input_shape=_chw(train_x),
        class_counts=torch.bincount(train_y, minlength=num_classes).tolist(),
        name=name,
        test=None if test is None else TensorImageDataset((test[0] - mean) / std, test[1]),
    )


def _chw(images: torch.Tensor) -> tuple[int, int, int]:
    """``(C, H, W)`` of N×C×H×W ``images``."""
    _, c, h, w = images.shape
    return c, h, w


def device_bundle(
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    pipeline: BatchPipeline,
    *,
    num_classes: int,
    name: str,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> DataBundle:
    """Raw uint8 ``(images N×C×H×W, labels N)`` splits for augmentation on the device.

    ``train`` carries ``pipeline`` (its views included); ``train_eval``, ``val`` and ``test``
    (when given) carry its fixed steps only (ToFloat, Normalize): every split yields uint8
    samples, and whoever feeds a model calls ``augment_batch`` after moving them.
    """
    (train_x, train_y), (val_x, val_y) = train, val
    dataset = TensorImageDataset(train_x, train_y, pipeline=pipeline)
    fixed = pipeline.without_augmentation()
    return DataBundle(
        train=dataset,
        train_eval=dataset.without_augmentation(),
        val=TensorImageDataset(val_x, val_y, pipeline=fixed),
        num_classes=num_classes,
        input_shape=_chw(train_x),
        class_counts=torch.bincount(train_y, minlength=num_classes).tolist(),
        name=name,
        test=None if test is None else TensorImageDataset(*test, pipeline=fixed),
    )
