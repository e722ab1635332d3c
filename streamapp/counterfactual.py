"""Off-policy estimates of a candidate policy's click rate from logged recommendations.

Each logged impression carries the probability with which the logging policy showed the
action (its propensity) and whether it was clicked. Inverse propensity scoring reweights the
logged rewards by how much more (or less) the candidate policy would have shown the same
action; the self-normalised variant (SNIPS, Swaminathan & Joachims 2015) divides by the sum of
the weights instead of n, trading a small bias for much lower variance.

>>> estimate = snips([1.0, 0.0, 1.0], target=[0.5, 0.5, 1.0], logging=[0.25, 0.5, 0.5])
>>> round(estimate.snips, 4), round(estimate.ips, 4)
(0.8, 1.3333)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """IPS and SNIPS estimates of a policy's expected reward, with the effective sample size."""

    ips: float
    snips: float
    effective_sample_size: float
    n: int


def snips(rewards: Sequence[float], target: Sequence[float], logging: Sequence[float]) -> Estimate:
    """Estimate the reward of the target policy from ``n`` logged impressions.

    ``target[i]`` and ``logging[i]`` are the probabilities that the candidate and the logging
    policy give to the action logged at ``i``; logging probabilities must be positive (a
    policy that never explores cannot be evaluated off-line for actions it never shows).
    """
    r = np.asarray(rewards, dtype=float)
    p = np.asarray(logging, dtype=float)
    if r.size == 0:
        raise ValueError("no logged impressions")
    if np.any(p <= 0):
        raise ValueError("logging propensities must be positive")
    w = np.asarray(target, dtype=float) / p
    total = float(w.sum())
    return Estimate(
        ips=float((w * r).mean()),
        snips=float((w * r).sum() / total) if total > 0 else 0.0,
        effective_sample_size=float(total**2 / (w**2).sum()) if total > 0 else 0.0,
        n=int(r.size),
    )


@dataclass(frozen=True)
class Impression:
    """The last slot of an audited list: what was shown there, how likely, and whether the user
    then interacted with it."""

    propensity: float
    explored: bool
    tail: int
    clicked: bool


def exploration_policy(impression: Impression, share: float) -> float:
    """Probability that a policy exploring ``share`` of lists would show the logged item.

    The ranking's own pick is shown with 1 − share; each of the ``tail`` items with share / tail.

    >>> exploration_policy(Impression(0.9, False, 10, True), 0.2)
    0.8
    >>> round(exploration_policy(Impression(0.01, True, 10, False), 0.2), 3)
    0.02
    """
    return share / impression.tail if impression.explored else 1.0 - share


def estimate_exploration(impressions: Sequence[Impression], share: float) -> Estimate:
    """SNIPS estimate of the last slot's click rate if lists explored ``share`` of the time."""
    return snips(
        [1.0 if i.clicked else 0.0 for i in impressions],
        [exploration_policy(i, share) for i in impressions],
        [i.propensity for i in impressions],
    )
