"""Promise 2: nothing is lost silently; bad input never stops the worker."""

from __future__ import annotations

import base64

import jsonschema
import orjson
import pytest

from streamapp.contracts.schemas import load
from streamapp.state.decay import stored_weight
from tests.support import Tail, now_ms, send

pytestmark = [pytest.mark.integration, pytest.mark.promise]

DAY = 86_400_000


def click(event_id: str, ts: int, **extra: object) -> dict:
    return {"event_id": event_id, "user_id": "u1", "item_id": "i1", "ts": ts, **extra}


async def test_every_bad_event_is_dead_lettered_with_its_bytes_and_reason(deployment, producer):
    deployment.worker().start()
    now = now_ms()
    clicks, carts = deployment.topic("clicks"), deployment.topic("carts")
    bad = [
        (clicks, b'{"event_id": "x", "user_id": ', "malformed_json"),
        (clicks, b'{"event_id": "\xff\xfe\xfd"}', "invalid_utf8"),
        (clicks, orjson.dumps(click("e-type", "noon")), "schema_violation"),
        (
            clicks,
            orjson.dumps({"event_id": "e-missing", "user_id": "u1", "ts": now}),
            "schema_violation",
        ),
        (carts, orjson.dumps(click("e-action", now, action="teleport")), "unknown_event_type"),
        (clicks, orjson.dumps(click("e-huge", now, context={"pad": "x" * 1_000_000})), "oversized"),
        (clicks, orjson.dumps(click("e-future", now + 365 * DAY)), "timestamp_out_of_range"),
        (clicks, orjson.dumps(click("e-past", now - 365 * DAY)), "timestamp_out_of_range"),
        (clicks, orjson.dumps(click("e-tenant", now, tenant="nobody")), "unknown_tenant"),
        (
            deployment.topic("inventory"),
            orjson.dumps({"event_id": "inv-neg", "item_id": "i1", "stock": -3, "ts": now}),
            "schema_violation",
        ),
    ]
    for topic, payload, _ in bad:
        await send(producer, topic, "u1", payload)
    # A duplicate (same event id twice), then a good event after all the bad ones.
    for _ in range(2):
        await send(producer, clicks, "u1", click("e-dup", now - 10, item_id="i-dup"))
    await send(producer, clicks, "u1", click("e-good", now))

    async with Tail(deployment.topic("dead-letter")) as dead:
        records = await dead.until(lambda rs: len(rs) >= len(bad), timeout=60)
    assert len(records) == len(bad)
    by_original = {base64.b64decode(r["original"]): r for r in records}
    for topic, payload, reason in bad:
        record = by_original[payload]
        jsonschema.validate(record, load("dead-letter"))
        assert record["reason"] == reason
        assert record["topic"] == topic
        assert record["message"]

    async with Tail(deployment.topic("recommendations")) as recs:
        await recs.until(lambda rs: any(r["trigger"]["event_id"] == "e-good" for r in rs))

    # The duplicate was counted once: the user's affinity for i-dup is one click's weight.
    settings = deployment.settings
    landmark = float(deployment.redis.get(deployment.key("default:landmark")))
    once = stored_weight(settings.weights["click"], now - 10, landmark, settings.decay_rate)
    assert deployment.redis.zscore(deployment.key("default:u:u1:items"), "i-dup") == once


async def test_stale_inventory_update_is_dead_lettered_and_does_not_override(deployment, producer):
    deployment.worker().start()
    now = now_ms()
    inventory = deployment.topic("inventory")
    await send(
        producer, inventory, "i1", {"event_id": "new", "item_id": "i1", "stock": 0, "ts": now}
    )
    await send(
        producer,
        inventory,
        "i1",
        {"event_id": "old", "item_id": "i1", "stock": 7, "ts": now - 1_000},
    )
    async with Tail(deployment.topic("dead-letter")) as dead:
        records = await dead.until(lambda rs: len(rs) >= 1)
    assert records[0]["reason"] == "stale_update"
    assert records[0]["event_id"] == "old"
    assert deployment.redis.sismember(deployment.key("default:oos"), "i1")
    assert deployment.redis.hget(deployment.key("default:item:i1"), "stock") == b"0"
