"""Promise 1: no out-of-stock item is ever recommended, from any source, until restocked."""

from __future__ import annotations

import re

import jsonschema
import pytest

from streamapp.contracts.messages import item_entry
from streamapp.contracts.schemas import load
from tests.state import stored_list
from tests.support import Tail, now_ms, send, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

HOT = "hot"  # the item every source will want to recommend
CATEGORY = "shoes"


def lists_of(records: list[dict], user: str) -> list[dict]:
    return [r for r in records if r["user_id"] == user]


async def test_stock_out_removes_item_from_every_source_and_restock_brings_it_back(
    deployment, producer
):
    worker = deployment.worker().start()
    clicks, inventory = deployment.topic("clicks"), deployment.topic("inventory")
    t = now_ms() - 60_000
    items = [HOT] + [f"i{n}" for n in range(8)]
    for item in items:
        await send(
            producer,
            inventory,
            item,
            {"event_id": f"inv-{item}", "item_id": item, "stock": 5, "ts": t, "category": CATEGORY},
        )
    # HOT is co-visited with everything, the most popular item, and top of its category.
    users = [f"u{n}" for n in range(6)]
    seq = 0
    for n, user in enumerate(users):
        for item in (items[1 + n], HOT, items[2 + n]):
            seq += 1
            await send(
                producer,
                clicks,
                user,
                {
                    "event_id": f"c{seq}",
                    "user_id": user,
                    "item_id": item,
                    "ts": t + seq,
                    "category": CATEGORY,
                },
            )
    async with Tail(deployment.topic("recommendations")) as recs:
        # Wait for each user's list after their last click: HOT is in it (bought by none).
        await recs.until(
            lambda rs: all(
                any(r["trigger"]["event_id"] == f"c{3 * (n + 1)}" for r in rs)
                for n in range(len(users))
            )
        )
        for record in recs.records:
            jsonschema.validate(record, load("recommendation"))
        current = {u: lists_of(recs.records, u)[-1] for u in users}
        affected = {u for u, rec in current.items() if HOT in [i["item_id"] for i in rec["items"]]}
        assert affected, "HOT should be in current lists before the stock-out"
        sources = {i["source"] for rec in recs.records for i in rec["items"] if i["item_id"] == HOT}
        assert sources, "HOT was recommended before the stock-out"

        before = len(recs.records)
        await send(
            producer,
            inventory,
            HOT,
            {
                "event_id": "inv-out",
                "item_id": HOT,
                "stock": 0,
                "ts": t + 1_000,
                "category": CATEGORY,
            },
        )
        # Every affected user gets a corrected list, caused by the stock-out.
        await recs.until(
            lambda rs: (
                affected
                <= {r["user_id"] for r in rs[before:] if r["trigger"]["reason"] == "stock_out"}
            )
        )
        corrections = [r for r in recs.records[before:] if r["trigger"]["reason"] == "stock_out"]
        for r in corrections:
            assert HOT not in [i["item_id"] for i in r["items"]]
            assert r["items"], "a corrected list is never empty while stock exists"

        # New activity, including clicks on HOT itself, never brings it back.
        after_out = len(recs.records)
        for n, user in enumerate([*users, "newcomer"]):
            for item in (HOT, items[(n + 4) % len(items)]):
                seq += 1
                await send(
                    producer,
                    clicks,
                    user,
                    {
                        "event_id": f"c{seq}",
                        "user_id": user,
                        "item_id": item,
                        "ts": t + 2_000 + seq,
                    },
                )
        last_event = f"c{seq}"
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == last_event for r in rs))
        for r in recs.records[after_out:]:
            assert HOT not in [i["item_id"] for i in r["items"]], r
        # ... nor from the cache behind the HTTP API.
        for user in users:
            served = worker.get(f"/v1/users/{user}/recommendations")
            assert HOT not in [i["item_id"] for i in served["items"]]
        assert HOT not in [
            i["item_id"] for i in worker.get("/v1/users/nobody/recommendations")["items"]
        ]

        # Restock: HOT is eligible again.
        await send(
            producer,
            inventory,
            HOT,
            {
                "event_id": "inv-in",
                "item_id": HOT,
                "stock": 9,
                "ts": t + 5_000,
                "category": CATEGORY,
            },
        )
        restocked = len(recs.records)
        for n, user in enumerate(users):
            seq += 1
            await send(
                producer,
                clicks,
                user,
                {
                    "event_id": f"c{seq}",
                    "user_id": user,
                    "item_id": items[1 + n],
                    "ts": t + 6_000 + seq,
                },
            )
        await recs.until(
            lambda rs: any(HOT in [i["item_id"] for i in r["items"]] for r in rs[restocked:])
        )


