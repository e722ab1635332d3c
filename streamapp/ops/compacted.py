"""A compacted topic of definitions (experiments, merchandising rules), read whole by every
reader: a consumer of no group, subscribed to every partition from the beginning, so each
worker (not one member of a group) holds every definition, and a new one has them all before
it ranks its first list.

A record that is not a valid definition is left out with a warning (the commands that write
these topics refuse such records; this only meets one written around them), and the version
before it stays in force. A worker started before the topic exists (a deployment upgraded
without `streamapp topics apply`) runs without its definitions and takes the topic up within
seconds of its creation; the commands that write definitions refuse to run without it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamapp.errors import UsageError

__all__ = ["CompactedTopic", "MissingTopic", "publish"]

log = logging.getLogger(__name__)

# How long a command waits for a topic being created, and a start for its partitions.
CREATED_WITHIN_S = 10.0
# How often a worker without the topic looks for it.
LOOK_EVERY_S = 5.0

T = TypeVar("T")


class MissingTopic(UsageError):
    """A definitions topic does not exist (yet)."""


class CompactedTopic(Generic[T]):
    """Every definition of the topic by key, kept current by :meth:`poll`.

    ``parse`` turns a record's key and JSON document into a definition, or raises
    ``ValueError`` (or ``TypeError``) saying why the record is left out; ``what`` names a
    definition in warnings ("experiment", "rule").
    """

    def __init__(
        self,
        kafka: Mapping[str, Any],
        topic: str,
        client_id: str,
        parse: Callable[[str, Any], T],
        what: str,
    ) -> None:
        self.topic, self.kafka, self.client_id = topic, kafka, client_id
        self.parse, self.what = parse, what
        self.consumer: AIOKafkaConsumer | None = None
        self.definitions: dict[str, T] = {}
        self.subscribed = False
        self.next_look = 0.0

    async def start(self, required: bool = False) -> None:
        """Read every partition to its end. Without the topic, warn and look for it at every
        :meth:`poll`; when ``required``, raise instead (after a moment's wait for a topic
        being created)."""
        # Created here, in the running loop its client binds to; no group, so every partition
        # is this reader's.
        self.consumer = consumer = AIOKafkaConsumer(
            **self.kafka,
            client_id=self.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        deadline = time.monotonic() + CREATED_WITHIN_S
        while not await self._subscribe():
            if required and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                continue
            if required:
                await self.stop()
                raise MissingTopic(f"no topic {self.topic}: `streamapp topics apply` creates it")
            log.warning(
                "no topic %s: no %s applies until it exists (`streamapp topics apply` creates it)",
                self.topic,
                self.what,
            )
            return
        while not consumer.assignment() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                await self.poll(1000)

    async def _subscribe(self) -> bool:
        """Subscribe once the topic exists (its partitions are assigned at once: no group)."""
        assert self.consumer is not None, "start first"
        if not self.subscribed and self.topic in await self.consumer.topics():
            self.consumer.subscribe([self.topic])
            self.subscribed = True
        return self.subscribed

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None

    async def __aenter__(self) -> CompactedTopic[T]:
        await self.start(required=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def poll(self, timeout_ms: int = 0) -> bool:
        """Apply what the topic gained since the last call (True when it gained anything);
        until the topic exists, look for it every few seconds."""
        if self.consumer is None or not (self.subscribed or await self._look()):
            # Nothing to read (yet): wait as a read would, so a loop of polls does not spin.
            await asyncio.sleep(timeout_ms / 1000)
            return False
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms)
        for records in fetched.values():
            for record in records:
                self._apply(record.key, record.value, record.offset)
        return bool(fetched)

    async def _look(self) -> bool:
        """Look for the topic every few seconds until it exists."""
        if time.monotonic() < self.next_look:
            return False
        self.next_look = time.monotonic() + LOOK_EVERY_S
        return await self._subscribe()

    def _apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        name = key.decode(errors="replace") if key is not None else ""
        if value is None:
            self.definitions.pop(name, None)
            return
        try:
            self.definitions[name] = self.parse(name, orjson.loads(value))
        except (ValueError, TypeError) as exc:
            log.warning(
                "%s record left out topic=%s offset=%d key=%s: %s",
                self.what,
                self.topic,
                offset,
                name,
                exc,
            )


async def publish(
    kafka: Mapping[str, Any], topic: str, key: str, document: dict[str, Any] | None
) -> None:
    """Write one definition's record (None deletes it), acknowledged by every replica."""
    producer = AIOKafkaProducer(**kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        value = None if document is None else orjson.dumps(document)
        await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()
