from __future__ import annotations

import numpy as np
import pytest

from streamapp.evaluation.off_policy import (
    Impression,
    SlotItem,
    estimate,
    estimate_exploration,
    greedy_policy,
    ranker_scorer,
    snips,
    weights_scorer,
)

ACTIONS = 5
# True click probability of each action in each of two contexts.
CLICK = np.array([[0.02, 0.05, 0.10, 0.20, 0.04], [0.30, 0.02, 0.03, 0.05, 0.01]])


def simulate(n: int, seed: int):
    rng = np.random.default_rng(seed)
    context = rng.integers(0, 2, n)
    # Logging: a popularity-like policy that prefers action 0, with exploration everywhere.
    logging_policy = np.array([0.5, 0.2, 0.1, 0.1, 0.1])
    action = rng.choice(ACTIONS, n, p=logging_policy)
    reward = rng.random(n) < CLICK[context, action]
    # Candidate: action 3 in context 0, action 0 in context 1, with 10 % uniform exploration.
    best = np.where(context == 0, 3, 0)
    target = np.where(action == best, 0.9, 0.0) + 0.1 / ACTIONS
    true_value = 0.5 * (0.9 * 0.20 + 0.1 * CLICK[0].mean()) + 0.5 * (
        0.9 * 0.30 + 0.1 * CLICK[1].mean()
    )
    return reward.astype(float), target, logging_policy[action], true_value


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snips_recovers_the_true_click_rate_of_a_policy_never_run(seed):
    reward, target, logging, true_value = simulate(200_000, seed)
    estimate = snips(reward, target, logging)
    assert estimate.snips == pytest.approx(true_value, abs=0.01)
    assert estimate.ips == pytest.approx(true_value, abs=0.015)
    # The naive average of logged clicks measures the logging policy, not the candidate.
    assert abs(reward.mean() - true_value) > 0.05
    assert 0 < estimate.effective_sample_size < estimate.n


def test_snips_refuses_actions_the_logging_policy_could_not_show():
    with pytest.raises(ValueError, match="positive"):
        snips([1.0], [1.0], [0.0])
    with pytest.raises(ValueError, match="no logged"):
        snips([], [], [])


def test_exploration_share_estimate_matches_the_simulated_truth():
    rng = np.random.default_rng(11)
    logged_share, tail, pick_ctr, tail_ctr = 0.3, 8, 0.25, 0.05
    impressions = []
    for _ in range(100_000):
        explored = rng.random() < logged_share
        ctr = tail_ctr if explored else pick_ctr
        impressions.append(
            Impression(
                propensity=logged_share / tail if explored else 1 - logged_share,
                explored=explored,
                tail=tail,
                clicked=bool(rng.random() < ctr),
            )
        )
    for share in (0.0, 0.1, 0.5):
        truth = (1 - share) * pick_ctr + share * tail_ctr
        assert estimate_exploration(impressions, share).snips == pytest.approx(truth, abs=0.005)


def simulate_slots(n: int, share: float, seed: int) -> tuple[list[Impression], list[dict]]:
    """Lists whose last slot is logged as the worker logs it: the ranking's pick (the most
    popular item) with 1 − share, else a uniform draw from the other four. Users click mostly
    by co-visitation. Returns the impressions and, per impression, each item's true click
    probability (to compute what any ranking would really get)."""
    rng = np.random.default_rng(seed)
    impressions, truths = [], []
    for _ in range(n):
        popular, covisit = rng.random(5), rng.random(5)
        order = np.argsort(-popular, kind="stable")  # the logging ranking's order
        slot = tuple(
            SlotItem(f"i{a}", float(popular[a]), {"popular": popular[a], "covisit": covisit[a]})
            for a in order
        )
        click = 0.05 + 0.4 * covisit**2
        explored = rng.random() < share
        shown = order[1 + rng.integers(4)] if explored else order[0]
        impressions.append(
            Impression(
                propensity=share / 4 if explored else 1 - share,
                explored=explored,
                tail=4,
                clicked=bool(rng.random() < click[shown]),
                item_id=f"i{shown}",
                slot=slot,
            )
        )
        truths.append({f"i{a}": click[a] for a in range(5)})
    return impressions, truths


def true_rate(impressions: list[Impression], truths: list[dict], scorer) -> float:
    """The click rate the greedy ranking by ``scorer`` really gets in the simulation."""
    total = 0.0
    for impression, truth in zip(impressions, truths, strict=True):
        top = max(i.score for i in impression.slot)
        best = max(impression.slot, key=lambda i: scorer(i, i.score / top))
        total += truth[best.item_id]
    return total / len(impressions)


@pytest.mark.parametrize("seed", [5, 6])
def test_estimates_of_rankings_never_run_match_the_simulated_truth(seed):
    impressions, truths = simulate_slots(40_000, 0.5, seed)
    for scorer in (
        weights_scorer({"covisit": 1.0}),
        weights_scorer({"covisit": 1.0, "popular": 1.0}),
        ranker_scorer({"popular": 2.0, "covisit": 0.5, "covisit*popular": 1.0, "prior": 0.1}),
    ):
        truth = true_rate(impressions, truths, scorer)
        assert estimate(impressions, greedy_policy(scorer)).snips == pytest.approx(truth, abs=0.01)
    # The logged click rate measures the logging ranking, not the one by co-visitation.
    logged = np.mean([i.clicked for i in impressions])
    assert abs(logged - true_rate(impressions, truths, weights_scorer({"covisit": 1.0}))) > 0.05
