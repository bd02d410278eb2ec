"""Bootstrap intervals, probability of improvement and verdicts (numpy + scipy only)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ncsweep.uncertainty import (
    Estimate,
    difference,
    expanded_level,
    mean_interval,
    probability_of_improvement,
    verdict,
)

REPETITIONS = 400


def _binomial_band(p: float, trials: int = REPETITIONS, two_sided: float = 0.001):
    """Fractions a Binomial(trials, p) count stays within with probability 1 - two_sided."""
    low, high = stats.binom.ppf([two_sided / 2, 1 - two_sided / 2], trials, p)
    return low / trials, high / trials


@pytest.mark.parametrize("paired", [True, False])
def test_interval_of_a_null_difference_covers_zero_about_95_percent(paired):
    """10 seeds a group, where the expanded bootstrap covers 95 % (2000 repetitions); at 5
    paired seeds it covers 91 %, at the band's edge (see intervals.py), hence 10. A plain
    bootstrap covers 90 % (paired) here: the width test below is the one that tells."""
    rng = np.random.default_rng(2024)
    n = 10
    covered = 0
    for repetition in range(REPETITIONS):
        a, b = rng.normal(size=n), rng.normal(size=n)
        diff = difference(a, b, paired=paired, n_resamples=999, seed=repetition)
        covered += diff.low <= 0.0 <= diff.high
    low, high = _binomial_band(0.95)  # 0.910 .. 0.9825
    assert low <= covered / REPETITIONS <= high, (covered, low, high)


@pytest.mark.parametrize("paired", [True, False])
def test_a_difference_of_four_standard_errors_is_detected(paired):
    """30 seeds: an exact 95 % t interval detects 4 SE with probability 0.944 at 10 paired
    seeds, 0.966 at 20 and 0.972 at 30 (noncentral t), so >= 95 % needs about 20 or more."""
    rng = np.random.default_rng(7)
    n = 30
    shift = 4.0 * math.sqrt(2.0 / n)  # SE of a difference of two means of n unit normals
    detected = 0
    for repetition in range(REPETITIONS):
        a, b = rng.normal(shift, size=n), rng.normal(size=n)
        diff = difference(a, b, paired=paired, n_resamples=999, seed=repetition)
        detected += diff.low > 0.0
    assert detected / REPETITIONS >= 0.95, detected


def test_expanded_level_gives_the_t_interval_width():
    """Normal values, 10 seeds: the bootstrap interval is as wide as the t interval (a plain
    bootstrap's is 0.83 of it: 1.96 * sqrt(9/10) / 2.262)."""
    values = np.random.default_rng(3).normal(size=10)
    estimate = mean_interval(values, n_resamples=9999)
    t_width = 2 * stats.t.ppf(0.975, 9) * values.std(ddof=1) / math.sqrt(10)
    assert 0.9 <= (estimate.high - estimate.low) / t_width <= 1.1
    assert expanded_level(0.95, 100_000, 9999) == pytest.approx(0.95, abs=1e-4)
    assert expanded_level(0.95, 10, 9999) > 0.98


def test_pairing_removes_the_seed_effect():
    """A shared per-seed offset (spread 1.0) hides a 0.1 gain unless seeds are paired."""
    rng = np.random.default_rng(11)
    seed_effect = rng.normal(scale=1.0, size=8)
    a = seed_effect + 0.1 + rng.normal(scale=0.01, size=8)
    b = seed_effect + rng.normal(scale=0.01, size=8)
    paired, unpaired = difference(a, b, paired=True), difference(a, b, paired=False)
    assert paired.mean == pytest.approx(np.mean(a) - np.mean(b))
    assert paired.low > 0.0
    assert unpaired.low < 0.0 < unpaired.high
    assert paired.n == 8 and unpaired.n == 16
    assert paired.method.startswith("paired bootstrap BCa")


def test_mean_interval_reports_mean_std_and_n():
    values = [0.90, 0.92, 0.91, 0.93, 0.89]
    estimate = mean_interval(values)
    assert estimate.mean == pytest.approx(0.91)
    assert estimate.std == pytest.approx(np.std(values, ddof=1))
    assert estimate.low < 0.91 < estimate.high
    assert (estimate.n, estimate.degenerate, estimate.statistic) == (5, False, "mean")


@pytest.mark.parametrize("paired", [True, False])
def test_probability_of_improvement_known_cases(paired):
    above = probability_of_improvement([5.0, 6.0, 7.0], [1.0, 2.0, 3.0], paired=paired)
    assert (above.mean, above.low, above.high) == (1.0, 1.0, 1.0)
    same = probability_of_improvement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], paired=paired)
    assert same.mean == 0.5
    fewer_steps = probability_of_improvement(
        [100, 120, 90], [200, 210, 190], paired=paired, higher_is_better=False
    )
    assert fewer_steps.mean == 1.0 and fewer_steps.statistic == "P(a < b)"


