"""Forward decay (Cormode, Shkapenyuk, Srivastava, Xu; ICDE 2009).

An event of weight ``w`` at time ``t`` is stored as ``w * exp(λ (t − L))`` for a landmark
``L``. Its value seen from any later time ``T`` is the stored value times ``exp(−λ (T − L))``,
the same factor for every entry, so ranking by stored score is exact at any time and an
increment is a single ``ZINCRBY``. Stored values grow with ``t − L``; before they get too large
every value is multiplied by ``exp(−λ (L' − L))`` and the landmark moves to ``L'``.

What Redis stores is an integer: ``UNITS`` per weight at the landmark (:func:`stored_weight`).
Redis 7.0 writes a sorted-set score that is a whole number below 2**52 as an integer, which a
listpack holds in 1 to 9 bytes, and any other score as its 17 significant digits: integer
scores halve a user's item and category histories. Integers also add up exactly, so a sum does
not depend on the order its events arrived in. A sum that outgrows 2**52 is still a correct
double, only stored as wide as today's fractions.

>>> rate = decay_rate(half_life_ms=1000.0)
>>> round(value_at(forward_weight(1.0, 5000.0, 0.0, rate), 6000.0, 0.0, rate), 9)
0.5
>>> stored_weight(1.0, 0.0, 0.0, rate), stored_weight(3.0, 1000.0, 0.0, rate)
(1000000.0, 6000000.0)
"""

from __future__ import annotations

import math

# A millionth of a weight at the landmark is the resolution of every decayed sum: two clicks
# a tenth of a second apart still weigh differently at a day's half-life (recency breaks the
# ties of popularity), and one worth less than that (twenty half-lives old when added) is
# worth nothing.
UNITS = 1_000_000.0

# Past this exponent (26 half-lives) the landmark moves. Until then a click adds at most
# UNITS·e^18 ≈ 6.6e13, so a user's sums stay integers below 2**52 (≈ 60 clicks at the newest
# weight on one item); a moved landmark brings every value back to millions of units, and to
# nothing what has decayed below one.
RESCALE_EXPONENT = 18.0


def decay_rate(half_life_ms: float) -> float:
    """λ such that a value halves every ``half_life_ms``."""
    if half_life_ms <= 0:
        raise ValueError(f"half-life must be positive, got {half_life_ms}")
    return math.log(2.0) / half_life_ms


def forward_weight(weight: float, ts: float, landmark: float, rate: float) -> float:
    """What one event adds to a stored forward-decayed sum."""
    return weight * math.exp(rate * (ts - landmark))


def stored_weight(weight: float, ts: float, landmark: float, rate: float) -> float:
    """What one event adds to a stored sum, in :data:`UNITS`: a whole number, or past 2**53
    (a replay that never moves its landmark, as the evaluator's) the double itself, which
    holds no fraction there anyway and may exceed any integer type.

    >>> stored_weight(1.0, 100.0, 0.0, decay_rate(1.0)) > 2**64
    True
    """
    units = UNITS * forward_weight(weight, ts, landmark, rate)
    return float(round(units)) if units < 2.0**53 else units


def value_at(stored: float, now: float, landmark: float, rate: float) -> float:
    """The decayed value, as of ``now``, of a stored forward-decayed sum."""
    return stored * math.exp(-rate * (now - landmark))


def rescale_factor(old_landmark: float, new_landmark: float, rate: float) -> float:
    """Multiplier that re-expresses stored sums against a later landmark."""
    return math.exp(-rate * (new_landmark - old_landmark))


def needs_rescale(ts: float, landmark: float, rate: float) -> bool:
    """True when events at ``ts`` would be stored with too large an exponent."""
    return rate * (ts - landmark) > RESCALE_EXPONENT
