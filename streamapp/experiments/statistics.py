"""The statistics an experiment is decided by, as pure functions over per-user values.

- **The user is the unit.** A variant's metric is a ratio of sums over its users — clicks over
  exposures, revenue over users — so its variance comes from the delta method over per-user
  (numerator, denominator) pairs: exposures of one user are not independent, and treating them
  as such understates the variance. A per-user mean is the ratio with denominator 1.
  :class:`Moments` holds the sums, which add up as users arrive (a streaming report keeps them,
  not the users).
- **CUPED** (Deng et al., 2013) removes from a per-user metric what its value before the
  experiment predicts of it, with one coefficient over all variants: the same mean, a smaller
  variance when the two correlate.
- **Always-valid inference.** A dashboard is watched every minute; a fixed-horizon test
  read at every look rejects a true null far more often than alpha. The mixture sequential
  probability ratio test (Johari et al., 2017, "Always valid inference") gives a p-value and a
  confidence sequence on the difference that stay valid at any look, for any stopping rule.
- **A sample-ratio mismatch blocks every decision**: users split otherwise than planned mean
  the assignment or the logging is broken, and no metric can be trusted (chi-square test).
- **Several metrics** are corrected together with Holm's step-down procedure.

>>> control = Moments.of([0, 1, 0, 0, 1, 0, 0, 0])
>>> round(estimate(control).value, 3), round(estimate(control).variance, 4)
(0.25, 0.0268)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import stats

__all__ = [
    "Comparison",
    "Estimate",
    "Moments",
    "compare",
    "confidence_sequence",
    "cuped",
    "estimate",
    "holm",
    "mixture_p_value",
    "power",
    "sample_size",
    "srm_p_value",
]

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Moments:
    """Sums over a variant's users of a metric's numerator ``x`` and denominator ``y``."""

    n: int = 0
    x: float = 0.0
    xx: float = 0.0
    y: float = 0.0
    yy: float = 0.0
    xy: float = 0.0

    @classmethod
    def of(
        cls, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray | None = None
    ) -> Moments:
        """Per-user numerators (and denominators; 1 each when left out: a per-user mean)."""
        xs = np.asarray(x, dtype=float)
        ys = np.ones_like(xs) if y is None else np.asarray(y, dtype=float)
        return cls(
            len(xs),
            float(xs.sum()),
            float(xs @ xs),
            float(ys.sum()),
            float(ys @ ys),
            float(xs @ ys),
        )

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.n + other.n,
            self.x + other.x,
            self.xx + other.xx,
            self.y + other.y,
            self.yy + other.yy,
            self.xy + other.xy,
        )


@dataclass(frozen=True)
class Estimate:
    """A variant's metric and the variance of that estimate."""

    value: float
    variance: float


def estimate(m: Moments) -> Estimate:
    """Σx / Σy and its variance by the delta method: (s_xx − 2R s_xy + R² s_yy) / (n ȳ²),
    with sample (co)variances. Infinite variance below two users.

    >>> e = estimate(Moments.of([2, 0, 3, 1], [4, 1, 5, 2]))
    >>> round(e.value, 4), round(e.variance, 5)
    (0.5, 0.00463)
    """
    if m.n < 2 or m.y == 0:
        return Estimate(m.x / m.y if m.y else math.nan, math.inf)
    n = m.n
    ratio = m.x / m.y
    mean_y = m.y / n
    s_xx = (m.xx - m.x * m.x / n) / (n - 1)
    s_yy = (m.yy - m.y * m.y / n) / (n - 1)
    s_xy = (m.xy - m.x * m.y / n) / (n - 1)
    variance = (s_xx - 2 * ratio * s_xy + ratio * ratio * s_yy) / (n * mean_y * mean_y)
    return Estimate(ratio, max(variance, 0.0))


