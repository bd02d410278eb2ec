"""Three splits: train, val carved from the training data with the run's seed, and a test
split the seed never changes (digits: a fixed held-out part; CIFAR: the official test batch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ncsweep.config import SpecError, load_spec
from ncsweep.data import create_dataset
from ncsweep.data.cifar import load_cifar
from ncsweep.data.digits import TEST_FRACTION, digits_splits
from ncsweep.data.splits import stratified_split
from ncsweep.plan.preflight import check_spec
from ncsweep.train import TrainingCore

SEEDS = range(5)


def _rows(images: np.ndarray) -> set[bytes]:
    """One key per image (digits has no two identical images)."""
    return {row.tobytes() for row in images.reshape(len(images), -1)}


def test_stratified_split_is_seeded_disjoint_and_per_class():
    labels = np.repeat(np.arange(3), [10, 20, 1])
    kept, held = stratified_split(labels, 0.3, seed=7)
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(31))
    assert np.bincount(labels[held], minlength=3).tolist() == [3, 6, 0]  # one sample stays
    again, _ = stratified_split(labels, 0.3, seed=7)
    other, _ = stratified_split(labels, 0.3, seed=8)
    assert np.array_equal(kept, again) and not np.array_equal(kept, other)


def test_digits_test_split_is_fixed_and_disjoint_while_val_follows_the_seed():
    splits = [digits_splits(seed) for seed in SEEDS]
    tests = [_rows(test[0]) for _, _, test in splits]
    assert all(t == tests[0] for t in tests)  # the same 359 images for every seed
    for train, val, test in splits:
        tr, va, te = _rows(train[0]), _rows(val[0]), _rows(test[0])
        assert not (tr & va) and not (tr & te) and not (va & te)
        assert len(tr) + len(va) + len(te) == 1797
    vals = [_rows(val[0]) for _, val, _ in splits]
    trains = [_rows(train[0]) for train, _, _ in splits]
    assert len({frozenset(v) for v in vals}) == len(SEEDS)
    assert len({frozenset(t) for t in trains}) == len(SEEDS)


def test_digits_bundles_share_the_test_split_and_stratify_every_split():
    bundles = [create_dataset("digits", seed=seed) for seed in SEEDS]
    for b in bundles:
        assert torch.equal(b.test.targets, bundles[0].test.targets)
        counts = [torch.bincount(s.targets, minlength=10).float() for s in (b.train, b.val, b.test)]
        total = sum(counts)
        assert ((counts[2] - TEST_FRACTION * total).abs() <= 0.5).all()
        assert ((counts[1] - 0.2 * (counts[0] + counts[1])).abs() <= 0.5).all()
    assert not torch.equal(bundles[0].val.targets, bundles[1].val.targets)


def test_digits_on_device_has_the_same_test_images_as_the_loader_bundle():
    loader, device = (create_dataset("digits", augment_on=a, seed=3) for a in ("loader", "device"))
    assert device.test.images.dtype == torch.uint8
    x = device.test.augment_batch(device.test.images)  # raw 0…16 -> normalised
    torch.testing.assert_close(x, loader.test.images, atol=1e-5, rtol=1e-5)
    assert torch.equal(device.test.targets, loader.test.targets)


def test_digits_subset_keeps_the_fixed_test_split_of_its_classes():
    a, b = (create_dataset("digits_subset", seed=s, classes=(5, 6, 7)) for s in (0, 1))
    full = create_dataset("digits", seed=0)
    assert a.test.targets.tolist() == [int(y) - 5 for y in full.test.targets if 5 <= y <= 7]
    assert torch.equal(a.test.targets, b.test.targets)


@pytest.mark.parametrize("on_device", [False, True])
def test_fake_cifar_val_comes_from_the_train_batches_and_test_is_test_batch(
    cifar10_root, on_device
):
    (train_x, train_y), (test_x, test_y) = load_cifar("cifar10", cifar10_root)
    seen = []
    for seed in (0, 1):
        b = create_dataset(
            "cifar10",
            root=str(cifar10_root),
            seed=seed,
            augment_on="device" if on_device else "loader",
        )

        def hwc(split):
            if on_device:  # uint8 N×3×32×32
                return split.images.permute(0, 2, 3, 1).numpy()
            return split.data

        tr, va, te = _rows(hwc(b.train)), _rows(hwc(b.val)), _rows(hwc(b.test))
        assert not (tr & va) and tr | va == _rows(train_x)
        assert np.array_equal(hwc(b.test), test_x) and te == _rows(test_x)
        assert torch.as_tensor(b.test.targets).tolist() == list(test_y)
        assert torch.bincount(torch.as_tensor(b.val.targets), minlength=10).tolist() == [1] * 10
        seen.append(va)
    assert seen[0] != seen[1]  # the seed moves val, never test


def test_cifar_val_fraction_is_an_option(cifar10_root):
    b = create_dataset("cifar10", root=str(cifar10_root), val_fraction=0.5)
    assert len(b.val) == len(b.train) == 20 and len(b.test) == 20
    with pytest.raises(ValueError, match="val_fraction"):
        create_dataset("cifar10", root=str(cifar10_root), val_fraction=1.0)


@pytest.mark.parametrize("profile", ["exp", "step"])
def test_long_tail_imbalances_train_only(profile):
    plain = create_dataset("digits", seed=2)
    tail = create_dataset("digits", seed=2, imbalance={"ratio": 0.1, "profile": profile})
    assert sum(tail.class_counts) < len(plain.train)
    for split in ("val", "test"):
        a, b = getattr(plain, split), getattr(tail, split)
        assert torch.equal(a.targets, b.targets) and torch.equal(a.images, b.images)
        counts = torch.bincount(b.targets, minlength=10)
        assert counts.max() - counts.min() <= 2  # balanced, as digits' classes are


# the shard fixture lives with the data tests
def test_a_dataset_without_a_test_split_is_refused_before_training(imagenet_shards_root):
    spec = load_spec(
        None,
        [
            "data.name=imagenet_shards",
            f"data.root={imagenet_shards_root}",
            "data.options={image_size: 16, resize_size: 18, decode: cpu}",
            "eval.test=true",
            "run.batch_size=4",
        ],
    )
    with pytest.raises(SpecError, match="eval.test: dataset 'imagenet_shards' has no test split"):
        check_spec(spec, "spec.yaml")
    with pytest.raises(ValueError, match="official val"):
        TrainingCore(spec)
