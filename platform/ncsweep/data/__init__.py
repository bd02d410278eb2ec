"""Dataset registry: ``create_dataset(name, ...) -> DataBundle`` and ``list_datasets()``.

Importing this package registers the built-in datasets: ``digits`` (bundled, offline),
``synthetic`` (Gaussian mixture), ``cifar10``, ``cifar100`` and ``imagenet`` (read from a
local or ``s3://`` root), ``imagenet_shards`` (tar shards streamed from a folder or ``s3://``), ``digits_subset`` and the transfer targets of ``data.transfer``. Any of them can be long-tailed with ``imbalance=``.

Example:
    >>> from ncsweep.data import create_dataset
    >>> bundle = create_dataset("digits", imbalance={"ratio": 0.1, "profile": "exp"})
    >>> bundle.input_shape, bundle.num_classes
    ((1, 8, 8), 10)
"""

from ncsweep.data import (  # noqa: F401  (registration)
    cifar,
    digits,
    digits_subset,
    imagenet,
    imagenet_shards,
    synthetic,
    transfer,
)
from ncsweep.data._registry import (
    DATASETS,
    DataBundle,
    DatasetNotFoundError,
    create_dataset,
    dataset_options,
    is_streamed,
    list_datasets,
    register_dataset,
)
from ncsweep.data.in_memory import TensorImageDataset
from ncsweep.data.longtail import long_tail_counts

__all__ = [
    "DATASETS",
    "DataBundle",
    "DatasetNotFoundError",
    "TensorImageDataset",
    "create_dataset",
    "dataset_options",
    "is_streamed",
    "list_datasets",
    "long_tail_counts",
    "register_dataset",
]