async def test_unknown_stock_items_are_dropped_when_configured(deployment, producer):
    deployment.worker(STREAMAPP_DROP_UNKNOWN_STOCK="true").start()
    clicks, inventory = deployment.topic("clicks"), deployment.topic("inventory")
    t = now_ms() - 10_000
    for item in ("known1", "known2"):
        await send(
            producer,
            inventory,
            item,
            {"event_id": f"inv-{item}", "item_id": item, "stock": 4, "ts": t},
        )
    # Kafka orders nothing across topics: let the inventory land before the clicks that need it.
    await wait_for(
        lambda: (
            deployment.redis.exists(
                deployment.key("default:item:known1"), deployment.key("default:item:known2")
            )
            == 2
        ),
        what="the product table",
    )
    for n, item in enumerate(["known1", "mystery", "known2", "mystery2"]):
        await send(
            producer,
            clicks,
            "u",
            {"event_id": f"k{n}", "user_id": "u", "item_id": item, "ts": t + n},
        )
    async with Tail(deployment.topic("recommendations")) as recs:
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "k3" for r in rs))
    for record in recs.records:
        assert {i["item_id"] for i in record["items"]} <= {"known1", "known2"}
    assert {i["item_id"] for i in recs.records[-1]["items"]} == {"known1", "known2"}


async def test_a_stock_out_is_answered_from_the_stored_ranking_until_it_runs_dry(
    deployment, producer
):
    """The corrected list is the user's last ranking without the item (the next ranked item
    fills the slot, same scores, same version); once that ranking holds fewer than a full list
    in stock, the user is ranked again and never shown an out-of-stock item."""
    worker = deployment.worker().start()
    clicks, inventory = deployment.topic("clicks"), deployment.topic("inventory")
    t = now_ms() - 60_000
    catalogue = [f"p{n:02d}" for n in range(40)]
    for item in catalogue:
        await send(
            producer,
            inventory,
            item,
            {"event_id": f"inv-{item}", "item_id": item, "stock": 3, "ts": t, "category": "bags"},
        )
    await wait_for(
        lambda: (
            deployment.redis.exists(*[deployment.key(f"default:item:{i}") for i in catalogue]) == 40
        ),
        what="the product table",
    )
    # Other shoppers make the catalogue popular and co-visited; "me" views a few items.
    seq = 0
    for n in range(120):
        seq += 1
        user = f"o{n % 12}"
        item = catalogue[(n * 7) % 40]
        await send(
            producer,
            clicks,
            user,
            {"event_id": f"e{seq}", "user_id": user, "item_id": item, "ts": t + seq},
        )
    for item in catalogue[:3]:
        seq += 1
        await send(
            producer,
            clicks,
            "me",
            {"event_id": f"e{seq}", "user_id": "me", "item_id": item, "ts": t + seq},
        )
    last = f"e{seq}"
    async with Tail(deployment.topic("recommendations")) as recs:
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == last for r in rs))
        stored = stored_list(deployment.redis, deployment.key("default:u:me:record"))
        version, ranked = stored.version, stored.items
        assert len(ranked) == 20, "the ranking is kept twice the list length deep"
        out: list[str] = []
        for n in range(11):
            current = lists_of(recs.records, "me")[-1]
            shown = [i["item_id"] for i in current["items"]]
            assert len(shown) == 10
            gone = shown[0]
            out.append(gone)
            before = len(recs.records)
            await send(
                producer,
                inventory,
                gone,
                {"event_id": f"out-{n}", "item_id": gone, "stock": 0, "ts": t + 1_000 + n},
            )
            await recs.until(
                lambda rs, e=f"out-{n}", b=before: any(
                    r["trigger"]["event_id"] == e and r["user_id"] == "me" for r in rs[b:]
                )
            )
            corrected = next(
                r
                for r in recs.records[before:]
                if r["trigger"]["event_id"] == f"out-{n}" and r["user_id"] == "me"
            )
            items = [i["item_id"] for i in corrected["items"]]
            assert not set(items) & set(out), "never an out-of-stock item"
            if n < 10:
                # Ten items of the ranking are still in stock: answered from it, unchanged.
                expected = [r for r in ranked if r[0] not in out][:10]
                assert items == [r[0] for r in expected]
                assert corrected["items"] == [item_entry(*r) for r in expected]
                assert corrected["model_version"] == version
        # The eleventh stock-out left 9 of the ranking in stock: ranked again, a full list.
        assert len(items) == 10
        reranked = stored_list(deployment.redis, deployment.key("default:u:me:record")).items
        assert not {r[0] for r in reranked} & set(out)
    metrics = worker.text("/metrics")
    assert corrections(metrics, "stored") >= 10
    assert corrections(metrics, "ranked") >= 1


def corrections(metrics: str, answered: str) -> float:
    found = re.search(
        rf'^streamapp_corrections_total{{answered="{answered}"}} (\S+)$', metrics, re.M
    )
    return float(found[1]) if found else 0.0
