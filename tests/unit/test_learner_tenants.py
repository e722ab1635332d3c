"""Each tenant's learned ranker learns from that tenant's lists alone, even where two shops
share user and item ids."""

from __future__ import annotations

from streamapp.contracts.audit import AuditRecord
from streamapp.contracts.messages import Ranked
from streamapp.learning.learner import Learner
from streamapp.recommend.learned_ranker import rerank
from streamapp.settings import Settings
from streamapp.state.store import Store


def shown() -> list[Ranked]:
    return [
        Ranked("x", 2.0, "recent", {"recent": 1.0}),
        Ranked("y", 1.0, "history", {"history": 1.0}),
    ]


def test_two_shops_with_the_same_ids_learn_opposite_rankers():
    settings = Settings()
    learner = Learner(settings, Store(settings))  # labelling needs no connection
    for n in range(300):
        for tenant, picked in (("a", "y"), ("b", "x")):
            learner.shown.add(AuditRecord(tenant, f"u{n}", n, 0.0, shown(), []))
            learner.shown.interaction(tenant, f"u{n}", picked, n + 1)
    learner.label()
    assert set(learner.rankers) == {"a", "b"}
    assert [r.item_id for r in rerank(shown(), learner.rankers["a"].weights())] == ["y", "x"]
    assert [r.item_id for r in rerank(shown(), learner.rankers["b"].weights())] == ["x", "y"]
    assert learner.ranker_examples == 2 * 300 * 2
