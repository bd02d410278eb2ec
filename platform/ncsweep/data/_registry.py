"""The dataset registry: ``@register_dataset`` fills it, ``create_dataset`` is the one factory.

A builder is a function ``build(*, root, views, augment, seed, **options) -> DataBundle``.
A builder that also takes ``on_device`` can hold its images as uint8 tensors and leave the
augmentation to the training loop (``TensorImageDataset`` with a ``BatchPipeline``):
``create_dataset(augment_on="device")`` asks it to. Its keyword-only parameters after the
common ones are its options, with their defaults
(the entry's options model, :func:`ncsweep.registry.options_from_signature`):
``create_dataset`` checks user options against them, so a typo fails with the allowed list.
The registry, not the builder, resolves ``s3://`` roots (``remote.py``) and applies the long
tail (``longtail.py``), so every dataset gets both without writing a line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..registry import Registry, options_from_signature
from .bundle import DataBundle, DatasetNotFoundError
from .longtail import apply_imbalance, validate_imbalance
from .remote import is_remote, materialize

__all__ = [
    "AUGMENT_ON",
    "DATASETS",
    "DataBundle",
    "DatasetNotFoundError",
    "create_dataset",
    "dataset_options",
    "is_streamed",
    "list_datasets",
    "register_dataset",
    "resolve_augment_on",
    "supports_device_augmentation",
]

_COMMON = ("root", "views", "augment", "seed")
_ON_DEVICE = "on_device"  # optional common parameter: the builder supports augment_on=device
AUGMENT_ON = ("auto", "device", "loader")
_Builder = TypeVar("_Builder", bound=Callable[..., DataBundle])


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., DataBundle]
    remote_paths: tuple[str, ...]
    streams: bool = False


DATASETS: Registry[_Entry] = Registry("dataset")


def register_dataset(
    name: str, *, remote_paths: Sequence[str] = (), streams: bool = False
) -> Callable[[_Builder], _Builder]:
    """Register a dataset builder under ``name``.

    Args:
        name: the registry name (``create_dataset(name)``).
        remote_paths: paths below the root that the builder reads; for an ``s3://`` root only
            these are copied into the local cache. Empty: the builder needs no root.
        streams: the builder reads its root (local or ``s3://``) itself, as a stream; the
            root is passed unchanged, never copied into the cache.
    """

    def decorator(build: _Builder) -> _Builder:
        params = inspect.signature(build).parameters
        missing = [p for p in _COMMON if p not in params]
        if missing:
            raise TypeError(f"dataset builder {build.__name__} lacks parameters {missing}")
        DATASETS.register(
            name,
            _Entry(build, tuple(remote_paths), streams),
            options=options_from_signature(build, name, skip=(*_COMMON, _ON_DEVICE)),
            description=(build.__doc__ or "").strip().split("\n")[0],
        )
        return build

    return decorator


def list_datasets() -> list[str]:
    """Registered dataset names, sorted."""
    return DATASETS.names()


def is_streamed(name: str) -> bool:
    """True for a dataset whose splits are streamed ``IterableDataset``s (no random access)."""
    return DATASETS.get(name).streams


def dataset_options(name: str) -> dict[str, Any]:
    """The options ``name`` accepts, with their defaults."""
    return DATASETS.defaults(name)


def supports_device_augmentation(name: str) -> bool:
    """Whether ``name`` can hold its training images as uint8 tensors augmented on the device."""
    return _ON_DEVICE in inspect.signature(DATASETS.get(name).build).parameters


def resolve_augment_on(name: str, augment_on: str) -> bool:
    """True when ``name`` is to be built for augmentation on the device (``augment_on``:
    ``auto`` = where the dataset supports it, ``device`` = required, ``loader`` = never)."""
    if augment_on not in AUGMENT_ON:
        raise ValueError(f"augment_on must be one of {', '.join(AUGMENT_ON)}; got {augment_on!r}")
    supported = supports_device_augmentation(name)
    if augment_on == "device" and not supported:
        able = [n for n in DATASETS.names() if supports_device_augmentation(n)]
        raise ValueError(
            f"dataset {name!r} cannot augment on the device (data.augment_on=device); "
            f"datasets that can: {', '.join(able)}; use data.augment_on=loader or auto"
        )
    return supported and augment_on != "loader"


def create_dataset(
    name: str,
    *,
    root: str | None = None,
    views: int = 1,
    augment: bool = True,
    augment_on: str = "loader",
    imbalance: dict[str, Any] | None = None,
    seed: int = 0,
    cache_dir: str | None = None,
    **options: Any,
) -> DataBundle:
    """Build the train / train_eval / val / test splits of a registered dataset.

    ``val`` is carved from the training data (seeded by ``seed``, its share the dataset's
    ``val_fraction`` option where it has one); ``test`` is held out and never depends on
    ``seed`` (``DataBundle``).

    Args:
        name: one of ``list_datasets()``.
        root: local directory or ``s3://bucket/prefix`` holding the files (torchvision's
            layouts); ``None`` uses the dataset's default (``~/.cache/ncsweep/datasets``).
        views: augmented views per training sample (2 for SupCon).
        augment: ``False`` makes ``train`` yield un-augmented images (still V views).
        imbalance: ``{"ratio": r, "profile": "exp" | "step"}`` makes train long-tailed;
            see ``longtail.long_tail_counts``.
        augment_on: ``loader`` (default): samples come out augmented and normalised, as
            floats; ``device``: every split is a ``TensorImageDataset`` of raw uint8
            samples carrying a ``BatchPipeline`` that the caller applies on its device
            (``dataset.augment_batch(x, generator)``; ``train_eval``, ``val`` and ``test``
            carry ToFloat+Normalize only); ``auto``: ``device`` where the dataset supports
            it (``supports_device_augmentation``), else ``loader``.
        seed: seeds the train/val split, synthetic train/val data and the long-tail subset
            (not augmentation, never the test split).
        cache_dir: local cache for ``s3://`` roots (default ``~/.cache/ncsweep/datasets``).
        **options: dataset-specific; ``dataset_options(name)`` lists them.

    Raises:
        ValueError: unknown name, option or bad value (the message lists the allowed ones).
        DatasetNotFoundError: the files are missing; the message says where it looked.

    Example:
        >>> bundle = create_dataset("digits", views=2)
        >>> x, y = bundle.train[0]   # x: 2×1×8×8
    """
    entry = DATASETS.get(name)
    options = DATASETS.validate_options(name, options).given()
    if isinstance(views, bool) or not isinstance(views, int) or views < 1:
        raise ValueError(f"views must be an integer >= 1, got {views!r}")
    long_tail = validate_imbalance(imbalance)
    if entry.streams and long_tail is not None:
        raise ValueError(
            f"dataset {name!r} is streamed from shards and cannot be long-tailed on the fly; "
            "drop data.imbalance, or write shards from a long-tailed ImageFolder"
        )
    if root is not None and is_remote(root) and not entry.streams:
        if not entry.remote_paths:
            raise ValueError(f"dataset {name!r} reads no files; root {root!r} makes no sense")
        root = materialize(root, entry.remote_paths, cache_dir=cache_dir)
    if resolve_augment_on(name, augment_on):
        options[_ON_DEVICE] = True
    bundle = entry.build(root=root, views=views, augment=augment, seed=seed, **options)
    bundle.name = name
    if long_tail is not None:
        bundle = apply_imbalance(bundle, seed=seed, **long_tail)
    return bundle
