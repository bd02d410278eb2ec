"""CIFAR-10 and CIFAR-100 from torchvision's on-disk format (nothing is downloaded).

Layout under ``root``: ``cifar-10-batches-py/{data_batch_1..5, test_batch}`` or
``cifar-100-python/{train, test}``, the pickles torchvision's ``CIFAR10(download=True)``
writes. They are read here directly rather than through ``torchvision.datasets.CIFAR10``
because that class insists on the official MD5 sums (in ``__init__`` and again for the
metadata), which rejects subsets, re-encoded copies and test fixtures; the decoding is the
same (``data`` N×3072 uint8 rows -> N×32×32×3, labels from ``labels``/``fine_labels``) and
samples go through PIL like torchvision's, so its transforms apply unchanged. The pickles
may come from a shared ``s3://`` root, so they are read with ``load_plain_pickle``, which
builds dicts, lists, strings, numbers and numeric arrays only and never calls anything else.

Splits: ``val`` is ``val_fraction`` (10 % by default) of each class of the training batches,
drawn with the run's seed (``splits.stratified_split``); ``train`` is the rest; ``test`` is
the official test split (``test_batch`` / ``test``), which the search never sees.
The arrays are loaded once and shared by ``train`` and ``train_eval`` (different transforms).
With ``on_device`` they become uint8 N×3×32×32 tensors in ``TensorImageDataset``s whose
``BatchPipeline`` is built from the same torchvision transforms (``data.augment``): the
training loop augments whole batches on its device, with the same distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from torch.utils.data import Dataset

from ncsweep.data._registry import DataBundle, DatasetNotFoundError, register_dataset
from ncsweep.data._safe_pickle import load_plain_pickle
from ncsweep.data.augment import BatchPipeline
from ncsweep.data.in_memory import device_bundle
from ncsweep.data.remote import default_cache_dir
from ncsweep.data.splits import check_fraction, stratified_split
from ncsweep.data.transforms import (
    CIFAR10_STATS,
    CIFAR100_STATS,
    ImageTransform,
    cifar_transforms,
)

__all__ = ["ImageArrayDataset", "build_cifar10", "build_cifar100", "load_cifar"]

_LAYOUTS = {
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        10,
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], 100),
}


class ImageArrayDataset(Dataset[tuple[torch.Tensor | Image.Image, int]]):
    """uint8 images N×H×W×C in memory, returned through PIL and ``transform``.

    ``dataset[i]`` -> ``(transform(PIL image), int label)``; ``targets`` is the N labels.
    """

    def __init__(
        self, data: NDArray[np.uint8], targets: Sequence[int], transform: ImageTransform | None
    ) -> None:
        self.data = data
        self.targets = torch.as_tensor(np.asarray(targets), dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | Image.Image, int]:
        img = Image.fromarray(self.data[index])
        x = self.transform(img) if self.transform is not None else img
        return x, int(self.targets[index])

    def subset(self, indices: torch.Tensor) -> ImageArrayDataset:
        """The samples at ``indices`` (a copy of those rows), same transform."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageArrayDataset(self.data[idx], self.targets[idx].tolist(), self.transform)


def _missing(name: str, root: Path, folder: str, missing: list[str]) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"{name}: looked for {root / folder} and did not find {', '.join(missing)}. Put "
        f"torchvision's {folder} under {root} (e.g. torchvision.datasets."
        f"{name.upper()}('{root}', download=True) on a machine with internet), or pass "
        "--set data.root=DIR or --set data.root=s3://bucket/prefix"
    )


def load_cifar(
    name: str, root: str | Path
) -> tuple[tuple[np.ndarray, list[int]], tuple[np.ndarray, list[int]]]:
    """((train images N×32×32×3 uint8, labels), (test images, labels)) for cifar10/cifar100."""
    folder, train_files, test_files, _ = _LAYOUTS[name]
    root = Path(root).expanduser()
    base = root / folder
    missing = [f for f in (*train_files, *test_files) if not (base / f).is_file()]
    if missing:
        raise _missing(name, root, folder, missing)

    def read(files: list[str]) -> tuple[np.ndarray, list[int]]:
        rows, labels = [], []
        for f in files:
            data, file_labels = _batch(base / f)
            rows.append(data)
            labels.extend(file_labels)
        data = np.concatenate(rows).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(data), labels

    return read(train_files), read(test_files)


