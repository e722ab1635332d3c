"""The broker refusing what the worker produces: the input goes to the dead-letter topic with
the reason, the worker carries on, and nothing is acknowledged that was not delivered."""

from __future__ import annotations

import base64
import time

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streamapp.ops.topics import TopicAdmin, load_specs
from tests.faults.injection import read_all, report
from tests.support import send, wait_for

pytestmark = pytest.mark.integration


async def set_topic_config(topic: str, config: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9092")
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, config)])
    finally:
        await admin.close()


def click(n: int) -> dict[str, object]:
    return {
        "event_id": f"r{n}",
        "user_id": f"u{n}",
        "item_id": f"i{n % 3}",
        "ts": int(time.time() * 1000),
    }


async def test_list_the_broker_refuses_for_good_sends_its_input_to_dead_letter(
    deployment, producer
):
    worker = deployment.worker().start()
    lists = deployment.topic("recommendations")
    # Every list is larger than this: the broker refuses each one (MESSAGE_TOO_LARGE).
    await set_topic_config(lists, {"max.message.bytes": "64"})
    try:
        for n in range(8):
            await send(producer, deployment.topic("clicks"), f"u{n}", click(n))

        async def letters() -> list[dict[str, object]]:
            return await read_all(deployment.topic("dead-letter"))

        rejected = await wait_for(
            lambda: _when(letters, lambda got: len(got) >= 8), timeout=60, what="8 dead letters"
        )
    finally:
        async with TopicAdmin(deployment.settings) as admin:
            await admin.apply(load_specs(deployment.settings))
    assert {r["reason"] for r in rejected} == {"output_rejected"}
    assert all(str(r["message"]).startswith("kafka_message_size_too_large") for r in rejected)
    originals = {orjson.loads(base64.b64decode(str(r["original"])))["event_id"] for r in rejected}
    assert originals == {f"r{n}" for n in range(8)}

    # The declared config is back: the same worker publishes lists again.
    restored = time.monotonic()
    for n in range(8, 12):
        await send(producer, deployment.topic("clicks"), f"u{n}", click(n))
    published = await wait_for(
        lambda: _when(
            lambda: read_all(lists),
            lambda got: {f"r{n}" for n in range(8, 12)} <= {m["trigger"]["event_id"] for m in got},
        ),
        timeout=60,
        what="lists after the config is restored",
    )
    assert {m["trigger"]["event_id"] for m in published} == {f"r{n}" for n in range(8, 12)}
    await report(deployment, "output refused", 12, time.monotonic() - restored)
    assert worker.proc is not None and worker.proc.poll() is None
    assert 'streamapp_dead_letters_total{reason="output_rejected"} 8.0' in worker.text("/metrics")


async def _when(read, holds):
    """``read()`` if ``holds`` of it, else None (for wait_for)."""
    got = await read()
    return got if holds(got) else None
