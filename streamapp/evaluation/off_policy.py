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

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from streamapp.recommend import learned_ranker


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
class SlotItem:
    """One item the last slot could have shown: its hand score and normalised signals."""

    item_id: str
    score: float
    signals: Mapping[str, float]


@dataclass(frozen=True)
class Impression:
    """The last slot of an audited list: what was shown there, how likely, whether the user
    then interacted with it, and the slot's action set (the ranking's pick first)."""

    propensity: float
    explored: bool
    tail: int
    clicked: bool
    item_id: str = ""
    slot: tuple[SlotItem, ...] = ()
    tenant: str = "default"


# A target policy: the probability it gives to the logged item of an impression.
Policy = Callable[[Impression], float]


def exploration_policy(impression: Impression, share: float) -> float:
    """Probability that a policy exploring ``share`` of lists would show the logged item.

    The ranking's own pick is shown with 1 − share; each of the ``tail`` items with share / tail.

    >>> exploration_policy(Impression(0.9, False, 10, True), 0.2)
    0.8
    >>> round(exploration_policy(Impression(0.01, True, 10, False), 0.2), 3)
    0.02
    """
    return share / impression.tail if impression.explored else 1.0 - share


def greedy_policy(scorer: Callable[[SlotItem, float], float]) -> Policy:
    """A ranking that fills the last slot with its best-scoring item of the action set (ties:
    the logged ranking's order). ``scorer(item, prior)`` gets the item and its hand score
    relative to the slot's best (what the learned ranker's ``prior`` feature is).

    >>> slot = (SlotItem("a", 2.0, {"popular": 1.0}), SlotItem("b", 1.0, {"covisit": 1.0}))
    >>> by_covisit = greedy_policy(weights_scorer({"covisit": 1.0}))
    >>> by_covisit(Impression(0.5, True, 1, True, "b", slot))
    1.0
    """

    def policy(impression: Impression) -> float:
        top = max((i.score for i in impression.slot), default=0.0) or 1.0
        scores = [scorer(item, item.score / top) for item in impression.slot]
        best = scores.index(max(scores))
        return 1.0 if impression.slot[best].item_id == impression.item_id else 0.0

    return policy


def weights_scorer(weights: Mapping[str, float]) -> Callable[[SlotItem, float], float]:
    """Hand weights over the normalised signals (another ``STREAMAPP_SCORE_WEIGHTS``)."""
    return lambda item, _: sum(weights.get(name, 0.0) * v for name, v in item.signals.items())


def ranker_scorer(weights: Mapping[str, float]) -> Callable[[SlotItem, float], float]:
    """A learned ranker's weights (:func:`streamapp.recommend.learned_ranker.score`)."""
    return lambda item, prior: learned_ranker.score(weights, item.signals, prior)


def estimate(impressions: Sequence[Impression], policy: Policy) -> Estimate:
    """SNIPS estimate of the last slot's click rate under ``policy``."""
    return snips(
        [1.0 if i.clicked else 0.0 for i in impressions],
        [policy(i) for i in impressions],
        [i.propensity for i in impressions],
    )


def estimate_exploration(impressions: Sequence[Impression], share: float) -> Estimate:
    """SNIPS estimate of the last slot's click rate if lists explored ``share`` of the time."""
    return estimate(impressions, lambda i: exploration_policy(i, share))


def candidate(
    kind: str, exploration: float = 0.0, weights: Mapping[str, float] | None = None, of: str = ""
) -> tuple[str, Policy]:
    """The candidate policy of ``streamapp ips --policy``, and how the report describes it:
    an exploration share, or a greedy ranking by hand weights or by the learned ranker
    ``weights`` of snapshot ``of``.

    >>> candidate("exploration", exploration=0.2)[0]
    'explore the last slot in 20% of lists'
    >>> candidate("ranker", weights={}, of="mf-1")[0]
    'rank by the learned ranker of snapshot mf-1'
    """
    weights = dict(weights or {})
    if kind == "exploration":
        described = f"explore the last slot in {exploration:.0%} of lists"
        return described, functools.partial(exploration_policy, share=exploration)
    if kind == "weights":
        return f"rank by hand weights {weights}", greedy_policy(weights_scorer(weights))
    if kind == "ranker":
        described = f"rank by the learned ranker of snapshot {of}"
        return described, greedy_policy(ranker_scorer(weights))
    raise ValueError(f"unknown policy {kind!r}")


def comparable(impressions: Sequence[Impression], kind: str) -> list[Impression]:
    """The impressions a candidate can be judged on: rankings are compared on the last slot's
    action set, which records older than it lack; exploration needs only the propensity."""
    return list(impressions) if kind == "exploration" else [i for i in impressions if i.slot]


def report(impressions: Sequence[Impression], described: str, policy: Policy) -> dict[str, Any]:
    """The estimate with what it was estimated from (what ``streamapp ips`` prints)."""
    clicked = sum(i.clicked for i in impressions)
    return {
        "policy": described,
        "impressions": len(impressions),
        "clicked": clicked,
        "logged_click_rate": clicked / len(impressions),
        **asdict(estimate(impressions, policy)),
    }
