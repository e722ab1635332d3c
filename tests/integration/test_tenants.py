"""Two shops through one worker, with the same user and item ids: neither sees the other's
signals (recently viewed items, co-visitation, popularity), and a stock-out or a block in one
leaves the other's lists alone — in the published lists and in what the HTTP API serves."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import Tail, command, now_ms, send

pytestmark = pytest.mark.integration

PATH = "/v1/users/{}/recommendations"
SHOPS = ("default", "shop2")


def items_of(record: dict) -> list[str]:
    return [i["item_id"] for i in record["items"]]


async def test_two_shops_with_the_same_ids_never_see_each_others_signals(deployment, producer):
    worker = deployment.worker().start()
    clicks, inventory = deployment.topic("clicks"), deployment.topic("inventory")
    t = now_ms() - 60_000
    seq = 0

    async def click(tenant: str, user: str, item: str) -> str:
        nonlocal seq
        seq += 1
        event_id = f"{tenant}-c{seq}"
        event = {"event_id": event_id, "user_id": user, "item_id": item, "ts": t + seq}
        await send(producer, clicks, user, {**event, "tenant": tenant})
        return event_id

    for tenant in SHOPS:
        for item in ("a", "b", "hot"):
            stock = {"event_id": f"{tenant}-inv-{item}", "item_id": item, "stock": 5, "ts": t}
            await send(producer, inventory, item, {**stock, "tenant": tenant})
    only = {"event_id": "shop2-inv-only2", "item_id": "only2", "stock": 5, "ts": t}
    await send(producer, inventory, "only2", {**only, "tenant": "shop2"})
    # In both shops "hot" is what everyone views; only shop2's shoppers view "only2" with "a".
    for tenant in SHOPS:
        for n in range(4):
            await click(tenant, f"{tenant}-fan{n}", "hot")
    for n in range(4):
        await click("shop2", f"s{n}", "a")
        await click("shop2", f"s{n}", "only2")

    async with Tail(deployment.topic("recommendations")) as recs:
        # The same user id in both shops, viewing the same item.
        mine = {tenant: await click(tenant, "u1", "a") for tenant in SHOPS}

        def answered(rs: list) -> dict[str, dict]:
            return {
                r["tenant"]: r
                for r in rs
                if r["trigger"]["event_id"] == mine.get(r["tenant"]) and r["user_id"] == "u1"
            }

        await recs.until(lambda rs: set(answered(rs)) == set(SHOPS))
        lists = answered(recs.records)
        assert "only2" not in items_of(lists["default"]), "shop2's item and co-visits stay there"
        assert "only2" in items_of(lists["shop2"])
        assert "hot" in items_of(lists["default"]) and "hot" in items_of(lists["shop2"])

        # A stock-out of "hot" in one shop corrects that shop's lists only.
        before = len(recs.records)
        out = {"event_id": "default-inv-out", "item_id": "hot", "stock": 0, "ts": t + 10_000}
        await send(producer, inventory, "hot", {**out, "tenant": "default"})
        await recs.until(
            lambda rs: any(
                r["tenant"] == "default"
                and r["user_id"] == "u1"
                and r["trigger"]["reason"] == "stock_out"
                for r in rs[before:]
            )
        )
        await asyncio.sleep(1.0)  # a wrong correction of shop2 would have been published too
        corrections = [r for r in recs.records[before:] if r["trigger"]["reason"] == "stock_out"]
        assert {r["tenant"] for r in corrections} == {"default"}
        assert all("hot" not in items_of(r) for r in corrections)

    served = {
        tenant: worker.request(PATH.format("u1"), headers={"X-Tenant": tenant})[2]
        for tenant in SHOPS
    }
    assert "hot" not in items_of(served["default"])
    assert {"hot", "only2"} <= set(items_of(served["shop2"]))

    # A block in shop2 corrects shop2's lists only, and leaves default's item alone.
    async with Tail(deployment.topic("recommendations")) as recs:
        added = command(
            deployment,
            "rules",
            "add",
            "block",
            "--id",
            "no-a",
            "--item",
            "a",
            "--tenant",
            "shop2",
            "--reason",
            "recall in shop2",
        )
        assert added.returncode == 0, added.stderr
        await recs.until(
            lambda rs: any(r["tenant"] == "shop2" and r["trigger"]["reason"] == "rule" for r in rs)
        )
        await asyncio.sleep(1.0)  # a wrong correction of default would have been published too
        blocked = [r for r in recs.records if r["trigger"]["reason"] == "rule"]
        assert {r["tenant"] for r in blocked} == {"shop2"}
        assert all("a" not in items_of(r) for r in blocked)
        after = {tenant: await click(tenant, "u1", "b") for tenant in SHOPS}
        await recs.until(lambda rs: {r["trigger"]["event_id"] for r in rs} >= set(after.values()))
    last = {r["tenant"]: r for r in recs.records if r["trigger"]["event_id"] in after.values()}
    assert "a" in items_of(last["default"]) and "a" not in items_of(last["shop2"])


async def test_each_shop_ranks_with_its_own_settings(deployment, producer, tmp_path):
    own = tmp_path / "tenants.yaml"
    own.write_text("shop2:\n  score_weights: {recent: 0, history: 0}\n")
    deployment.worker(STREAMAPP_TENANT_SETTINGS_FILE=str(own)).start()
    clicks = deployment.topic("clicks")
    t = now_ms() - 60_000
    async with Tail(deployment.topic("recommendations")) as recs:
        for tenant in SHOPS:
            for n, item in enumerate(("a", "b")):
                event = {"event_id": f"{tenant}-{n}", "user_id": "u1", "item_id": item}
                await send(producer, clicks, "u1", {**event, "ts": t + n, "tenant": tenant})
        done = {f"{tenant}-1" for tenant in SHOPS}
        await recs.until(lambda rs: done <= {r["trigger"]["event_id"] for r in rs})
    last = {r["tenant"]: r for r in recs.records if r["trigger"]["event_id"] in done}
    assert last["default"]["items"][0]["item_id"] == "b", "the last viewed item first, by default"
    assert last["default"]["items"][0]["source"] == "recent"
    shop2 = {i["source"] for i in last["shop2"]["items"]}
    assert shop2 and "recent" not in shop2, "shop2 gives recently viewed items no weight"
