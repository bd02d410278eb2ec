"""What a dataset factory returns (:class:`DataBundle`) and the error for missing files:
the types the registry, the long tail and the remote loader share."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset

__all__ = ["DataBundle", "DatasetNotFoundError", "Sample"]

#: One sample ``(x, y)``: ``x`` the image as the split's transform leaves it (a C×H×W or
#: V×C×H×W tensor for every registered builder; a PIL image for an ``ImageArrayDataset``
#: without a transform), ``y`` the int class index.
Sample = tuple[object, int]


class DatasetNotFoundError(ValueError):
    """A dataset's files are not where they were looked for; the message says where and how."""


@dataclass
class DataBundle:
    """The splits of one dataset, ready for ``torch.utils.data.DataLoader``.

    Attributes:
        train: yields ``(x, y)``; ``x`` is augmented, C×H×W, or V×C×H×W when ``views`` > 1
            (V independently augmented views of the same image); ``y`` an int class index.
            Has ``targets`` (one label per sample, in order).
        train_eval: the same samples in the same order as ``train``, un-augmented, C×H×W.
        val: held-out split, un-augmented, C×H×W, class-balanced (never long-tailed); carved
            from the training data (``data.splits``, seeded by the run's seed) unless
            ``val_from_train`` is False. What the search and every selection read.
        num_classes: K.
        input_shape: ``(C, H, W)`` of one view.
        class_counts: train samples per class (length K), after any imbalance.
        name: the registry name.
        test: the split the search never sees, un-augmented, C×H×W, class-balanced: the
            official test split where the dataset has one, else a fixed held-out part
            (the same for every seed). ``None`` where the dataset has none
            (``no_test_reason`` says why; :meth:`require_test` raises it).
        no_test_reason: why ``test`` is None.
        val_from_train: False where ``val`` is not carved from the training data
            (``imagenet_shards``: the official val split).

    A streamed dataset (``imagenet_shards``) has ``torch.utils.data.IterableDataset`` splits
    instead: no ``len``, ``targets`` or indexing, but ``num_samples`` and ``set_epoch``;
    ``train_eval`` streams the train samples in their written order.
    """

    train: Dataset[Sample]
    train_eval: Dataset[Sample]
    val: Dataset[Sample]
    num_classes: int
    input_shape: tuple[int, int, int]
    class_counts: list[int]
    name: str
    test: Dataset[Sample] | None = None
    no_test_reason: str | None = None
    val_from_train: bool = True

    def require_test(self) -> Dataset[Sample]:
        """``test``, or a ``ValueError`` saying why this dataset has none."""
        if self.test is None:
            raise ValueError(
                f"dataset {self.name!r} has no test split: "
                f"{self.no_test_reason or 'its builder provides none'}"
            )
        return self.test
