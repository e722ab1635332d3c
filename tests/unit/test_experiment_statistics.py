"""The experiment statistics against hand-computed values and by simulation: an A/A test watched
at every look rejects no more than alpha, and a real lift is found with the planned power."""

from __future__ import annotations

import numpy as np
import pytest

from streamapp.experiments.statistics import (
    Estimate,
    Moments,
    compare,
    cuped,
    estimate,
    holm,
    power,
    sample_size,
    srm_p_value,
)

ALPHA = 0.05
EXPERIMENTS = 1_000
LOOKS = 20


def conversions(users: int, converted: int) -> Moments:
    """The moments of a 0/1 per-user metric from its count (what the simulations add up)."""
    return Moments(users, converted, converted, users, users, converted)


def watched(rng: np.random.Generator, users: int, rates: tuple[float, float], tau: float):
    """EXPERIMENTS experiments of a 0/1 metric, ``users`` in all split evenly, looked at LOOKS
    times: per experiment, whether any look's always-valid p-value reached ALPHA, whether a
    naive fixed-horizon z-test did at any look, and whether every look's confidence sequence
    held the true difference."""
    per_look = users // 2 // LOOKS
    truth = rates[1] - rates[0]
    always, naive, covered = [], [], []
    for _ in range(EXPERIMENTS):
        counts = [rng.binomial(per_look, rate, LOOKS).cumsum() for rate in rates]
        p_value, z_rejected, holds = 1.0, False, True
        for look in range(LOOKS):
            n = per_look * (look + 1)
            a, b = (estimate(conversions(n, int(c[look]))) for c in counts)
            result = compare(a, b, ALPHA, tau, p_value)
            p_value = result.p_value
            spread = np.sqrt(a.variance + b.variance)
            z_rejected |= spread > 0 and abs(result.difference) / spread > 1.96
            holds &= result.ci_low <= truth <= result.ci_high
        always.append(p_value <= ALPHA)
        naive.append(z_rejected)
        covered.append(holds)
    return np.mean(always), np.mean(naive), np.mean(covered)


def test_an_aa_experiment_watched_at_every_look_rejects_at_most_alpha_plus_one_point():
    always, naive, covered = watched(np.random.default_rng(7), 8_000, (0.1, 0.1), tau=0.01)
    assert always <= ALPHA + 0.01
    assert covered >= 1 - ALPHA - 0.01
    # What the always-valid test is for: the same looks with a fixed-horizon test.
    assert naive > 2 * ALPHA


def test_a_known_lift_is_found_with_the_planned_power():
    rates, planned = (0.10, 0.11), 0.8
    users = sample_size(sd=np.sqrt(0.1 * 0.9), effect=0.01, alpha=ALPHA, target=planned)
    found, _, _ = watched(np.random.default_rng(11), users, rates, tau=0.01)
    assert found >= planned - 0.03


def test_the_planned_sample_size_is_the_smallest_with_the_power_asked_for():
    users = sample_size(sd=0.3, effect=0.01, alpha=0.05, target=0.8)
    assert power(users, 0.3, 0.01, 0.05, 0.01, (0.5, 0.5)) >= 0.8
    assert power(users - 1, 0.3, 0.01, 0.05, 0.01, (0.5, 0.5)) < 0.8
    # Looking at any time costs users: a fixed-horizon test needs (1.96 + 0.84)² · 2σ²/δ² per
    # variant, 14,128 here.
    assert users > 2 * 14_128


def test_an_uneven_split_needs_more_users_than_an_even_one():
    even = sample_size(sd=0.3, effect=0.01)
    assert sample_size(sd=0.3, effect=0.01, shares=(0.9, 0.1)) > 2 * even


def test_the_delta_method_variance_matches_the_spread_of_the_ratio_over_repeated_samples():
    rng = np.random.default_rng(3)
    ratios, variances = [], []
    for _ in range(2_000):
        exposures = rng.poisson(5, 400) + 1
        clicks = rng.binomial(exposures, rng.beta(2, 18, 400))
        e = estimate(Moments.of(clicks, exposures))
        ratios.append(e.value)
        variances.append(e.variance)
    assert np.mean(variances) == pytest.approx(np.var(ratios), rel=0.1)


def test_a_per_user_mean_is_the_ratio_with_denominator_one():
    values = np.random.default_rng(5).exponential(20.0, 300)
    e = estimate(Moments.of(values))
    assert e.value == pytest.approx(values.mean())
    assert e.variance == pytest.approx(values.var(ddof=1) / len(values))


def test_moments_add_up_as_users_arrive():
    rng = np.random.default_rng(9)
    x, y = rng.random(50), rng.random(50) + 1
    joined = Moments.of(x[:20], y[:20]) + Moments.of(x[20:], y[20:])
    whole = Moments.of(x, y)
    assert estimate(joined).value == pytest.approx(estimate(whole).value)
    assert estimate(joined).variance == pytest.approx(estimate(whole).variance)


def test_fewer_than_two_users_give_no_finite_variance():
    assert estimate(Moments.of([1.0])).variance == float("inf")
    assert not compare(Estimate(0.1, float("inf")), Estimate(0.9, 0.0), ALPHA, 0.1).significant(
        ALPHA
    )


def test_cuped_keeps_the_difference_on_average_and_shrinks_its_variance():
    rng = np.random.default_rng(13)
    raw, adjusted = [], []
    for _ in range(500):
        before = [rng.normal(10, 3, 500) for _ in range(2)]
        after = [
            b * 0.8 + rng.normal(0, 1, 500) + lift for b, lift in zip(before, (0, 0.5), strict=True)
        ]
        raw.append(after[1].mean() - after[0].mean())
        fixed = cuped(after, before)
        adjusted.append(fixed[1].mean() - fixed[0].mean())
    assert np.mean(adjusted) == pytest.approx(0.5, abs=0.02)
    assert np.var(adjusted) < np.var(raw) / 4


def test_a_sample_ratio_mismatch_is_found_and_a_planned_split_is_not():
    # Hand-computed: χ² = 2 · 50² / 1,050 = 4.762 on one degree of freedom.
    assert srm_p_value([1000, 1100], [0.5, 0.5]) == pytest.approx(0.0291, abs=1e-4)
    assert srm_p_value([900, 100], [0.9, 0.1]) == pytest.approx(1.0)
    assert srm_p_value([5000, 5400, 5000], [1, 1, 1]) < 0.001


def test_holm_rejects_step_down_until_the_first_p_value_over_its_threshold():
    # Thresholds 0.05/4, 0.05/3, 0.05/2, 0.05/1 against the sorted 0.005, 0.01, 0.03, 0.04.
    assert holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    assert holm([0.01, 0.012, 0.02, 0.04], 0.05) == [True, True, True, True]
    assert holm([0.2, 0.001], 0.05) == [False, True]
