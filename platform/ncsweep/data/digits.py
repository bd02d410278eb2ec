"""scikit-learn's bundled handwritten digits (1,797 8×8 images, 10 classes): the offline default.

Pixels 0…16 are scaled to [0, 1], then normalised with the training split's mean and std.
Splits (:func:`digits_splits`), all stratified: ``test`` is a FIXED 20 % of each class
(:data:`TEST_FRACTION`, drawn with ``splits.TEST_SEED``: the same images for every seed and
every family); ``val`` is ``val_fraction`` of the rest, drawn with the run's seed; ``train``
is what remains (with the defaults 1,151 / 287 / 359 images). Everything is in memory (``TensorImageDataset``);
augmentation is a random shift of ±1 pixel, vectorised over the batch. With ``on_device``
the pixels stay integers (uint8 0…16) and the shift (pad 1 with 0, random 8×8 crop) and the
normalisation run as a ``BatchPipeline`` on the training device; the same distribution.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.datasets import load_digits

from ncsweep.data._registry import DataBundle, register_dataset
from ncsweep.data.augment import BatchPipeline
from ncsweep.data.augment.ops import BatchOp, Normalize, RandomCrop
from ncsweep.data.in_memory import device_bundle, in_memory_bundle
from ncsweep.data.splits import TEST_SEED, check_fraction, stratified_split

__all__ = ["TEST_FRACTION", "build_digits", "digits_splits"]

#: The share of each class held out as the fixed test split.
TEST_FRACTION = 0.2

Split = tuple[np.ndarray, np.ndarray]


def digits_splits(seed: int, val_fraction: float = 0.2) -> tuple[Split, Split, Split]:
    """``(train, val, test)``, each (images N×8×8 float32 in [0, 1], labels N int64).

    ``test`` depends on nothing (``TEST_FRACTION`` of each class, ``TEST_SEED``); ``val`` is
    ``val_fraction`` of each class of the rest, seeded by ``seed``.
    """
    check_fraction("val_fraction", val_fraction)
    data = load_digits()
    images, labels = data.images.astype(np.float32) / 16.0, data.target.astype(np.int64)
    rest, test = stratified_split(labels, TEST_FRACTION, TEST_SEED)
    train, val = stratified_split(labels[rest], val_fraction, seed)
    train, val = rest[train], rest[val]
    return (images[train], labels[train]), (images[val], labels[val]), (images[test], labels[test])


@register_dataset("digits")
def build_digits(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    on_device: bool = False,
    val_fraction: float = 0.2,
) -> DataBundle:
    """Digits as 1×8×8 float tensors; a fixed 20 % test split, ``val_fraction`` of the rest
    as val (seeded)."""
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = (
        (x[:, None], y) for x, y in digits_splits(seed, val_fraction)
    )
    if on_device:
        return _device_digits(
            train_x, train_y, val_x, val_y, test_x, test_y, views=views, augment=augment
        )
    return in_memory_bundle(
        torch.from_numpy(train_x),
        torch.from_numpy(train_y),
        torch.from_numpy(val_x),
        torch.from_numpy(val_y),
        num_classes=10,
        views=views,
        augment=augment,
        shift=1,
        name="digits",
        test=(torch.from_numpy(test_x), torch.from_numpy(test_y)),
    )


def _device_digits(
    train_x: NDArray[np.float32],
    train_y: NDArray[np.int64],
    val_x: NDArray[np.float32],
    val_y: NDArray[np.int64],
    test_x: NDArray[np.float32],
    test_y: NDArray[np.int64],
    *,
    views: int,
    augment: bool,
) -> DataBundle:
    """Images N×8×8 float32 in [0, 1], labels N int64 (``digits_splits``) held as
    uint8 0…16 pixels; the pipeline shifts (as ``RandomShift(1)``) and normalises with the
    train split's statistics, rescaled from [0, 1] to the 0…255 units ``Normalize`` reads."""
    mean, std = float(train_x.mean()), max(float(train_x.std(ddof=1)), 1e-8)
    scale = 16.0 / 255.0
    ops: list[BatchOp] = [RandomCrop((8, 8), (1, 1, 1, 1), fill=0)] if augment else []
    ops.append(Normalize([mean * scale], [std * scale]))

    def raw(x: NDArray[np.float32]) -> torch.Tensor:
        return torch.from_numpy(np.rint(x * 16.0).astype(np.uint8))

    return device_bundle(
        (raw(train_x), torch.from_numpy(train_y).long()),
        (raw(val_x), torch.from_numpy(val_y).long()),
        BatchPipeline(ops, views),
        num_classes=10,
        name="digits",
        test=(raw(test_x), torch.from_numpy(test_y).long()),
    )
