import pytest
import torch

from ncsweep.data import create_dataset


def test_synthetic_options_set_the_shape_and_counts():
    b = create_dataset(
        "synthetic",
        num_classes=4,
        samples_per_class=7,
        val_samples_per_class=3,
        image_size=6,
        channels=3,
    )
    assert b.input_shape == (3, 6, 6) and b.num_classes == 4
    assert b.class_counts == [7] * 4 and len(b.val) == 12


def test_synthetic_is_seeded():
    a, b, c = (create_dataset("synthetic", seed=s) for s in (3, 3, 4))
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images, c.train.images)


def test_val_shares_the_train_class_centres():
    b = create_dataset("synthetic", noise=0.5)
    centres = torch.stack([b.train.images[b.train.targets == c].mean(0) for c in range(10)])
    dist = torch.cdist(b.val.images.flatten(1), centres.flatten(1))
    assert (dist.argmin(1) == b.val.targets).float().mean() > 0.95


@pytest.mark.parametrize("option", [{"num_classes": 1}, {"image_size": 0}, {"noise": -1.0}])
def test_bad_synthetic_options_are_value_errors(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        create_dataset("synthetic", **option)