def _batch(path: Path) -> tuple[np.ndarray, list[int]]:
    """One batch file: ``data`` N×3072 uint8 and its N labels, checked; errors name the file.

    Read with :func:`load_plain_pickle`: the files may come from a shared ``s3://`` root,
    and a plain ``pickle.load`` would run any callable a writer of the bucket put there.
    """
    entry = load_plain_pickle(path)
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: expected a dict (a CIFAR batch), got {type(entry).__name__}")
    data = entry.get("data")
    key = "labels" if "labels" in entry else "fine_labels"
    labels = entry.get(key)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
        raise ValueError(f"{path}: 'data' must be an N×3072 uint8 array")
    if data.shape[1] != 3072 or labels is None or len(labels) != data.shape[0]:
        raise ValueError(
            f"{path}: expected 'data' N×3072 and N 'labels'/'fine_labels', got data "
            f"{data.shape} and {None if labels is None else len(labels)} labels"
        )
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels must be integers, got {labels.dtype}")
    return data, labels.tolist()


def _build(
    name: str,
    stats: tuple[Sequence[float], Sequence[float]],
    *,
    root: str | None,
    views: int,
    augment: bool,
    on_device: bool,
    seed: int,
    val_fraction: float,
) -> DataBundle:
    check_fraction("val_fraction", val_fraction)
    (all_x, all_y), (test_x, test_y) = load_cifar(name, root or default_cache_dir())
    keep, held = stratified_split(all_y, val_fraction, seed)
    labels = np.asarray(all_y)
    train_x, train_y = all_x[keep], labels[keep].tolist()
    val_x, val_y = all_x[held], labels[held].tolist()
    del all_x
    num_classes = _LAYOUTS[name][3]
    train_tf, eval_tf = cifar_transforms(stats, views=views, augment=augment)
    if on_device:

        def raw(x: np.ndarray, y: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
            chw = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
            return chw, torch.as_tensor(y, dtype=torch.long)

        pipeline = BatchPipeline.from_torchvision(train_tf)
        return device_bundle(
            raw(train_x, train_y),
            raw(val_x, val_y),
            pipeline,
            num_classes=num_classes,
            name=name,
            test=raw(test_x, test_y),
        )
    return DataBundle(
        train=ImageArrayDataset(train_x, train_y, train_tf),
        train_eval=ImageArrayDataset(train_x, train_y, eval_tf),
        val=ImageArrayDataset(val_x, val_y, eval_tf),
        num_classes=num_classes,
        input_shape=(3, 32, 32),
        class_counts=np.bincount(np.asarray(train_y), minlength=num_classes).tolist(),
        name=name,
        test=ImageArrayDataset(test_x, test_y, eval_tf),
    )


@register_dataset("cifar10", remote_paths=("cifar-10-batches-py",))
def build_cifar10(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    on_device: bool = False,
    val_fraction: float = 0.1,
) -> DataBundle:
    """CIFAR-10: 50,000 train (10 % of it val) / 10,000 test 3×32×32 images, 10 classes."""
    return _build(
        "cifar10",
        CIFAR10_STATS,
        root=root,
        views=views,
        augment=augment,
        on_device=on_device,
        seed=seed,
        val_fraction=val_fraction,
    )


@register_dataset("cifar100", remote_paths=("cifar-100-python",))
def build_cifar100(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    on_device: bool = False,
    val_fraction: float = 0.1,
) -> DataBundle:
    """CIFAR-100: 50,000 train (10 % of it val) / 10,000 test 3×32×32 images, 100 classes."""
    return _build(
        "cifar100",
        CIFAR100_STATS,
        root=root,
        views=views,
        augment=augment,
        on_device=on_device,
        seed=seed,
        val_fraction=val_fraction,
    )
