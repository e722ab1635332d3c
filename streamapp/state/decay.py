"""Forward decay (Cormode, Shkapenyuk, Srivastava, Xu; ICDE 2009).

An event of weight ``w`` at time ``t`` is stored as ``w * exp(λ (t − L))`` for a landmark
``L``. Its value seen from any later time ``T`` is the stored value times ``exp(−λ (T − L))``,
the same factor for every entry, so ranking by stored score is exact at any time and an
increment is a single ``ZINCRBY``. Stored values grow with ``t − L``; before they get too large
every value is multiplied by ``exp(−λ (L' − L))`` and the landmark moves to ``L'``.

>>> rate = decay_rate(half_life_ms=1000.0)
>>> round(value_at(forward_weight(1.0, 5000.0, 0.0, rate), 6000.0, 0.0, rate), 9)
0.5
"""

from __future__ import annotations

import math

# Past this exponent a stored value is within a few orders of magnitude of losing
# headroom for sums of many events; well below float64's ~709.
RESCALE_EXPONENT = 200.0


def decay_rate(half_life_ms: float) -> float:
    """λ such that a value halves every ``half_life_ms``."""
    if half_life_ms <= 0:
        raise ValueError(f"half-life must be positive, got {half_life_ms}")
    return math.log(2.0) / half_life_ms


def forward_weight(weight: float, ts: float, landmark: float, rate: float) -> float:
    """What one event adds to a stored forward-decayed sum."""
    return weight * math.exp(rate * (ts - landmark))


def value_at(stored: float, now: float, landmark: float, rate: float) -> float:
    """The decayed value, as of ``now``, of a stored forward-decayed sum."""
    return stored * math.exp(-rate * (now - landmark))


def rescale_factor(old_landmark: float, new_landmark: float, rate: float) -> float:
    """Multiplier that re-expresses stored sums against a later landmark."""
    return math.exp(-rate * (new_landmark - old_landmark))


def needs_rescale(ts: float, landmark: float, rate: float) -> bool:
    """True when events at ``ts`` would be stored with too large an exponent."""
    return rate * (ts - landmark) > RESCALE_EXPONENT
