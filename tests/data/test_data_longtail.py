import math

import pytest
import torch

from ncsweep.data import create_dataset, long_tail_counts


def test_exp_profile_counts_follow_the_formula_exactly():
    counts = long_tail_counts(5000, 10, 0.01, "exp")
    assert counts == [math.floor(5000 * 0.01 ** (c / 9)) for c in range(10)]
    assert counts[0] == 5000 and counts[-1] == 50  # CIFAR-10-LT at ratio 0.01


def test_step_profile_halves_the_classes():
    assert long_tail_counts(500, 10, 0.1, "step") == [500] * 5 + [50] * 5
    assert long_tail_counts(500, 5, 0.1, "step") == [500] * 2 + [50] * 3


def test_counts_never_drop_below_one():
    assert min(long_tail_counts(10, 10, 0.001, "exp")) == 1


@pytest.mark.parametrize("profile", ["exp", "step"])
def test_long_tailed_digits_have_exactly_the_profile_counts(profile):
    balanced = create_dataset("digits")
    b = create_dataset("digits", imbalance={"ratio": 0.1, "profile": profile})
    n_max = min(balanced.class_counts)
    expected = long_tail_counts(n_max, 10, 0.1, profile)
    assert b.class_counts == expected
    assert torch.bincount(b.train.targets, minlength=10).tolist() == expected
    assert len(b.train) == len(b.train_eval) == sum(expected)
    assert torch.equal(b.train.images, b.train_eval.images)
    assert torch.equal(b.val.images, balanced.val.images)  # val unchanged


def test_long_tail_subset_is_seeded_and_keeps_original_order():
    a, b = (create_dataset("synthetic", imbalance={"ratio": 0.2}, seed=5) for _ in range(2))
    c = create_dataset("synthetic", imbalance={"ratio": 0.2}, seed=6)
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images, c.train.images)
    assert a.class_counts == c.class_counts


def test_ratio_one_changes_nothing():
    a = create_dataset("synthetic", imbalance={"ratio": 1.0, "profile": "step"})
    assert a.class_counts == [100] * 10


@pytest.mark.parametrize(
    "imbalance, match",
    [
        ({"ratio": 0.0}, r"ratio must be a number in \(0, 1\]"),
        ({"ratio": 1.5}, r"ratio must be a number in \(0, 1\]"),
        ({"ratio": "0.1"}, "ratio"),
        ({"ratio": 0.1, "profile": "linear"}, "allowed: exp, step"),
        ({"ratio": 0.1, "factor": 2}, "allowed: ratio, profile"),
        ({"profile": "exp"}, "needs 'ratio'"),
        (0.1, "must be a dict"),
    ],
)
def test_bad_imbalance_is_a_value_error(imbalance, match):
    with pytest.raises(ValueError, match=match):
        create_dataset("synthetic", imbalance=imbalance)
