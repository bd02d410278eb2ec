"""``imagenet_shards``: ImageNet-style data streamed from tar shards (``data/shards.py``).

The root is the folder or ``s3://`` prefix that ``ncsweep data shard`` wrote: the
``train-*.tar`` and ``val-*.tar`` shards with their indexes. Nothing is copied to the node:
each rank streams its share of the shards per epoch. Classes and their counts come from the
train index. ``train_eval`` streams the train shards in their written order, un-augmented.

Splits: unlike every other dataset, ``val`` is NOT carved from the training data: it streams
the official ``val-*.tar`` shards (``DataBundle.val_from_train`` is False), and there is no
test split (``test`` is None; asking for a test metric, ``eval.test``, is an error that says
so). Use ``imagenet`` (the ImageFolder layout) where val must come from train and test
numbers are wanted.
"""

from __future__ import annotations

from typing import Any

from ncsweep.data._registry import DataBundle, DatasetNotFoundError, register_dataset
from ncsweep.data.shards import HOW, ShardedImageDataset, read_index, resolve_decode
from ncsweep.data.transforms import ImageTransform, imagenet_transforms

__all__ = ["NO_TEST", "build_imagenet_shards"]

NO_TEST = (
    "imagenet_shards streams the official val shards as its val split (what the search "
    "reads), so it has no held-out test split; use the imagenet dataset (ImageFolder layout, "
    "val carved from train, the official val as test) for test numbers"
)


@register_dataset("imagenet_shards", streams=True)
def build_imagenet_shards(
    *,
    root: str | None,
    views: int,
    augment: bool,
    seed: int,
    image_size: int = 224,
    resize_size: int = 256,
    shuffle_buffer: int = 1000,
    decode: str = "auto",
) -> DataBundle:
    """ImageNet from tar shards (local or s3://), streamed per rank; decoded on the GPU
    where CUDA is present (decode=auto|cpu|cuda)."""
    if not root:
        raise DatasetNotFoundError(
            "imagenet_shards: data.root must name the shard folder or s3:// prefix; "
            + HOW.format(url="URL")
        )
    train_index, val_index = read_index(root, "train"), read_index(root, "val")
    if val_index["classes"] != train_index["classes"]:
        raise DatasetNotFoundError(
            f"imagenet_shards: the train and val indexes under {root} name different classes; "
            "write both splits from the same ImageFolder root"
        )
    device = resolve_decode(decode)
    train_tf, eval_tf = imagenet_transforms(
        views=views,
        augment=augment,
        size=image_size,
        resize=resize_size,
        from_tensor=device != "cpu",
    )

    def split(
        index: dict[str, Any], transform: ImageTransform, shuffle: bool
    ) -> ShardedImageDataset:
        return ShardedImageDataset(
            root,
            index["split"],
            transform=transform,
            shuffle=shuffle,
            buffer_size=shuffle_buffer,
            seed=seed,
            decode=device,
            index=index,
        )

    return DataBundle(
        train=split(train_index, train_tf, True),
        train_eval=split(train_index, eval_tf, False),
        val=split(val_index, eval_tf, False),
        num_classes=len(train_index["classes"]),
        input_shape=(3, image_size, image_size),
        class_counts=list(train_index["class_counts"]),
        name="imagenet_shards",
        no_test_reason=NO_TEST,
        val_from_train=False,
    )
