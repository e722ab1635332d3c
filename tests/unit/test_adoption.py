"""The learned ranker serves a tenant only while it beats the hand weights on that tenant's
recent lists: refused where its labels teach nothing that carries over, adopted where they
teach what the hand weights miss, and the verdict rides in the snapshot to the worker."""

from __future__ import annotations

import random

import numpy as np

from streamapp.contracts.messages import Ranked
from streamapp.learning.serving import Served
from streamapp.learning.snapshots import Snapshot, decode, encode
from streamapp.recommend.adoption import Adoption, orders
from streamapp.recommend.learned_ranker import LearnedRanker


def candidates(rng: random.Random, n: int = 20) -> list[Ranked]:
    """A list in hand order (by ``recent``), each item with a ``popular`` signal the hand
    weights ignore."""
    out = []
    for position in range(n):
        recent = 0.8**position
        out.append(
            Ranked(f"i{position}", recent, "recent", {"recent": recent, "popular": rng.random()})
        )
    return out


def learn_and_judge(pick, lists: int, seed: int = 7) -> Adoption:
    """What the learner does with each labelled list: judge, then learn."""
    rng = random.Random(seed)
    ranker = LearnedRanker(learning_rate=0.02, l2=1e-4)
    adoption = Adoption(window=2000, min_lists=200)
    for _ in range(lists):
        shown = candidates(rng)
        touched = {pick(shown, rng)}
        adoption.observe("shop", *orders(shown, ranker.weights()), touched)
        ranker.learn(shown, touched)
    return adoption


def test_a_ranker_trained_on_labels_that_do_not_generalise_is_refused():
    # Shoppers touch a random candidate: whatever the ranker fits is noise, and on lists it
    # has not learned from it is no better than the hand order.
    verdict = learn_and_judge(lambda shown, rng: rng.choice(shown).item_id, 3000).verdict("shop")
    assert verdict.lists == 2000
    assert not verdict.adopted, verdict
    assert "not shown better" in verdict.reason


def test_a_ranker_that_learns_what_the_hand_weights_miss_is_adopted():
    # Shoppers touch the most popular candidate, a signal the hand order does not use.
    verdict = learn_and_judge(
        lambda shown, rng: max(shown, key=lambda r: r.signals["popular"]).item_id, 1000
    ).verdict("shop")
    assert verdict.adopted, verdict
    assert verdict.ranker_ndcg > verdict.hand_ndcg + 0.2


def test_too_little_evidence_keeps_the_hand_weights_and_a_restart_keeps_the_last_verdict():
    adoption = Adoption(min_lists=200)
    adoption.observe("shop", ["a", "b"], ["b", "a"], {"b"})
    assert not adoption.adopted("shop")
    assert not adoption.adopted("unknown")
    adoption.observe("shop", ["a", "b"], ["b", "a"], {"z"})  # nothing touched among them
    assert adoption.verdict("shop").lists == 1
    restarted = Adoption(min_lists=200)
    restarted.carry(
        {"shop": learn_and_judge(lambda s, r: s[3].item_id, 400).verdict("shop").as_dict()}
    )
    assert restarted.adopted("shop")


def test_the_snapshot_carries_the_verdict_to_the_worker():
    snapshot = Snapshot(
        "mf-1",
        0,
        1,
        {},
        "pairwise",
        ["a"],
        np.ones((1, 2), dtype=np.float32),
        rankers={"good": {"recent": 1.0}, "bad": {"recent": 2.0}},
        ranker_adoption={"good": {"adopted": True}, "bad": {"adopted": False}},
    )
    loaded = decode(encode(snapshot))
    assert loaded.adopted("good") and not loaded.adopted("bad") and not loaded.adopted("new")
    served = Served("mf-1", None, loaded.rankers, frozenset({"good"}))  # type: ignore[arg-type]
    assert served.ranker_for("good") == {"recent": 1.0}
    assert served.ranker_for("bad") is None
    # A snapshot from before adoption: its ranker serves every tenant, as it did.
    legacy = decode(encode(Snapshot("mf-0", 0, 1, {}, "pairwise", ["a"], np.ones((1, 2)))))
    assert legacy.ranker_adoption is None and legacy.adopted("any")
