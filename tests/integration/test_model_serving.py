"""Serving follows the promoted snapshot, keeps the last good one, and never serves stock-outs
from the factorisation source either."""

from __future__ import annotations

import numpy as np
import pytest

from streamapp.learning.registry import ModelRegistry
from streamapp.learning.snapshots import Snapshot
from streamapp.state.store import Store
from tests.support import Tail, now_ms, send, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.promise]

WEIGHTS = '{"mf": 5.0, "recent": 0.1, "covisit": 0.1, "popular": 0.01}'


def snapshot(version: str) -> Snapshot:
    # "near" points where the shopper's vector points, "far" the other way; "near2" is as close
    # but belongs to another tenant.
    return Snapshot(
        version,
        now_ms(),
        100,
        {},
        "pairwise",
        ["default:near", "default:far", "other:near2"],
        np.array([[1.0, 0.0], [-1.0, 0.0], [0.9, 0.0]], dtype=np.float32),
    )


async def test_lists_follow_the_promoted_model_and_keep_the_last_good_one(deployment, producer):
    worker = deployment.worker(
        STREAMAPP_SCORE_WEIGHTS=WEIGHTS, STREAMAPP_MODEL_POLL_S="0.2"
    ).start()
    clicks, inventory = deployment.topic("clicks"), deployment.topic("inventory")
    t = now_ms() - 10_000
    for item in ("near", "far", "side", "seen"):
        await send(
            producer,
            inventory,
            item,
            {"event_id": f"inv-{item}", "item_id": item, "stock": 5, "ts": t},
        )
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)
        await store.write_user_vectors("default", {"shopper": [1.0, 0.0]})
        await registry.save(snapshot("mf-good"), promote=True)
        await wait_for(
            lambda: (
                'streamapp_model_version_info{version="mf-good"} 1.0' in worker.text("/metrics")
            ),
            what="model loaded",
        )

        async with Tail(deployment.topic("recommendations")) as recs:
            seq = 0

            async def click() -> dict:
                nonlocal seq
                seq += 1
                event_id = f"c{seq}"
                await send(
                    producer,
                    clicks,
                    "shopper",
                    {"event_id": event_id, "user_id": "shopper", "item_id": "seen", "ts": t + seq},
                )
                found = await recs.until(
                    lambda rs: any(r["trigger"]["event_id"] == event_id for r in rs)
                )
                return next(r for r in found if r["trigger"]["event_id"] == event_id)

            first = await click()
            assert first["model_version"] == "mf-good"
            assert first["items"][0] == {**first["items"][0], "item_id": "near", "source": "mf"}
            # Another tenant's item never leaks in, however close it is.
            assert "near2" not in [i["item_id"] for i in first["items"]]

            # A broken snapshot is promoted: it is refused, the good one keeps serving.
            await store.redis.hset(
                deployment.key("model:mf-broken"),
                mapping={"meta": b"{", "ids": b"[]", "vectors": b""},
            )
            await store.redis.zadd(deployment.key("models"), {"mf-broken": 1})
            await registry.promote("mf-broken")
            await wait_for(
                lambda: (
                    'streamapp_model_loads_total{outcome="failed"} 1.0' in worker.text("/metrics")
                ),
                what="failed load counted",
            )
            assert (await click())["model_version"] == "mf-good"

            # Stock-out of the item the model likes best: gone from every list.
            await send(
                producer,
                inventory,
                "near",
                {"event_id": "inv-out", "item_id": "near", "stock": 0, "ts": t + 500},
            )
            await recs.until(lambda rs: any(r["trigger"]["reason"] == "stock_out" for r in rs))
            after = await click()
            assert "near" not in [i["item_id"] for i in after["items"]]
            assert all(
                i["item_id"] != "near"
                for r in recs.records
                if r["trigger"]["reason"] == "stock_out"
                for i in r["items"]
            )

            # Rolling back past every snapshot returns to hand-weighted ranking.
            await registry.rollback()
            await registry.rollback()
            await wait_for(
                lambda: "streamapp_model_version_info{" not in worker.text("/metrics"),
                what="model unloaded",
            )
            assert (await click())["model_version"] == deployment.settings.model_version


async def test_a_tenant_is_promoted_and_rolled_back_on_its_own(deployment, producer):
    """shop2 is promoted a version of its own: its lists name that version while default's
    follow the deployment's; its rollback returns it to the deployment's, and a deployment
    rollback leaves shop2's own promotion alone."""
    worker = deployment.worker(STREAMAPP_MODEL_POLL_S="0.2").start()
    clicks = deployment.topic("clicks")
    t = now_ms() - 10_000
    seq = 0
    async with Store(deployment.settings) as store:
        registry = ModelRegistry(store)
        await registry.save(snapshot("mf-shared"), promote=True)
        await registry.save(snapshot("mf-own"), promote=False)
        async with Tail(deployment.topic("recommendations")) as recs:

            async def versions() -> dict[str, str]:
                nonlocal seq
                seq += 1
                sent = {tenant: f"{tenant}-{seq}" for tenant in ("default", "shop2")}
                for tenant, event_id in sent.items():
                    event = {"event_id": event_id, "user_id": "u", "item_id": "seen"}
                    await send(producer, clicks, "u", {**event, "ts": t + seq, "tenant": tenant})
                found = await recs.until(
                    lambda rs: set(sent.values()) <= {r["trigger"]["event_id"] for r in rs}
                )
                return {
                    r["tenant"]: r["model_version"]
                    for r in found
                    if r["trigger"]["event_id"] in sent.values()
                }

            async def serving(expected: dict[str, str]) -> bool:
                return await versions() == expected

            await wait_for(lambda: serving({"default": "mf-shared", "shop2": "mf-shared"}))
            await registry.promote("mf-own", "shop2")
            await wait_for(lambda: serving({"default": "mf-shared", "shop2": "mf-own"}))
            served = worker.request("/v1/users/u/recommendations", headers={"X-Tenant": "shop2"})
            assert served[2]["model_version"] == "mf-own"
            # The deployment's rollback does not move shop2, whose own promotion stands.
            assert await registry.rollback() is None
            hand = deployment.settings.model_version
            await wait_for(lambda: serving({"default": hand, "shop2": "mf-own"}))
            await registry.promote("mf-shared")
            assert await registry.rollback("shop2") == "mf-shared"
            await wait_for(lambda: serving({"default": "mf-shared", "shop2": "mf-shared"}))
