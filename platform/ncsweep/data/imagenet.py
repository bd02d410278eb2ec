"""ImageNet (and ImageNet-100 style subsets) from an ImageFolder layout.

Layout: ``root/train/<class>/<image>`` and ``root/val/<class>/<image>`` (val sorted into
class folders, as torchvision's ``ImageFolder`` expects). Classes are the sorted folder names
of ``train``; ``num_classes=N`` keeps the first N of them, ``class_list=FILE`` keeps the
classes named in FILE (one per line, ``#`` comments; a relative path is taken from root),
e.g. the standard ImageNet-100 list. The directory is scanned once per split; ``train`` and
``train_eval`` share the scan.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torchvision.datasets import ImageFolder
from torchvision.datasets.vision import StandardTransform

from ncsweep.data._registry import DataBundle, DatasetNotFoundError, register_dataset
from ncsweep.data.remote import default_cache_dir
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
) -> DataBundle:
    """ImageNet-1K (or a class subset): train with RandomResizedCrop(image_size) + flip,
    val/train_eval with Resize(resize_size) + CenterCrop(image_size)."""
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
    train = _folder(base, "train", classes, train_tf)
    train_eval = copy.copy(train)
    train_eval.transform = eval_tf
    train_eval.transforms = StandardTransform(eval_tf, None)
    val = _folder(base, "val", classes, eval_tf)
    k = len(classes)
    return DataBundle(
        train=train,
        train_eval=train_eval,
        val=val,
        num_classes=k,
        input_shape=(3, image_size, image_size),
        class_counts=torch.bincount(torch.as_tensor(train.targets), minlength=k).tolist(),
        name="imagenet",
    )
