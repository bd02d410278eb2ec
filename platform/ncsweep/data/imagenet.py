"""ImageNet (and ImageNet-100 style subsets) from an ImageFolder layout.

Layout: ``root/train/<class>/<image>`` and ``root/val/<class>/<image>`` (val sorted into
class folders, as torchvision's ``ImageFolder`` expects). Classes are the sorted folder names
of ``train``; ``num_classes=N`` keeps the first N of them, ``class_list=FILE`` keeps the
classes named in FILE (one per line, ``#`` comments; a relative path is taken from root),
e.g. the standard ImageNet-100 list. The directory is scanned once per split; ``train``,
``train_eval`` and ``val`` share the scan of ``train``.

Splits: ``val`` is ``val_fraction`` of each class of ``root/train`` (4 % by default: about
51,000 images of ImageNet-1K and 5,000 of ImageNet-100, the size of the official val split it
replaces), drawn with the run's seed; ``train`` is the rest; ``test`` is the official
``root/val`` folder, which the search never sees.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torchvision.datasets import ImageFolder
from torchvision.datasets.vision import StandardTransform

from ncsweep.data._registry import DataBundle, DatasetNotFoundError, register_dataset
from ncsweep.data.remote import default_cache_dir
from ncsweep.data.splits import check_fraction, stratified_split
from ncsweep.data.transforms import imagenet_transforms

__all__ = ["build_imagenet", "select_classes"]

_HOW = (
    "put the ImageFolder layout (train/<class>/*.JPEG, val/<class>/*.JPEG) under {root}, "
    "or pass --set data.root=DIR or --set data.root=s3://bucket/prefix"
)


class _SubsetFolder(ImageFolder):
    """``ImageFolder`` restricted to ``classes`` (label = position in that list)."""

    def __init__(self, root: Path, classes: list[str], transform) -> None:
        self._wanted = list(classes)
        super().__init__(str(root), transform=transform)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return self._wanted, {c: i for i, c in enumerate(self._wanted)}


def select_classes(root: Path, num_classes: int | None, class_list: str | None) -> list[str]:
    """The class folder names to use, in label order (see the module docstring)."""
    available = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if class_list is not None:
        path = Path(class_list).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise DatasetNotFoundError(f"imagenet: class_list file {path} does not exist")
        wanted = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
        wanted = [c for c in wanted if c]
        unknown = sorted(set(wanted) - set(available))
        if unknown:
            raise ValueError(
                f"imagenet: class_list {path} names classes not in {root / 'train'}: {unknown[:5]}"
            )
        if num_classes is not None and num_classes != len(wanted):
            raise ValueError(
                f"imagenet: num_classes={num_classes} but {path} lists {len(wanted)} classes"
            )
        return wanted
    if num_classes is None:
        return available
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or not 2 <= num_classes <= len(available)
    ):
        raise ValueError(
            f"imagenet: num_classes must be an integer in [2, {len(available)}], got {num_classes!r}"
        )
    return available[:num_classes]


def _restricted(folder: ImageFolder, indices, transform) -> ImageFolder:
    """A shallow copy of ``folder`` holding only the samples at ``indices``, with
    ``transform`` (``classes`` and ``class_to_idx`` unchanged)."""
    out = copy.copy(folder)
    out.samples = [folder.samples[int(i)] for i in indices]
    out.imgs = out.samples
    out.targets = [target for _, target in out.samples]
    out.transform = transform
    out.transforms = StandardTransform(transform, None)
    return out


def _folder(root: Path, split: str, classes: list[str], transform) -> ImageFolder:
    try:
        return _SubsetFolder(root / split, classes, transform)
    except FileNotFoundError as err:
        raise DatasetNotFoundError(
            f"imagenet: {root / split} lacks images for some classes ({err}); "
            + _HOW.format(root=root)
        ) from None


@register_dataset("imagenet", remote_paths=("train", "val"))
def build_imagenet(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    num_classes: int | None = None,
    class_list: str | None = None,
    image_size: int = 224,
    resize_size: int = 256,
    val_fraction: float = 0.04,
) -> DataBundle:
    """ImageNet-1K (or a class subset): train with RandomResizedCrop(image_size) + flip,
    val (part of train)/test (official val)/train_eval with Resize(resize_size) +
    CenterCrop(image_size)."""
    check_fraction("val_fraction", val_fraction)
    base = Path(root).expanduser() if root else default_cache_dir() / "imagenet"
    missing = [split for split in ("train", "val") if not (base / split).is_dir()]
    if missing:
        raise DatasetNotFoundError(
            f"imagenet: looked for {', '.join(str(base / s) for s in missing)} and found no "
            "directory; " + _HOW.format(root=base)
        )
    classes = select_classes(base, num_classes, class_list)
    train_tf, eval_tf = imagenet_transforms(
        views=views, augment=augment, size=image_size, resize=resize_size
    )
    scanned = _folder(base, "train", classes, train_tf)
    keep, held = stratified_split(scanned.targets, val_fraction, seed)
    train = _restricted(scanned, keep, train_tf)
    k = len(classes)
    return DataBundle(
        train=train,
        train_eval=_restricted(scanned, keep, eval_tf),
        val=_restricted(scanned, held, eval_tf),
        test=_folder(base, "val", classes, eval_tf),
        num_classes=k,
        input_shape=(3, image_size, image_size),
        class_counts=torch.bincount(torch.as_tensor(train.targets), minlength=k).tolist(),
        name="imagenet",
    )
