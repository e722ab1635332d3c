"""Cold start for items: a new in-stock item reaches the users of its category before anyone
has touched it, leaves the cold pool at its first interaction, and never while out of stock."""

from __future__ import annotations

import pytest

from tests.support import Tail, now_ms, send, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]


def items_of(record: dict) -> dict[str, str]:
    return {i["item_id"]: i["source"] for i in record["items"]}


async def test_new_items_are_recommended_by_category_until_they_have_interactions(
    deployment, producer
):
    worker = deployment.worker().start()
    clicks, inventory = deployment.topic("clicks"), deployment.topic("inventory")
    t = now_ms()

    async def stock(item: str, units: int, category: str, ts: int) -> None:
        event = {"event_id": f"inv-{item}-{ts}", "item_id": item, "stock": units, "ts": ts}
        await send(producer, inventory, item, {**event, "category": category})

    async def click(event_id: str, user: str, item: str, category: str, ts: int) -> None:
        event = {"event_id": event_id, "user_id": user, "item_id": item, "ts": ts}
        await send(producer, clicks, user, {**event, "category": category})

    for item, category in (("a", "shoes"), ("b", "shoes"), ("cap", "hats")):
        await stock(item, 5, category, t)
    await click("c1", "u1", "a", "shoes", t + 1)
    await click("c2", "u2", "cap", "hats", t + 2)
    # New arrivals: two shoes (one sells out before anyone sees it) and a hat.
    await stock("new-shoe", 3, "shoes", t + 3)
    await stock("gone-shoe", 3, "shoes", t + 4)
    await stock("new-hat", 3, "hats", t + 5)
    await stock("gone-shoe", 0, "shoes", t + 6)
    arrivals = deployment.key("default:new:shoes")
    await wait_for(
        lambda: (
            deployment.redis.zscore(arrivals, "new-shoe")
            and deployment.redis.sismember(deployment.key("default:oos"), "gone-shoe")
        ),
        what="the arrivals and the stock-out",
    )

    async with Tail(deployment.topic("recommendations")) as recs:
        await click("c3", "u1", "b", "shoes", t + 7)
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "c3" for r in rs))
        shoes_fan = items_of(next(r for r in recs.records if r["trigger"]["event_id"] == "c3"))
        # Content (category) is all there is to go on: the shoe fan gets the new shoe as a new
        # arrival, not the new hat (the short list may be topped up with it from the
        # catalogue), and never the sold-out arrival.
        assert shoes_fan.get("new-shoe") == "new"
        assert shoes_fan.get("new-hat") != "new" and "gone-shoe" not in shoes_fan

        # Its first interaction takes it out of the cold pool; it is then an ordinary item.
        await click("c4", "u2", "new-shoe", "shoes", t + 8)
        await wait_for(lambda: deployment.redis.zscore(arrivals, "new-shoe") is None)
        await click("c5", "u1", "a", "shoes", t + 9)
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "c5" for r in rs))
        later = items_of(next(r for r in recs.records if r["trigger"]["event_id"] == "c5"))
        assert later.get("new-shoe") not in (None, "new")
    # Items that had interactions before they were (re)stocked are not new arrivals.
    await stock("a", 9, "shoes", t + 10)
    await wait_for(lambda: deployment.redis.hget(deployment.key("default:item:a"), "stock") == b"9")
    assert deployment.redis.zscore(arrivals, "a") is None
    worker.stop()
