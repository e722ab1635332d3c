"""An input topic deleted and recreated: its offsets start again at 0, and the events on it must
still change state rather than be taken for a replay of the old topic's."""

from __future__ import annotations

import time

import pytest

from streamapp.ops.topics import TopicAdmin, load_specs
from tests.state import event_digest, seen_window
from tests.support import Tail, send, wait_for

pytestmark = pytest.mark.integration


def click(n: int, user: str) -> dict[str, object]:
    return {
        "event_id": f"c{n}",
        "user_id": user,
        "item_id": f"i{n % 5}",
        "ts": int(time.time() * 1000),
    }


async def test_events_on_a_recreated_topic_are_applied_not_skipped(deployment, producer):
    clicks = deployment.topic("clicks")
    watermarks = deployment.key("wm")

    def applied() -> int:
        return sum(int(v) + 1 for v in deployment.redis.hvals(watermarks))

    first = deployment.worker().start()
    for n in range(60):
        await send(
            producer, clicks, "old", click(n, "old")
        )  # one user: one partition, offsets 0..59
    await wait_for(lambda: applied() >= 60, timeout=60, what="the old topic applied")
    first.stop()

    async with TopicAdmin(deployment.settings) as admin:
        await admin.admin.delete_topics([clicks])

        async def gone() -> bool:
            return clicks not in await admin.admin.list_topics()

        await wait_for(gone, timeout=60, what="the topic deleted")
        await admin.apply(load_specs(deployment.settings))

    second = deployment.worker().start()
    for n in range(100, 103):
        await send(producer, clicks, "old", click(n, "old"))
    async with Tail(deployment.topic("recommendations")) as lists:
        await lists.until(
            lambda seen: "c102" in {m["trigger"]["event_id"] for m in seen}, timeout=60
        )
    # Applied, not skipped as a replay of offsets 0..2 of the old topic.
    recorded = seen_window(deployment.redis, deployment.key("default:u:old:record"))
    assert {event_digest(f"c{n}") for n in range(100, 103)} <= recorded
    assert "streamapp_logs_replaced_total 1.0" in second.text("/metrics")