def cuped(values: Sequence[np.ndarray], before: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each variant's per-user values minus θ (covariate − its mean), θ = cov / var of the
    covariate over the users of every variant: one θ for all, so the adjustment moves no
    variant's mean relative to another's (assignment is independent of the past).

    >>> y = [np.array([3.0, 5.0]), np.array([4.0, 8.0])]
    >>> x = [np.array([1.0, 3.0]), np.array([1.0, 3.0])]
    >>> [a.tolist() for a in cuped(y, x)]
    [[4.5, 3.5], [5.5, 6.5]]
    """
    all_y = np.concatenate(values).astype(float)
    all_x = np.concatenate(before).astype(float)
    spread = all_x.var()
    theta = 0.0 if spread == 0 else float(np.cov(all_y, all_x, bias=True)[0, 1] / spread)
    center = all_x.mean()
    return [
        np.asarray(y, float) - theta * (np.asarray(x, float) - center)
        for y, x in zip(values, before, strict=True)
    ]


def _half_width(variance: float, alpha: float, tau: float) -> float:
    """Half-width of the mixture SPRT's confidence sequence with a N(0, τ²) mixing prior: where
    the likelihood ratio of the observed difference reaches 1/alpha."""
    if not math.isfinite(variance):
        return math.inf
    if variance <= 0:
        return 0.0
    tau2 = tau * tau
    return math.sqrt(
        variance
        * (variance + tau2)
        / tau2
        * (math.log((variance + tau2) / variance) - 2 * math.log(alpha))
    )


def mixture_p_value(difference: float, variance: float, tau: float) -> float:
    """1 / the mixture likelihood ratio of a zero difference against N(0, τ²) alternatives,
    capped at 1. Always valid once the running minimum over looks is taken (:func:`compare`).

    >>> round(mixture_p_value(0.0, 1.0, 1.0), 3), mixture_p_value(10.0, 1.0, 1.0) < 1e-6
    (1.0, True)
    """
    if not math.isfinite(variance) or variance <= 0:
        return 1.0
    tau2 = tau * tau
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + tau2 * difference * difference / (
        2 * variance * (variance + tau2)
    )
    return min(1.0, math.exp(-log_ratio))


def confidence_sequence(
    difference: float, variance: float, alpha: float, tau: float
) -> tuple[float, float]:
    """An interval on the true difference that holds at every look at once with probability
    1 − alpha; it is wider than a fixed-horizon interval, the price of looking any time."""
    width = _half_width(variance, alpha, tau)
    return difference - width, difference + width


@dataclass(frozen=True)
class Comparison:
    """Treatment against control at one look."""

    difference: float  # treatment − control
    lift: float  # the difference relative to control (nan when control is 0)
    ci_low: float
    ci_high: float
    p_value: float  # always valid: the running minimum over looks

    def significant(self, alpha: float) -> bool:
        return self.p_value <= alpha


def compare(
    control: Estimate,
    treatment: Estimate,
    alpha: float,
    tau: float,
    previous_p: float = 1.0,
) -> Comparison:
    """The difference, its confidence sequence and its always-valid p-value (the minimum of
    this look's and ``previous_p``, the one reported at the look before).

    >>> c = compare(Estimate(0.10, 1e-5), Estimate(0.13, 1e-5), alpha=0.05, tau=0.02)
    >>> round(c.lift, 2), c.significant(0.05), c.ci_low > 0
    (0.3, True, True)
    """
    difference = treatment.value - control.value
    variance = control.variance + treatment.variance
    low, high = confidence_sequence(difference, variance, alpha, tau)
    lift = difference / control.value if control.value else math.nan
    p_value = min(previous_p, mixture_p_value(difference, variance, tau))
    return Comparison(difference, lift, low, high, p_value)


def srm_p_value(users: Sequence[int], shares: Sequence[float]) -> float:
    """Chi-square goodness of fit of the users each variant got to the planned shares.

    >>> round(srm_p_value([1000, 1100], [0.5, 0.5]), 4)
    0.0291
    """
    total = sum(users)
    if total == 0:
        return 1.0
    weights = np.asarray(shares, dtype=float)
    expected = weights / weights.sum() * total
    return float(stats.chisquare(np.asarray(users, dtype=float), expected).pvalue)


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise error ``alpha``.

    >>> holm([0.01, 0.04, 0.03, 0.005], 0.05)
    [True, False, False, True]
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected


def power(
    users: int, sd: float, effect: float, alpha: float, tau: float, shares: tuple[float, float]
) -> float:
    """The chance that the mixture SPRT has rejected by the time ``users`` are in (split by
    ``shares``) when the true difference is ``effect``, counting the last look only: a lower
    bound, since earlier looks can only add rejections."""
    variance = sd * sd * (1 / shares[0] + 1 / shares[1]) / users
    width = _half_width(variance, alpha, tau)
    spread = math.sqrt(variance)
    return _NORMAL.cdf((effect - width) / spread) + _NORMAL.cdf((-effect - width) / spread)


def sample_size(
    sd: float,
    effect: float,
    alpha: float = 0.05,
    target: float = 0.8,
    tau: float | None = None,
    shares: tuple[float, float] = (0.5, 0.5),
) -> int:
    """Users (all variants together) the always-valid test needs to find a true difference of
    ``effect`` (the minimum detectable effect, in the metric's units) with probability
    ``target``; the mixture's τ is the effect unless given. Larger than a fixed-horizon test's
    n, which would hold only if nobody looked before the end.

    >>> sample_size(sd=0.3, effect=0.01) > 2 * 14_128  # the fixed-horizon n is 14,128 per arm
    True
    """
    tau = effect if tau is None else tau
    low, high = 2, 2
    while power(high, sd, effect, alpha, tau, shares) < target:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if power(middle, sd, effect, alpha, tau, shares) < target:
            low = middle
        else:
            high = middle
    return high
