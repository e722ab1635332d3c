from __future__ import annotations

import numpy as np
import pytest

from streamapp.counterfactual import Impression, estimate_exploration, snips

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
