"""Expected-maximum tuning curves (Dodge et al. 2019) and their bootstrap band."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncsweep.uncertainty import expected_max, tuning_curve

SCORES = np.random.default_rng(0).beta(8, 2, size=25)


def test_expected_max_by_hand():
    # n = 2 from {1, 2, 3}: P(max = 1) = 1/9, P(max = 2) = 3/9, P(max = 3) = 5/9
    assert expected_max([3.0, 1.0, 2.0], [2])[0] == pytest.approx(22 / 9)
    # ties: {1, 1, 2}, n = 2: P(max = 2) = 1 - (2/3)**2 = 5/9
    assert expected_max([1.0, 2.0, 1.0], [2])[0] == pytest.approx(14 / 9)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 25])
def test_expected_max_matches_monte_carlo(n):
    draws = np.random.default_rng(n).choice(SCORES, size=(40_000, n), replace=True).max(axis=1)
    standard_error = draws.std() / np.sqrt(draws.size)
    assert abs(expected_max(SCORES, [n])[0] - draws.mean()) < 4 * standard_error + 1e-12


def test_expected_max_runs_from_the_mean_to_the_best():
    curve = expected_max(SCORES)
    assert curve.shape == (SCORES.size,)
    assert curve[0] == pytest.approx(SCORES.mean())
    assert np.all(np.diff(curve) > 0)
    assert expected_max(SCORES, [10_000])[0] == pytest.approx(SCORES.max())


def test_lower_is_better_gives_the_expected_minimum():
    low = expected_max(SCORES, higher_is_better=False)
    np.testing.assert_allclose(low, -expected_max(-SCORES))
    assert low[0] == pytest.approx(SCORES.mean())
    assert expected_max(SCORES, [10_000], higher_is_better=False)[0] == pytest.approx(SCORES.min())


def test_band_brackets_the_curve_and_rises_with_trials():
    curve = tuning_curve(SCORES, n_resamples=999)
    np.testing.assert_allclose(curve.expected, expected_max(SCORES))
    assert np.all(curve.low <= curve.expected) and np.all(curve.expected <= curve.high)
    assert np.all(curve.high - curve.low > 0)
    assert np.all(np.diff(curve.low) >= 0) and np.all(np.diff(curve.high) >= 0)
    assert curve.high[-1] <= SCORES.max()  # the bootstrap never sees a better trial
    assert "bootstrap" in curve.method


def test_cost_axis_is_trials_times_mean_cost():
    costs = np.linspace(0.5, 1.5, SCORES.size)  # GPU-hours, mean 1.0
    curve = tuning_curve(SCORES, costs=costs, ns=[1, 5, 10])
    np.testing.assert_allclose(curve.cost, [1.0, 5.0, 10.0])
    np.testing.assert_allclose(tuning_curve(SCORES, costs=0.25, ns=[4]).cost, [1.0])
    assert tuning_curve(SCORES).cost is None
    with pytest.raises(ValueError, match="one per score"):
        tuning_curve(SCORES, costs=[1.0, 2.0])


def test_columns_are_plain_lists_for_tables_and_plots():
    columns = tuning_curve(SCORES, costs=2.0, ns=[1, 2, 3]).columns()
    assert set(columns) == {"trials", "expected", "low", "high", "cost"}
    assert columns["trials"] == [1.0, 2.0, 3.0] and columns["cost"] == [2.0, 4.0, 6.0]
    assert json.loads(json.dumps(columns)) == columns


def test_degenerate_and_bad_scores():
    one = tuning_curve([0.7])
    assert one.expected.tolist() == one.low.tolist() == one.high.tolist() == [0.7]
    flat = tuning_curve([0.5] * 4)
    assert np.all(flat.low == flat.high)
    with pytest.raises(ValueError, match="scores has 1 NaN"):
        expected_max([0.5, float("nan")])
    with pytest.raises(ValueError, match="trial counts >= 1"):
        expected_max(SCORES, [0])
