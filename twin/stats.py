"""Distributions of a metric over replications: summary, confidence interval, difference test.

Pure functions on arrays (no I/O). The methods, so that a reader can check them:
- percentiles p5/p50/p95: numpy's default "linear" interpolation between order statistics;
- 95 % confidence interval of the mean: Student t-interval, mean +/- t(0.975, n-1) s / sqrt(n)
  with s the sample standard deviation (ddof=1); exact for normal draws, close for others
  by the central limit theorem once n is in the tens;
- difference of two variants: Welch's t-test (unequal variances) with the Welch-Satterthwaite
  degrees of freedom; the difference is "beyond the noise" when its 95 % interval excludes 0
  (equivalently p < 0.05). Two constant samples that differ are beyond the noise (p = 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CI_LEVEL", "CI_METHOD", "DIFF_METHOD", "STATS", "Summary", "Difference",
           "summarise", "difference", "t_interval"]

CI_LEVEL = 0.95
CI_METHOD = "Student t-interval on the mean (95 %)"
DIFF_METHOD = "Welch t-test, 95 % interval of the difference of means"
STATS = ("mean", "p5", "p50", "p95")  # what a target may be judged on (scenario `stat:`)


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    mean: float
    sd: float
    min: float
    p5: float
    p50: float
    p95: float
    max: float
    ci_low: float
    ci_high: float

    def stat(self, name: str) -> float:
        """One of STATS by name."""
        if name not in STATS:
            raise ValueError(f"statistic {name!r}: expected one of {STATS}")
        return float(getattr(self, name))

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class Difference:
    """b - a over replications (a is the reference)."""

    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def beyond_noise(self) -> bool:
        return bool(self.ci_low > 0 or self.ci_high < 0)


def t_interval(values: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """Two-sided t-interval of the mean; a single value (or no spread) gives (mean, mean)."""
    x = np.asarray(values, dtype=np.float64)
    m = float(x.mean())
    if x.size < 2:
        return m, m
    from scipy import stats as _st  # here, not at import: scipy.stats takes ~1 s to import,
    # and a Ray worker that only runs replications never needs it

    half = float(_st.t.ppf(0.5 + level / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return m - half, m + half


def summarise(values: np.ndarray | list[float]) -> Summary:
    """Mean, spread, p5/p50/p95 and the 95 % t-interval of the mean of one metric's draws."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("summarise: no values (run at least one replication)")
    lo, hi = t_interval(x)
    p5, p50, p95 = (float(v) for v in np.percentile(x, [5, 50, 95]))
    return Summary(n=int(x.size), mean=float(x.mean()), sd=float(x.std(ddof=1)) if x.size > 1 else 0.0,
                   min=float(x.min()), p5=p5, p50=p50, p95=p95, max=float(x.max()),
                   ci_low=lo, ci_high=hi)


def difference(a: np.ndarray | list[float], b: np.ndarray | list[float],
               level: float = CI_LEVEL) -> Difference:
    """Welch's test of b - a (module docstring); needs two draws or more on each side."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if xa.size < 2 or xb.size < 2:
        raise ValueError(f"difference: need >= 2 replications on each side, got {xa.size} and "
                         f"{xb.size}; run with --replications 2 or more")
    ma, mb = float(xa.mean()), float(xb.mean())
    va, vb = float(xa.var(ddof=1)) / xa.size, float(xb.var(ddof=1)) / xb.size
    d = mb - ma
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Difference(ma, mb, d, d, d, 1.0 if d == 0 else 0.0)
    from scipy import stats as _st

    dof = (va + vb) ** 2 / (va ** 2 / (xa.size - 1) + vb ** 2 / (xb.size - 1))
    half = float(_st.t.ppf(0.5 + level / 2, dof)) * se
    p = float(2 * _st.t.sf(abs(d) / se, dof))
    return Difference(ma, mb, d, d - half, d + half, p)
