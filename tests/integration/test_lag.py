"""`streamapp lag` agrees with Kafka's own ConsumerGroupCommand, including for a stopped group."""

from __future__ import annotations

import subprocess

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from tests.support import BIN, ROOT, send

pytestmark = pytest.mark.integration


def kafka_describe(group: str) -> dict[tuple[str, int], tuple[int, int, int]]:
    out = subprocess.run(
        [
            "bash",
            str(ROOT / "deploy/kafka/kafka.sh"),
            "tool",
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server",
            "127.0.0.1:9092",
            "--describe",
            "--group",
            group,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] == group:
            rows[(cols[1], int(cols[2]))] = (int(cols[3]), int(cols[4]), int(cols[5]))
    return rows


async def test_lag_matches_consumer_group_command_for_a_stopped_consumer(deployment, producer):
    topic = deployment.topic("clicks")
    group = f"{deployment.settings.app_id}-lagcheck"
    for n in range(60):
        await send(producer, topic, f"user{n}", {"n": n})
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers="127.0.0.1:9092",
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumed = 0
        while consumed < 60:
            batch = await consumer.getmany(timeout_ms=1000)
            consumed += sum(len(v) for v in batch.values())
        # Commit part of the way only: everything past these offsets is lag.
        await consumer.commit(
            {TopicPartition(topic, p): OffsetAndMetadata(1, "") for p in range(6)}
        )
    finally:
        await consumer.stop()
    for n in range(25):  # more lag while nobody consumes
        await send(producer, topic, f"late{n}", {"n": n})

    ours = orjson.loads(
        subprocess.run(
            [str(BIN), "lag", "--group", group, "--json"],
            env=deployment.env,
            check=True,
            capture_output=True,
        ).stdout
    )
    theirs = kafka_describe(group)
    assert len(ours) == 6
    assert {
        (r["topic"], r["partition"]): (r["committed"], r["end"], r["lag"]) for r in ours
    } == theirs
    assert sum(r["lag"] for r in ours) == 60 + 25 - 6
