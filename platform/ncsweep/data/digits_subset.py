"""Digits restricted to some classes (``classes=[0, 1, 2, 3, 4]``), relabelled 0 … n−1.

The source side of the offline transfer target "digits 0–4 → 5–9": train on five digits,
then probe the frozen encoder on the other five (``evaluate.transfer``). Same split, seed and
normalisation as ``digits`` (its fixed test split included), so the two halves never share an
image.
"""

from __future__ import annotations

import dataclasses

import torch
from torch.utils.data import Dataset

from ncsweep.data._registry import DataBundle, register_dataset
from ncsweep.data.bundle import Sample
from ncsweep.data.digits import build_digits
from ncsweep.data.in_memory import TensorImageDataset

__all__ = ["build_digits_subset", "select_classes"]


def select_classes(dataset: Dataset[Sample] | None, classes: list[int]) -> TensorImageDataset:
    """The samples whose label is in ``classes``, relabelled by position in ``classes``.

    ``dataset`` is a split of ``build_digits``: always a ``TensorImageDataset``.
    """
    if not isinstance(dataset, TensorImageDataset):
        raise TypeError(f"select_classes needs a TensorImageDataset, got {type(dataset).__name__}")
    mapping = torch.full((int(dataset.targets.max()) + 1,), -1, dtype=torch.long)
    mapping[torch.as_tensor(classes)] = torch.arange(len(classes))
    keep = torch.nonzero(mapping[dataset.targets] >= 0).flatten()
    return TensorImageDataset(
        dataset.images[keep],
        mapping[dataset.targets[keep]],
        augment=dataset.augment,
        views=dataset.views,
        pipeline=dataset.pipeline,
    )


@register_dataset("digits_subset")
def build_digits_subset(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    on_device: bool = False,
    classes: tuple[int, ...] = (0, 1, 2, 3, 4),
    val_fraction: float = 0.2,
) -> DataBundle:
    """Digits with only ``classes`` (distinct digits 0–9, at least two), relabelled."""
    chosen = list(classes)
    if (
        len(chosen) < 2
        or len(set(chosen)) != len(chosen)
        or not all(isinstance(c, int) and 0 <= c <= 9 for c in chosen)
    ):
        raise ValueError(f"classes must be two or more distinct digits 0-9, got {chosen!r}")
    full = build_digits(
        root=root,
        views=views,
        augment=augment,
        seed=seed,
        on_device=on_device,
        val_fraction=val_fraction,
    )
    train = select_classes(full.train, chosen)
    return dataclasses.replace(
        full,
        train=train,
        train_eval=train.without_augmentation(),
        val=select_classes(full.val, chosen),
        test=select_classes(full.test, chosen),
        num_classes=len(chosen),
        class_counts=torch.bincount(train.targets, minlength=len(chosen)).tolist(),
        name="digits_subset",
    )
