"""Faults injected into the real services of the local stack, and the check every scenario
shares besides the from-scratch state (tests/state.py): a list for every user's last event."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.state import applied
from tests.support import Env


def redis_pid(client: redis.Redis) -> int:
    """The pid of the Redis serving ``client`` (the suite's, whoever started it)."""
    return int(client.info("server")["process_id"])


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP a process for the block: it keeps its sockets open and answers nothing."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def read_all(topic: str) -> list[Any]:
    """Every record of a topic up to its current end, decoded, in partition then offset order."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers="127.0.0.1:9092",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"no topic {topic}"
        ends = await consumer.end_offsets(partitions)
        out: dict[TopicPartition, list[Any]] = {tp: [] for tp in partitions}
        deadline = time.monotonic() + 60
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            assert time.monotonic() < deadline, f"{topic}: could not read to the end"
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                out[tp] += [orjson.loads(r.value) for r in records if r.offset < ends[tp]]
        return [value for tp in partitions for value in out[tp]]
    finally:
        await consumer.stop()


async def assert_every_user_got_a_list_after_their_last_event(env: Env) -> None:
    """A worker publishes one list per user per batch, triggered by the user's last event in
    that batch; so the last event a user sent, on clicks or on carts, triggers a list, unless it
    was dead-lettered (it then says why)."""
    rejected = set()
    for letter in await read_all(env.topic("dead-letter")):
        with contextlib.suppress(ValueError, KeyError):
            rejected.add(orjson.loads(base64.b64decode(letter["original"]))["event_id"])
    last: dict[str, dict[str, str]] = {}
    for topic in ("clicks", "carts"):
        for event in await read_all(env.topic(topic)):
            if event["event_id"] not in rejected:
                last.setdefault(event["user_id"], {})[topic] = event["event_id"]
    triggers = {m["trigger"]["event_id"] for m in await read_all(env.topic("recommendations"))}
    missing = {user: ids for user, ids in last.items() if not set(ids.values()) & triggers}
    assert not missing, f"{len(missing)} of {len(last)} users got no list after their last event"


async def report(env: Env, scenario: str, sent: int, recovered_s: float) -> None:
    """One line for docs/reliability.md (shown with ``pytest -rP``): what went in, what was
    applied (the state's watermarks) and dead-lettered, and how long recovery took."""
    dead = len(await read_all(env.topic("dead-letter")))
    print(
        f"FAULT {scenario}: records in {sent}, interactions applied (offsets) {applied(env)}, "
        f"dead-lettered {dead}, recovered in {recovered_s:.1f} s"
    )
