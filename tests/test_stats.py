"""The statistics of replications: the t-interval covers at its stated rate, Welch's test
holds its false-alarm rate and sees a real difference (many synthetic draws, fixed seed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.stats import difference, summarise

TRIALS = 4000
# Binomial spread of a 95 % rate over TRIALS trials, 4 standard deviations (~1 in 16,000).
SLACK = 4 * math.sqrt(0.95 * 0.05 / TRIALS)


@pytest.mark.parametrize("n", [5, 10, 30])
def test_the_95_pct_interval_of_a_metric_with_known_variance_covers_its_true_mean_95_pct_of_the_time(n):
    rng = np.random.default_rng(17)
    mu, sigma = 600.0, 120.0  # e.g. seconds to recover: mean and spread known
    x = rng.normal(mu, sigma, size=(TRIALS, n))
    covered = sum(s.ci_low <= mu <= s.ci_high for s in map(summarise, x))
    rate = covered / TRIALS
    assert abs(rate - 0.95) <= SLACK, f"coverage {rate:.4f} at n={n}"
    # a z-interval (known sigma ignored, 1.96) would undercover at n=5: the t quantile matters
    if n == 5:
        half_z = 1.96 * x.std(axis=1, ddof=1) / math.sqrt(n)
        z_rate = float(np.mean(np.abs(x.mean(axis=1) - mu) <= half_z))
        assert z_rate < 0.95 - SLACK


def test_summary_percentiles_and_interval_of_known_draws():
    s = summarise(np.arange(1, 101, dtype=float))  # 1..100
    assert (s.n, s.mean, s.min, s.max) == (100, 50.5, 1.0, 100.0)
    assert (s.p5, s.p50, s.p95) == pytest.approx((5.95, 50.5, 95.05))
    half = 1.9842169515086827 * s.sd / 10  # t(0.975, 99)
    assert (s.ci_low, s.ci_high) == pytest.approx((50.5 - half, 50.5 + half))
    one = summarise([3.0])
    assert (one.ci_low, one.ci_high, one.sd) == (3.0, 3.0, 0.0)


def test_welch_flags_equal_means_5_pct_of_the_time_and_sees_a_real_shift():
    rng = np.random.default_rng(23)
    same = [difference(rng.normal(10, 1, 8), rng.normal(10, 3, 20)).beyond_noise
            for _ in range(TRIALS)]
    assert abs(np.mean(same) - 0.05) <= SLACK
    shifted = [difference(rng.normal(10, 1, 20), rng.normal(11.5, 1, 20)).beyond_noise
               for _ in range(500)]
    assert np.mean(shifted) > 0.99
    d = difference([1.0, 1.0, 1.0], [2.0, 2.0])
    assert (d.diff, d.beyond_noise, d.p_value) == (1.0, True, 0.0)
    with pytest.raises(ValueError, match="need >= 2 replications on each side"):
        difference([1.0], [1.0, 2.0])
