"""Transfer (linear evaluation) targets in torchvision's on-disk layouts, as registry datasets.

Each name below is a registered dataset (``create_dataset("dtd", root=...)``), read from a
local or ``s3://`` root in the layout torchvision's class of the same dataset reads (nothing
is downloaded). The official fit split below is cut into ``train`` and ``val`` (``val_fraction``
of each class, 10 % by default, drawn with the run's seed); ``test`` is the split a probe is
scored on (a probe fits on ``train_eval`` and ``val`` together, the whole fit split):

===============  ===================================================  =========================
name             layout under root (torchvision class)                 splits (fit / score)
===============  ===================================================  =========================
flowers102       ``flowers-102/{jpg, imagelabels.mat, setid.mat}``     trnid+valid / tstid
dtd              ``dtd/dtd/{images, labels}`` (DTD)                    train1+val1 / test1
oxford_pets      ``oxford-iiit-pet/{images, annotations}``             trainval / test
stanford_cars    ``stanford_cars/{devkit, cars_train, cars_test}``     train / test
fgvc_aircraft    ``fgvc-aircraft-2013b/data`` (variant level)          trainval / test
food101          ``food-101/{images, meta}``                           train / test
caltech101       ``caltech101/101_ObjectCategories``                   fixed 30 per class / rest
sun397           ``SUN397/{ClassName.txt, a/abbey/...}``               fixed 50 / 50 per class
===============  ===================================================  =========================

``flowers102`` is read here from the same files because torchvision's class insists on the
official MD5 sums of the ``.mat`` files. Caltech101 and SUN397 have no official split in
torchvision: ours is drawn with a fixed seed (``splits.TEST_SEED``, Kornblith et al.'s
protocol sizes), so every run is scored on the same images whatever its seed.
:data:`MEAN_PER_CLASS` names the datasets whose protocol reports mean per-class accuracy.

Options: ``image_size`` (square side the encoder expects; resize of the short side, centre
crop; with ``augment`` the training split uses RandomResizedCrop + flip, and ``views`` > 1
stacks augmented views, so a target can also be trained on) and ``channels`` (1 converts to
grayscale). Images are normalised with ImageNet's
statistics (3 channels) or 0.5/0.5 (1 channel).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets as tvd
from torchvision import transforms as T

from ncsweep.data._registry import DataBundle, DatasetNotFoundError, register_dataset
from ncsweep.data.remote import default_cache_dir
from ncsweep.data.splits import TEST_SEED, check_fraction, stratified_split
from ncsweep.data.transforms import IMAGENET_STATS, MultiView

__all__ = ["MEAN_PER_CLASS", "TRANSFER_DATASETS", "LabelledImages"]

MEAN_PER_CLASS = ("flowers102", "oxford_pets", "fgvc_aircraft", "caltech101")


class LabelledImages(Dataset):
    """Image files and labels: ``dataset[i]`` -> ``(transform(PIL RGB), label)``."""

    def __init__(self, files: Sequence[Path], labels: Sequence[int], transform: Callable) -> None:
        self.files = list(files)
        self.targets = torch.as_tensor(list(labels), dtype=torch.long)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        with Image.open(self.files[index]) as img:
            return self.transform(img.convert("RGB")), int(self.targets[index])

    def subset(self, indices) -> LabelledImages:
        idx = [int(i) for i in indices]
        return LabelledImages(
            [self.files[i] for i in idx], self.targets[idx].tolist(), self.transform
        )


def _transform(image_size: int, channels: int, augment: bool = False) -> Callable:
    """Resize + centre crop (or, to train on a target, RandomResizedCrop + flip), tensor,
    normalisation."""
    if augment:
        steps: list = [T.RandomResizedCrop(image_size, scale=(0.2, 1.0)), T.RandomHorizontalFlip()]
    else:
        steps = [T.Resize(image_size), T.CenterCrop(image_size)]
    if channels == 1:
        steps += [T.Grayscale(1), T.ToTensor(), T.Normalize((0.5,), (0.5,))]
    else:
        steps += [T.ToTensor(), T.Normalize(*IMAGENET_STATS)]
    return T.Compose(steps)


def _require(root: Path, name: str, paths: Sequence[str]) -> None:
    missing = [p for p in paths if not (root / p).exists()]
    if missing:
        raise DatasetNotFoundError(
            f"{name}: looked under {root} for {', '.join(paths)} (torchvision's layout) and did "
            f"not find {', '.join(missing)}; put the dataset there, or pass its root (a local "
            "directory or s3://bucket/prefix)"
        )


def _files_of(tv_dataset) -> list[Path]:
    for attr in ("_image_files", "_images", "_samples"):
        items = getattr(tv_dataset, attr, None)
        if items is not None:
            return [Path(i[0] if isinstance(i, tuple) else i) for i in items]
    raise TypeError(f"cannot list the image files of {type(tv_dataset).__name__}")


def _labels_of(tv_dataset) -> list[int]:
    labels = getattr(tv_dataset, "_labels", None)
    if labels is None:
        labels = [label for _, label in tv_dataset._samples]
    return [int(v) for v in labels]


def _from_torchvision(make: Callable[[str], Any], splits: tuple[Sequence[str], str]):
    fit_files, fit_labels = [], []
    for split in splits[0]:
        ds = make(split)
        fit_files += _files_of(ds)
        fit_labels += _labels_of(ds)
    test = make(splits[1])
    return (fit_files, fit_labels), (_files_of(test), _labels_of(test)), len(test.classes)


def _seeded_split(files_per_class: list[list[Path]], n_fit: int | None, seed: int):
    """Per class: a seeded ``n_fit`` files to fit (half when ``None``), the rest to score."""
    rng = np.random.default_rng(seed)
    fit: tuple[list[Path], list[int]] = ([], [])
    test: tuple[list[Path], list[int]] = ([], [])
    for label, files in enumerate(files_per_class):
        order = rng.permutation(len(files))
        k = len(files) // 2 if n_fit is None or n_fit >= len(files) else n_fit
        for rank, i in enumerate(order):
            target = fit if rank < k else test
            target[0].append(files[i])
            target[1].append(label)
    return fit, test


def _bundle(
    name: str,
    fit,
    test,
    num_classes: int,
    image_size: int,
    channels: int,
    views: int,
    augment: bool,
    seed: int,
    val_fraction: float,
) -> DataBundle:
    """``fit`` and ``test``: (files, labels); val is ``val_fraction`` of each class of fit."""
    check_fraction("val_fraction", val_fraction)
    keep, held = stratified_split(fit[1], val_fraction, seed)
    (train_files, train_labels), (val_files, val_labels) = (
        ([fit[0][i] for i in idx], [fit[1][i] for i in idx]) for idx in (keep, held)
    )
    plain = _transform(image_size, channels)
    train_tf = _transform(image_size, channels, augment) if augment else plain
    if views > 1:
        train_tf = MultiView(train_tf, views)
    train = LabelledImages(train_files, train_labels, train_tf)
    return DataBundle(
        train=train,
        train_eval=LabelledImages(train_files, train_labels, plain),
        val=LabelledImages(val_files, val_labels, plain),
        test=LabelledImages(test[0], test[1], plain),
        num_classes=num_classes,
        input_shape=(channels, image_size, image_size),
        class_counts=torch.bincount(train.targets, minlength=num_classes).tolist(),
        name=name,
    )


def _base(root: str | None) -> Path:
    return Path(root).expanduser() if root else default_cache_dir()


def _check_options(image_size: int, channels: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")


def _torchvision_target(name, folder, required, cls, fit_splits, test_split, **fixed):
    @register_dataset(name, remote_paths=(folder,))
    def build(
        *,
        root: str | None,
        views: int,
        augment: bool,
        seed: int,
        image_size: int = 224,
        channels: int = 3,
        val_fraction: float = 0.1,
    ) -> DataBundle:
        _check_options(image_size, channels)
        base = _base(root)
        _require(base, name, [f"{folder}/{p}" for p in required])
        fit, test, k = _from_torchvision(
            lambda split: cls(str(base), split=split, download=False, **fixed),
            (fit_splits, test_split),
        )
        return _bundle(name, fit, test, k, image_size, channels, views, augment, seed, val_fraction)

    build.__doc__ = f"{name}: torchvision's {cls.__name__} layout under root/{folder}."
    return build


_torchvision_target("dtd", "dtd", ("dtd/images", "dtd/labels"), tvd.DTD, ("train", "val"), "test")
_torchvision_target(
    "oxford_pets",
    "oxford-iiit-pet",
    ("images", "annotations"),
    tvd.OxfordIIITPet,
    ("trainval",),
    "test",
)
_torchvision_target("food101", "food-101", ("images", "meta"), tvd.Food101, ("train",), "test")
_torchvision_target(
    "stanford_cars",
    "stanford_cars",
    ("devkit", "cars_train", "cars_test"),
    tvd.StanfordCars,
    ("train",),
    "test",
)
_torchvision_target(
    "fgvc_aircraft",
    "fgvc-aircraft-2013b",
    ("data/images",),
    tvd.FGVCAircraft,
    ("trainval",),
    "test",
    annotation_level="variant",
)


@register_dataset("flowers102", remote_paths=("flowers-102",))
def build_flowers102(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    image_size: int = 224,
    channels: int = 3,
    val_fraction: float = 0.1,
) -> DataBundle:
    """Oxford Flowers-102: train+val (2,040) to fit, test (6,149) to score, 102 classes."""
    from scipy.io import loadmat

    _check_options(image_size, channels)
    base = _base(root) / "flowers-102"
    _require(
        base.parent,
        "flowers102",
        ["flowers-102/jpg", "flowers-102/imagelabels.mat", "flowers-102/setid.mat"],
    )
    labels = loadmat(base / "imagelabels.mat", squeeze_me=True)["labels"].astype(int) - 1
    setid = loadmat(base / "setid.mat", squeeze_me=True)

    def pick(keys):
        ids = np.concatenate([np.atleast_1d(setid[k]) for k in keys]).astype(int)
        return [base / "jpg" / f"image_{i:05d}.jpg" for i in ids], [int(labels[i - 1]) for i in ids]

    return _bundle(
        "flowers102",
        pick(("trnid", "valid")),
        pick(("tstid",)),
        102,
        image_size,
        channels,
        views,
        augment,
        seed,
        val_fraction,
    )


def _class_folders(folder: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in skip)


@register_dataset("caltech101", remote_paths=("caltech101/101_ObjectCategories",))
def build_caltech101(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    image_size: int = 224,
    channels: int = 3,
    fit_per_class: int = 30,
    val_fraction: float = 0.1,
) -> DataBundle:
    """Caltech-101 (101 categories, BACKGROUND_Google left out): a fixed 30 per class to fit."""
    _check_options(image_size, channels)
    base = _base(root)
    _require(base, "caltech101", ["caltech101/101_ObjectCategories"])
    classes = _class_folders(base / "caltech101" / "101_ObjectCategories", ("BACKGROUND_Google",))
    files = [sorted(c.glob("*.jpg")) for c in classes]
    fit, test = _seeded_split(files, fit_per_class, TEST_SEED)
    return _bundle(
        "caltech101",
        fit,
        test,
        len(classes),
        image_size,
        channels,
        views,
        augment,
        seed,
        val_fraction,
    )


@register_dataset("sun397", remote_paths=("SUN397",))
def build_sun397(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    image_size: int = 224,
    channels: int = 3,
    fit_per_class: int = 50,
    val_fraction: float = 0.1,
) -> DataBundle:
    """SUN397 (``ClassName.txt`` lists ``/a/abbey`` ...): a fixed 50 per class to fit, 50 to score."""
    _check_options(image_size, channels)
    base = _base(root)
    _require(base, "sun397", ["SUN397/ClassName.txt"])
    names = [line.strip() for line in (base / "SUN397" / "ClassName.txt").read_text().splitlines()]
    names = [n for n in names if n]
    files = [
        sorted((base / "SUN397" / n.lstrip("/")).glob("*.jpg"))[: 2 * fit_per_class] for n in names
    ]
    fit, test = _seeded_split(files, fit_per_class, TEST_SEED)
    return _bundle(
        "sun397", fit, test, len(names), image_size, channels, views, augment, seed, val_fraction
    )


TRANSFER_DATASETS = (
    "flowers102",
    "dtd",
    "oxford_pets",
    "stanford_cars",
    "fgvc_aircraft",
    "food101",
    "caltech101",
    "sun397",
)
