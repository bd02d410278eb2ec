"""Long-tail splits on a known class-count vector; an empty split is reported as such."""

from __future__ import annotations

import numpy as np

from ncsweep.data import long_tail_counts
from ncsweep.evaluate.longtail import class_groups, compare_longtail, group_accuracy


def test_groups_follow_the_thresholds_on_a_known_count_vector():
    counts = [150, 101, 100, 50, 20, 19, 1]
    assert class_groups(counts) == {"many": [0, 1], "medium": [2, 3, 4], "few": [5, 6]}


def test_group_accuracy_counts_samples_of_each_groups_classes():
    counts = [150, 60, 5]  # one class per group
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 1, 0, 0, 0])
    acc = group_accuracy(pred, labels, counts)
    assert acc == {"overall": 0.5, "many": 1.0, "medium": 0.5, "few": 0.0}


def test_an_empty_group_is_reported_empty_not_zero():
    counts = [500, 400, 300]  # nothing medium or few
    labels = np.array([0, 1, 2])
    acc = group_accuracy(labels, labels, counts)
    assert acc["many"] == 1.0 and acc["medium"] is None and acc["few"] is None
    gains = compare_longtail({f"acc/{k}": v for k, v in acc.items()}, {"acc/overall": 0.5})
    assert gains["gain_points/overall"] == 50.0 and gains["gain_relative/overall"] == 100.0
    assert gains["gain_points/few"] is None


def test_ldam_profile_on_digits_spans_all_three_groups_at_0_01():
    counts = long_tail_counts(133, 10, 0.01, "exp")  # digits' smallest class has 133
    assert counts[0] == 133 and counts[-1] == 1
    assert counts == sorted(counts, reverse=True)
    groups = class_groups(counts)
    assert all(groups[g] for g in ("many", "medium", "few"))
    assert sum(len(v) for v in groups.values()) == 10
