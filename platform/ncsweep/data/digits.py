"""scikit-learn's bundled handwritten digits (1,797 8×8 images, 10 classes): the offline default.

Pixels 0…16 are scaled to [0, 1], then normalised with the training split's mean and std.
The split is stratified and seeded. Everything is in memory (``TensorImageDataset``);
augmentation is a random shift of ±1 pixel, vectorised over the batch. With ``on_device``
the pixels stay integers (uint8 0…16) and the shift (pad 1 with 0, random 8×8 crop) and the
normalisation run as a ``BatchPipeline`` on the training device; the same distribution.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ncsweep.data._registry import DataBundle, register_dataset
from ncsweep.data.augment import BatchPipeline
from ncsweep.data.augment.ops import BatchOp, Normalize, RandomCrop
from ncsweep.data.in_memory import device_bundle, in_memory_bundle

__all__ = ["build_digits"]


@register_dataset("digits")
def build_digits(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    on_device: bool = False,
    val_fraction: float = 0.25,
) -> DataBundle:
    """Digits as 1×8×8 float tensors; ``val_fraction`` of each class held out (seeded)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    data = load_digits()
    images = (data.images.astype(np.float32) / 16.0)[:, None]
    train_x, val_x, train_y, val_y = train_test_split(
        images, data.target, test_size=val_fraction, stratify=data.target, random_state=seed
    )
    if on_device:
        return _device_digits(train_x, train_y, val_x, val_y, views=views, augment=augment)
    return in_memory_bundle(
        torch.from_numpy(train_x),
        torch.from_numpy(train_y).long(),
        torch.from_numpy(val_x),
        torch.from_numpy(val_y).long(),
        num_classes=10,
        views=views,
        augment=augment,
        shift=1,
        name="digits",
    )


def _device_digits(train_x, train_y, val_x, val_y, *, views: int, augment: bool) -> DataBundle:
    """uint8 0…16 pixels; the pipeline shifts (as ``RandomShift(1)``) and normalises with the
    train split's statistics, rescaled from [0, 1] to the 0…255 units ``Normalize`` reads."""
    mean, std = float(train_x.mean()), max(float(train_x.std(ddof=1)), 1e-8)
    scale = 16.0 / 255.0
    ops: list[BatchOp] = [RandomCrop((8, 8), (1, 1, 1, 1), fill=0)] if augment else []
    ops.append(Normalize([mean * scale], [std * scale]))

    def raw(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.rint(x * 16.0).astype(np.uint8))

    return device_bundle(
        (raw(train_x), torch.from_numpy(train_y).long()),
        (raw(val_x), torch.from_numpy(val_y).long()),
        BatchPipeline(ops, views),
        num_classes=10,
        name="digits",
    )