def test_probability_of_improvement_counts_ties_half():
    paired = probability_of_improvement([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert paired.mean == pytest.approx((0 + 0.5 + 1) / 3)
    # all 4 x 2 pairs: 1>0, 2>0, 3>0, 3>2.5, 4>0, 4>2.5 win; 1, 2 lose to 2.5
    unpaired = probability_of_improvement([1.0, 2.0, 3.0, 4.0], [0.0, 2.5], paired=False)
    assert unpaired.mean == pytest.approx(6 / 8)


def test_unpaired_probability_of_improvement_is_mann_whitney_u():
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 6, size=9).astype(float), rng.integers(0, 6, size=7).astype(float)
    estimate = probability_of_improvement(a, b, paired=False, n_resamples=999)
    u = stats.mannwhitneyu(a, b).statistic
    assert estimate.mean == pytest.approx(u / (a.size * b.size))
    assert 0.0 <= estimate.low <= estimate.mean <= estimate.high <= 1.0


def test_one_run_gives_a_degenerate_interval_not_an_error():
    one = mean_interval([0.9])
    assert (one.low, one.high, one.n, one.degenerate) == (0.9, 0.9, 1, True)
    assert math.isnan(one.std) and "fewer than 2" in one.method
    diff = difference([0.9], [0.8], paired=True)
    assert diff.degenerate and diff.low == diff.high == pytest.approx(0.1)
    assert difference([0.9], [0.8, 0.7, 0.75], paired=False).degenerate


def test_all_equal_values_give_a_degenerate_interval():
    equal = mean_interval([0.5] * 6)
    assert (equal.mean, equal.std, equal.low, equal.high) == (0.5, 0.0, 0.5, 0.5)
    assert equal.degenerate and "same value" in equal.method
    assert difference([3.0] * 4, [1.0] * 4, paired=True).degenerate


@pytest.mark.parametrize("bad", [[0.9, float("nan"), 0.8], [0.9, float("inf")]])
def test_nan_and_infinite_values_are_rejected_by_name(bad):
    with pytest.raises(ValueError, match="values has 1 NaN or infinite"):
        mean_interval(bad)
    with pytest.raises(ValueError, match="b has 1 NaN or infinite"):
        difference([0.9, 0.8, 0.7][: len(bad)], bad, paired=True)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="one value per seed"):
        difference([1.0, 2.0], [1.0, 2.0, 3.0], paired=True)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        mean_interval([])


def _estimate(mean, low, high, statistic, n=5):
    return Estimate(mean, 0.0, low, high, n, "given", statistic)


DIFF = "mean(a) - mean(b)"


def test_verdict_no_detectable_difference_in_points():
    text = verdict(
        "nonl",
        "ce",
        "test/acc1",
        _estimate(-0.004, -0.011, 0.003, DIFF),
        _estimate(0.38, 0.10, 0.70, "P(a > b)"),
        unit="pts",
    )
    expected = (
        "nonl vs ce: test/acc1 -0.4 pts [-1.1, +0.3], P(nonl > ce) = 0.38 [0.10, 0.70]: "
        "no detectable difference"
    )
    assert text == expected


@pytest.mark.parametrize(
    ("low", "high", "outcome"), [(0.005, 0.02, "nonl better"), (-0.02, -0.005, "nonl worse")]
)
def test_verdict_better_and_worse_when_higher_is_better(low, high, outcome):
    diff = _estimate((low + high) / 2, low, high, DIFF)
    text = verdict("nonl", "ce", "test/acc1", diff, _estimate(0.9, 0.7, 1.0, "P(a > b)"), "pts")
    assert text.endswith(f": {outcome}")


@pytest.mark.parametrize(
    ("low", "high", "outcome"), [(-300.0, -100.0, "nonl better"), (100.0, 300.0, "nonl worse")]
)
def test_verdict_fewer_nc_steps_is_better(low, high, outcome):
    diff = _estimate((low + high) / 2, low, high, DIFF)
    poi = _estimate(0.8, 0.6, 1.0, "P(a < b)")
    text = verdict("nonl", "ce", "nc_iters/nc1", diff, poi, "steps", higher_is_better=False)
    assert f"[{low:+.0f}, {high:+.0f}]" in text and "steps" in text
    assert "P(nonl < ce) = 0.80" in text
    assert text.endswith(f": {outcome}")


def test_verdict_from_runs_end_to_end():
    ce = np.array([0.900, 0.905, 0.898, 0.902, 0.901, 0.899])
    nonl = ce + np.array([0.010, 0.012, 0.011, 0.009, 0.010, 0.013])
    diff = difference(nonl, ce, paired=True)
    poi = probability_of_improvement(nonl, ce, paired=True)
    text = verdict("nonl", "ce", "test/acc1", diff, poi, unit="pts")
    assert text.startswith("nonl vs ce: test/acc1 +1.1 pts [")
    assert text.endswith(": nonl better")


def test_verdict_with_one_seed_says_too_few_runs():
    diff = difference([0.95], [0.90], paired=True)
    poi = probability_of_improvement([0.95], [0.90])
    assert verdict("a", "b", "test/acc1", diff, poi, "pts").endswith(": too few runs to tell")


def test_verdict_rejects_a_unit_or_direction_it_does_not_know():
    diff, poi = _estimate(1.0, 0.5, 1.5, DIFF), _estimate(0.9, 0.7, 1.0, "P(a > b)")
    with pytest.raises(ValueError, match="unit must be one of"):
        verdict("a", "b", "m", diff, poi, unit="percent")
    with pytest.raises(ValueError, match="higher_is_better=False needs P\\(a < b\\)"):
        verdict("a", "b", "m", diff, poi, higher_is_better=False)
    with pytest.raises(ValueError, match="diff must come from difference"):
        verdict("a", "b", "m", poi, poi)
