"""Corrupted test sets: the published ones when a root has them, else generated and cached.

Published layouts (Hendrycks & Dietterich), local or ``s3://``:

- CIFAR-10-C / CIFAR-100-C: ``root/<corruption>.npy`` uint8 (5·N)×32×32×3, severity s in
  rows (s−1)·N … s·N, and ``root/labels.npy`` (5·N labels, the same N repeated);
- ImageNet-C: ``root/<corruption>/<severity>/<wnid>/*.JPEG``.

Without them, :func:`clean_source` gives the clean test split of a registry dataset as uint8
images plus the function that turns them into model inputs, and
:func:`generated_set` corrupts it with ``data.corruptions`` (cached under
``~/.cache/ncsweep/corruptions``, keyed by the images' hash, the corruption, severity and seed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncsweep.data._registry import DatasetNotFoundError
from ncsweep.data.corruption_ops import CORRUPTIONS, SEVERITIES, corrupt_images
from ncsweep.data.remote import default_cache_dir, is_remote, materialize

__all__ = [
    "CleanSource",
    "CorruptedSets",
    "clean_source",
    "find_published",
    "generated_set",
    "CLEAN_SOURCES",
]

_VERSION = "2"  # 2: ImageNet-C parameters for images of 85 px and more


@dataclass
class CleanSource:
    """A clean test split as uint8 N×H×W×C, its labels (N) and ``to_input`` (uint8 batch ->
    normalised float B×C×H×W, the model's input)."""

    images: np.ndarray
    labels: np.ndarray
    to_input: Callable[[np.ndarray], torch.Tensor]


#: builder(root, seed, options, split) of a dataset's clean train or test split
_CleanBuilder = Callable[[str | None, int, dict[str, Any], str], CleanSource]


def _digits(root: str | None, seed: int, options: dict[str, Any], split: str) -> CleanSource:
    from ncsweep.data.digits import digits_splits

    train, _, test = digits_splits(seed, options.get("val_fraction", 0.2))
    mean, std = float(train[0].mean()), max(float(train[0].std(ddof=1)), 1e-8)

    def to_input(batch: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(batch.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        return (x - mean) / std

    x, y = train if split == "train" else test
    return CleanSource(np.round(x * 255).astype(np.uint8)[..., None], y, to_input)


def _cifar(name: str) -> _CleanBuilder:
    def build(root: str | None, seed: int, options: dict[str, Any], split: str) -> CleanSource:
        from ncsweep.data.cifar import load_cifar
        from ncsweep.data.transforms import CIFAR10_STATS, CIFAR100_STATS

        train, test = load_cifar(name, root or default_cache_dir())
        images, labels = train if split == "train" else test
        mean, std = (
            torch.tensor(s).view(1, 3, 1, 1)
            for s in (CIFAR10_STATS if name == "cifar10" else CIFAR100_STATS)
        )

        def to_input(batch: np.ndarray) -> torch.Tensor:
            x = torch.from_numpy(batch.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
            return (x - mean) / std

        return CleanSource(images, np.asarray(labels), to_input)

    return build


# dataset name -> builder(root, seed, options, split) of its clean train or test split
CLEAN_SOURCES: dict[str, _CleanBuilder] = {
    "digits": _digits,
    "cifar10": _cifar("cifar10"),
    "cifar100": _cifar("cifar100"),
}


def clean_source(
    name: str,
    *,
    root: str | None,
    seed: int,
    options: dict[str, Any] | None = None,
    split: str = "test",
) -> CleanSource:
    """The clean ``test`` or ``train`` split of dataset ``name`` (see :data:`CLEAN_SOURCES`):
    the dataset's test split (digits: its fixed held-out part, CIFAR: the official test
    batch), or its training split (digits: without the val part; CIFAR: every train batch)."""
    if name not in CLEAN_SOURCES:
        raise DatasetNotFoundError(
            f"corruption: no generator for dataset {name!r} (generated sets exist for "
            f"{', '.join(CLEAN_SOURCES)}); pass the published set's root with "
            "eval.suite_options.corruption.root (CIFAR-10-C layout <corruption>.npy + "
            "labels.npy, or ImageNet-C <corruption>/<severity>/<wnid>/)"
        )
    if root is not None and is_remote(root):
        from ncsweep.data._registry import DATASETS

        root = materialize(root, DATASETS.get(name).remote_paths)
    return CLEAN_SOURCES[name](root, seed, dict(options or {}), split)


def generated_set(
    source: CleanSource, name: str, severity: int, seed: int, cache_dir: str | Path | None = None
) -> np.ndarray:
    """``corrupt_images(source.images, name, severity, seed)``, cached on disk."""
    digest = hashlib.sha1(source.images.tobytes()).hexdigest()[:16]
    base = Path(cache_dir or default_cache_dir().parent / "corruptions").expanduser()
    path = base / f"{digest}-{name}-{severity}-{seed}-v{_VERSION}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        if cached.shape == source.images.shape:
            return cached
    out = corrupt_images(source.images, name, severity, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{np.random.default_rng().integers(1 << 30)}.npy")
    np.save(temp, out)
    temp.replace(path)
    return out


@dataclass
class CorruptedSets:
    """Where the corrupted images come from: ``kind`` is ``cifar-c``, ``imagenet-c`` or
    ``generated``; ``root`` the local directory of a published set."""

    kind: str
    root: Path | None = None

    def _published(self) -> Path:
        """``root``: set for ``cifar-c`` and ``imagenet-c``, the published sets."""
        if self.root is None:
            raise ValueError(f"{self.kind} corrupted images have no root directory")
        return self.root

    def cifar_c(self, name: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 N×32×32×3, labels N) of one corruption and severity of CIFAR-10/100-C."""
        data = np.load(self._published() / f"{name}.npy", mmap_mode="r")
        labels = np.load(self._published() / "labels.npy")
        n = len(data) // len(SEVERITIES)
        rows = slice((severity - 1) * n, severity * n)
        return np.ascontiguousarray(data[rows]), np.asarray(labels[rows])

    def imagenet_c_folder(self, name: str, severity: int) -> Path:
        return self._published() / name / str(severity)


def _local(root: str, paths: list[str]) -> Path:
    return Path(materialize(root, paths) if is_remote(root) else root).expanduser()


def find_published(root: str | None) -> CorruptedSets:
    """Inspect ``root``: CIFAR-10-C style, ImageNet-C style, or ``None`` -> generated.

    Raises:
        DatasetNotFoundError: ``root`` is given but holds neither layout; the message lists
            what was looked for.
    """
    if root is None:
        return CorruptedSets("generated")
    names = list(CORRUPTIONS)
    cifar_files = [f"{n}.npy" for n in names] + ["labels.npy"]
    if is_remote(root):
        try:
            return CorruptedSets("cifar-c", _local(root, cifar_files))
        except DatasetNotFoundError:
            pass
        try:
            return CorruptedSets("imagenet-c", _local(root, names))
        except DatasetNotFoundError:
            pass
    else:
        base = Path(root).expanduser()
        if all((base / f).is_file() for f in cifar_files):
            return CorruptedSets("cifar-c", base)
        if all((base / n / str(s)).is_dir() for n in names for s in SEVERITIES):
            return CorruptedSets("imagenet-c", base)
    raise DatasetNotFoundError(
        f"corruption root {root}: found neither CIFAR-10-C/100-C (looked for "
        f"{', '.join(cifar_files[:2])}, ... {len(cifar_files)} files: <corruption>.npy for "
        f"each of {', '.join(names)}, and labels.npy) nor ImageNet-C (looked for "
        "<corruption>/<1..5>/<wnid>/ folders)"
    )
