"""The learned ranker and its labels: pure logic, no services."""

from __future__ import annotations

import random

from streamapp.contracts.audit import AuditRecord, decode
from streamapp.contracts.messages import Ranked
from streamapp.learning.labels import ShownLists
from streamapp.recommend.learned_ranker import BIAS, LearnedRanker, rerank, score
from streamapp.recommend.pipeline import recommend_user
from streamapp.state.types import TenantSignals, UserSignals


def item(item_id: str, hand: float, **signals: float) -> Ranked:
    return Ranked(item_id, hand, max(signals, key=signals.get) if signals else "catalog", signals)


def test_without_weights_the_hand_order_stands():
    ranked = [item("a", 3, recent=1.0), item("b", 2, covisit=1.0), item("c", 1, popular=1.0)]
    assert rerank(ranked, {}) == ranked


def test_ties_keep_the_hand_order_and_unscored_items_stay_last():
    ranked = [item("fill", 0), item("a", 3, recent=1.0), item("b", 3, recent=1.0)]
    assert [r.item_id for r in rerank(ranked, {"recent": 1.0})] == ["a", "b", "fill"]


def test_it_learns_which_signal_predicts_interaction():
    """Users go back to items of their history and ignore the session items the hand order
    puts first."""
    rng = random.Random(7)
    ranker = LearnedRanker(learning_rate=0.02, l2=1e-4)
    for _ in range(400):
        shown = [
            item(f"s{n}", 2.0, recent=rng.random())
            if n % 2
            else item(f"h{n}", 1.0, history=rng.random())
            for n in range(10)
        ]
        taken = {r.item_id for r in shown if "history" in r.signals and rng.random() < 0.5}
        ranker.learn(shown, taken)
    weights = ranker.weights()
    assert weights["in:history"] > weights["in:recent"]
    test = [item("s", 2.0, recent=0.5), item("h", 1.0, history=0.5)]
    assert [r.item_id for r in rerank(test, weights)] == ["h", "s"]


def test_items_new_to_the_user_keep_the_hand_order_among_themselves():
    """The ranker places them, and orders the user's own items, but never reorders them."""
    ranked = [
        item("n1", 3, covisit=1.0),
        item("own", 2, recent=1.0),
        item("n2", 1, popular=1.0),
        item("fill", 0),
    ]
    # By score alone: n2 (popular), own, n1; the new items' slots keep their hand order.
    weights = {"popular": 9.0, "recent": 4.0}
    assert [r.item_id for r in rerank(ranked, weights)] == ["n1", "own", "n2", "fill"]


def test_a_warm_start_continues_from_published_weights():
    published = {"recent": 1.5, "in:recent": -0.25, BIAS: -2.0}
    ranker = LearnedRanker(learning_rate=0.02, l2=1e-4)
    ranker.warm_start(published, 120)
    assert ranker.weights() == published
    assert ranker.examples == 120
    signals = {"recent": 0.5}
    assert score(ranker.weights(), signals, 1.0) == score(published, signals, 1.0)


def test_recommend_user_reorders_its_top_candidates_with_the_ranker():
    user = UserSignals("default", "u", ["a"], [[("b", 1.0)]], [], [], set())
    shop = TenantSignals(popular=[], catalog=[], blocked=set())
    weights = {"recent": 2.0, "covisit": 1.0}
    hand = recommend_user(user, shop, weights, 2)
    learned = recommend_user(user, shop, weights, 2, ranker={"in:covisit": 5.0})
    assert [r.item_id for r in hand] == ["a", "b"]
    assert [r.item_id for r in learned] == ["b", "a"]
    assert all(r.signals for r in learned), "re-ranked items carry the signals it read"


def audit(user: str, at: int, *items: str) -> AuditRecord:
    return decode(
        {
            "tenant": "default",
            "user_id": user,
            "generated_at": at,
            "items": [
                {
                    "item_id": i,
                    "score": 1.0,
                    "source": "recent",
                    "signals": {"recent": 1.0},
                    "propensity": 1.0,
                }
                for i in items
            ],
        }
    )


def test_labels_count_only_shown_items_touched_inside_the_window():
    lists = ShownLists(window_ms=100)
    lists.add(audit("u", 1000, "a", "b", "c"))
    lists.interaction("default", "u", "a", 999)  # before the list: not caused by it
    lists.interaction("default", "u", "b", 1050)  # inside the window
    lists.interaction("default", "u", "c", 1101)  # too late
    lists.interaction("default", "u", "z", 1050)  # not shown
    lists.interaction("default", "v", "a", 1050)  # another user
    assert lists.closed(now_ms=1100) == []
    [closed] = lists.closed(now_ms=1101)
    assert closed.interacted == {"b"}
    assert len(lists) == 0


def test_pending_lists_are_bounded_oldest_first():
    lists = ShownLists(window_ms=10**9, max_pending=2)
    for n in range(3):
        lists.add(audit(f"u{n}", n, "a"))
    assert [c.generated_at for c in lists.closed(now_ms=0)] == [0]
    assert len(lists) == 2
