import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from ncsweep.data import DatasetNotFoundError, create_dataset, dataset_options, list_datasets
from published_layouts import ALL_TRANSFER_WRITERS


def test_list_datasets_names_the_builtins():
    assert list_datasets() == sorted(
        [
            "cifar10",
            "cifar100",
            "digits",
            "digits_subset",
            "imagenet",
            "imagenet_shards",
            "synthetic",
        ]
        + list(ALL_TRANSFER_WRITERS)
    )


def test_unknown_dataset_lists_allowed_names():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*cifar10.*digits.*synthetic"):
        create_dataset("mnist")


def test_unknown_option_lists_allowed_options():
    with pytest.raises(
        ValueError, match="unknown key 'val_frac'; dataset 'digits' takes: val_fraction"
    ):
        create_dataset("digits", val_frac=0.2)


def test_dataset_options_report_defaults():
    assert dataset_options("digits") == {"val_fraction": 0.2}
    assert dataset_options("synthetic")["num_classes"] == 10


@pytest.mark.parametrize("views", [0, -1, 1.5, True])
def test_bad_views_is_a_value_error(views):
    with pytest.raises(ValueError, match="views"):
        create_dataset("synthetic", views=views)


def test_dataset_not_found_is_a_value_error():
    assert issubclass(DatasetNotFoundError, ValueError)


# Datasets that read files get a tiny copy from a fixture; a new dataset must add one here.
_ROOTS = {
    "cifar10": "cifar10_root",
    "cifar100": "cifar100_root",
    "imagenet": "imagenet_root",
    "imagenet_shards": "imagenet_shards_root",
}
_SMALL = {
    "imagenet": {"image_size": 16, "resize_size": 18},
    "imagenet_shards": {"image_size": 16, "resize_size": 18, "decode": "cpu"},
}
_ROOTS.update({name: f"{name}_root" for name in ALL_TRANSFER_WRITERS})
_SMALL.update({name: {"image_size": 8} for name in ALL_TRANSFER_WRITERS})


@pytest.mark.parametrize("views", [1, 2])
@pytest.mark.parametrize("name", list_datasets())
def test_bundle_contract(name, views, request):
    root = request.getfixturevalue(_ROOTS[name]) if name in _ROOTS else None
    b = create_dataset(
        name, root=None if root is None else str(root), views=views, **_SMALL.get(name, {})
    )
    streamed = isinstance(b.train, IterableDataset)
    first = (lambda split: next(iter(split))) if streamed else (lambda split: split[0])
    x, y = first(b.train)
    expected = b.input_shape if views == 1 else (views, *b.input_shape)
    assert tuple(x.shape) == expected and x.dtype == torch.float32
    assert tuple(first(b.train_eval)[0].shape) == b.input_shape
    assert tuple(first(b.val)[0].shape) == b.input_shape
    if name == "imagenet_shards":  # val is the official val shards; no test split
        assert b.test is None and not b.val_from_train
        with pytest.raises(ValueError, match="no test split.*official val"):
            b.require_test()
    else:
        assert b.val_from_train and tuple(first(b.require_test())[0].shape) == b.input_shape
    assert isinstance(y, int) and 0 <= y < b.num_classes
    assert len(b.class_counts) == b.num_classes
    assert b.name == name
    if streamed:  # no random access: sizes from the shard index, order from the stream
        assert b.train.num_samples == b.train_eval.num_samples == sum(b.class_counts)
        assert sum(1 for _ in b.train) == b.train.num_samples
        loader = DataLoader(b.train, batch_size=2)
    else:
        assert len(b.train) == len(b.train_eval) == sum(b.class_counts)
        assert torch.equal(torch.as_tensor(b.train.targets), torch.as_tensor(b.train_eval.targets))
        loader = DataLoader(b.train, batch_size=2, shuffle=True)  # fixtures: >= 2 train images
    xb, yb = next(iter(loader))
    assert tuple(xb.shape) == (2, *expected) and yb.shape == (2,)
