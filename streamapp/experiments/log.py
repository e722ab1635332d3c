"""The ``experiments`` topic, read whole by every reader: a consumer of no group, subscribed
to every partition from the beginning, so each worker (not one member of a group) holds every
experiment, and a new one has them all before it ranks its first list.

A record that is not a valid experiment is left out with a warning (the command that writes
the topic refuses such records; this only meets one written around it), and the version
before it stays in force. A worker started before the topic exists (a deployment upgraded
without `streamapp topics apply`) runs with no experiment and takes the topic up within
seconds of its creation; the command that writes experiments refuses to run without it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamapp.errors import UsageError
from streamapp.experiments.definition import Experiment, InvalidExperiment, parse

__all__ = ["ExperimentLog", "MissingTopic", "publish"]

log = logging.getLogger(__name__)

# How long a command waits for a topic being created, and a start for its partitions.
CREATED_WITHIN_S = 10.0
# How often a worker without the topic looks for it.
LOOK_EVERY_S = 5.0


class MissingTopic(UsageError):
    """The experiments topic does not exist (yet)."""


class ExperimentLog:
    """Every experiment of the topic by id, kept current by :meth:`poll`."""

    def __init__(self, bootstrap: str, topic: str, client_id: str) -> None:
        self.topic, self.bootstrap, self.client_id = topic, bootstrap, client_id
        self.consumer: AIOKafkaConsumer | None = None
        self.experiments: dict[str, Experiment] = {}
        self.subscribed = False
        self.next_look = 0.0

    async def start(self, required: bool = False) -> None:
        """Read every partition to its end. Without the topic, warn and look for it at every
        :meth:`poll`; when ``required``, raise instead (after a moment's wait for a topic
        being created)."""
        # Created here, in the running loop its client binds to; no group, so every partition
        # is this reader's.
        self.consumer = consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
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
                "no topic %s: no experiment runs until it exists "
                "(`streamapp topics apply` creates it)",
                self.topic,
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

    async def __aenter__(self) -> ExperimentLog:
        await self.start(required=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def poll(self, timeout_ms: int = 0) -> None:
        """Apply what the topic gained since the last call; until the topic exists, look for
        it every few seconds."""
        if self.consumer is None:
            return
        if not self.subscribed:
            if time.monotonic() < self.next_look:
                return
            self.next_look = time.monotonic() + LOOK_EVERY_S
            if not await self._subscribe():
                return
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms)
        for records in fetched.values():
            for record in records:
                self._apply(record.key, record.value, record.offset)

    def running(self) -> list[Experiment]:
        return [e for e in self.experiments.values() if e.running]

    def _apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        experiment_id = key.decode(errors="replace") if key is not None else ""
        if value is None:
            self.experiments.pop(experiment_id, None)
            return
        try:
            experiment = parse(orjson.loads(value))
            if experiment.experiment_id != experiment_id:
                raise InvalidExperiment(f"keyed {experiment_id!r}, not its id")
        except (InvalidExperiment, orjson.JSONDecodeError, TypeError) as exc:
            log.warning(
                "experiment record left out topic=%s offset=%d key=%s: %s",
                self.topic,
                offset,
                experiment_id,
                exc,
            )
            return
        self.experiments[experiment.experiment_id] = experiment


async def publish(bootstrap: str, topic: str, document: dict[str, Any]) -> None:
    """Write one experiment's record (keyed by its id), acknowledged by every replica."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, orjson.dumps(document), key=document["experiment_id"].encode()
        )
    finally:
        await producer.stop()
