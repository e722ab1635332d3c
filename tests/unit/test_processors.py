"""The two processors' own logic against in-memory fakes of the store and the sink: which
records are dead-lettered, which users are ranked, answered from a kept ranking or refreshed,
what is committed and what is sent. The promises themselves are held against Kafka and Redis in
tests/integration/ (stock-outs, crashes, rebalances) and tests/faults/."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from prometheus_client import REGISTRY

from streamapp.clock import now_ms
from streamapp.contracts.events import Record
from streamapp.experiments.assignment import assign
from streamapp.experiments.definition import EXAMPLE, parse
from streamapp.settings import Settings
from streamapp.worker.interactions import InteractionProcessor
from streamapp.worker.inventory import InventoryProcessor
from tests.fakes import MemorySink, MemoryStore

SETTINGS = Settings(top_k=2, audit_sample_rate=1.0, score_weights={"recent": 1.0, "popular": 0.5})


def record(topic: str, offset: int, value: dict | bytes, key: bytes = b"u1") -> Record:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return Record(topic, 0, offset, key, raw, now_ms())


def click(n: int, user: str, item: str) -> Record:
    event = {"event_id": f"e{n}", "user_id": user, "item_id": item, "ts": now_ms()}
    return record("clicks", n, event, user.encode())


def stock(n: int, item: str, units: int) -> Record:
    event = {"event_id": f"s{n}", "item_id": item, "stock": units, "ts": now_ms() + n}
    return record("inventory", n, event, item.encode())


@pytest.fixture
def parts() -> tuple[MemoryStore, MemorySink, InteractionProcessor, InventoryProcessor]:
    store, sink = MemoryStore(top_k=SETTINGS.top_k), MemorySink()
    return (
        store,
        sink,
        InteractionProcessor(SETTINGS, store, sink),  # type: ignore[arg-type]
        InventoryProcessor(SETTINGS, store, sink),  # type: ignore[arg-type]
    )


async def test_a_batch_publishes_one_list_per_user_and_dead_letters_the_bad(parts):
    store, sink, interactions, _ = parts
    batch = [
        click(0, "u1", "a"),
        click(1, "u1", "b"),
        record("clicks", 2, b"{not json"),
        click(3, "u2", "a"),
        record("clicks", 4, {"event_id": "e4", "user_id": "u3", "ts": now_ms()}),
    ]
    await interactions.process(batch)
    lists = sink.messages("recommendations")
    assert sorted(m["user_id"] for m in lists) == ["u1", "u2"]
    u1 = next(m for m in lists if m["user_id"] == "u1")
    assert {i["item_id"] for i in u1["items"]} == {"a", "b"}
    assert u1["trigger"]["offset"] == 1  # the user's newest event caused it
    letters = sink.messages("dead-letter")
    assert sorted((d["offset"], d["reason"]) for d in letters) == [
        (2, "malformed_json"),
        (4, "schema_violation"),
    ]
    assert [r.offset for r in store.ingested] == [0, 1, 3]
    assert store.gathered[-1] == [("default", "u1"), ("default", "u2")]  # both ranked


async def test_every_list_is_audited_at_rate_one_with_its_signals(parts):
    _, sink, interactions, _ = parts
    await interactions.process([click(0, "u1", "a"), click(1, "u1", "b")])
    (audit,) = sink.messages("audit")
    assert audit["user_id"] == "u1"
    assert [i["item_id"] for i in audit["items"]] == ["b", "a"]
    assert all(i["signals"] for i in audit["items"])


async def test_a_duplicate_event_changes_nothing_but_still_answers(parts):
    store, sink, interactions, _ = parts
    await interactions.process([click(0, "u1", "a")])
    await interactions.process([click(0, "u1", "a")])
    assert len(sink.messages("recommendations")) == 2
    assert store.recent[("default", "u1")] == ["a"]


async def test_a_stock_out_refreshes_the_users_shown_the_item_from_their_kept_ranking(parts):
    store, sink, interactions, inventory = parts
    await interactions.process([click(n, "u1", item) for n, item in enumerate("abc")])
    assert store.last[("default", "u1")] == ["c", "b"]
    await inventory.process([stock(0, "c", 0)])
    (request,) = sink.messages("refresh")
    assert (request["user_id"], request["item_id"]) == ("u1", "c")
    await interactions.process([record("refresh", 0, request)])
    corrected = sink.messages("recommendations")[-1]
    assert [i["item_id"] for i in corrected["items"]] == ["b", "a"]
    assert corrected["trigger"]["reason"] == "stock_out"
    assert store.gathered[-1] == []  # answered from the kept ranking, not ranked again


async def test_a_stale_inventory_update_is_dead_lettered_and_not_applied(parts):
    store, sink, _, inventory = parts
    await inventory.process([stock(5, "a", 3)])
    await inventory.process([stock(1, "a", 0)])
    (letter,) = sink.messages("dead-letter")
    assert letter["reason"] == "stale_update"
    assert store.out_of_stock("default") == set()


async def test_each_user_is_ranked_with_the_treatment_of_their_variant():
    """One variant weighs popularity over the session, the other explores every list: each
    user's list and audit record follow the variant the assignment gives them."""
    experiment = parse(
        {
            **EXAMPLE,
            "status": "running",
            "variants": [
                {"name": "popular", "share": 0.5, "treatment": {"score_weights": {"recent": 0}}},
                {"name": "exploring", "share": 0.5, "treatment": {"exploration": 1.0}},
            ],
        }
    )
    store, sink = MemoryStore(top_k=SETTINGS.top_k), MemorySink()
    interactions = InteractionProcessor(
        SETTINGS,
        store,  # type: ignore[arg-type]
        sink,  # type: ignore[arg-type]
        experiments=lambda: [experiment],
    )
    users = [f"u{n}" for n in range(12)]

    def published(variant: str) -> float:
        labels = {"experiment": EXAMPLE["experiment_id"], "variant": variant}
        return REGISTRY.get_sample_value("streamapp_experiment_lists_total", labels) or 0.0

    before = {v: published(v) for v in ("popular", "exploring")}
    await interactions.process([click(n, u, f"i{n}") for n, u in enumerate(users)])
    audits = {a["user_id"]: a for a in sink.messages("audit")}
    for message in sink.messages("recommendations"):
        ((_, variant),) = assign([experiment], "default", message["user_id"])
        assert (message["experiment"], message["variant"]) == (
            EXAMPLE["experiment_id"],
            variant.name,
        )
        audit = audits[message["user_id"]]
        assert audit["exploration"] == (
            1.0 if variant.name == "exploring" else SETTINGS.exploration
        )
        if (
            variant.name == "popular"
        ):  # the session weighs nothing: the user's own click is not first
            assert message["items"][0]["source"] != "recent"
    assert {m["variant"] for m in sink.messages("recommendations")} == {"popular", "exploring"}
    dealt = Counter(m["variant"] for m in sink.messages("recommendations"))
    assert {v: published(v) - before[v] for v in before} == dealt
