"""The ``experiments`` topic, read whole by every reader: a consumer of no group, assigned
every partition from the beginning, so each worker (not one member of a group) holds every
experiment, and a new one has them all before it ranks its first list.

A record that is not a valid experiment is left out with a warning (the command that writes
the topic refuses such records; this only meets one written around it), and the version
before it stays in force. A worker started before the topic exists (a deployment upgraded
without `streamapp topics apply`) runs with no experiment and looks for the topic at every
poll; the command that writes experiments refuses to run without it.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamapp.errors import UsageError
from streamapp.experiments.definition import Experiment, InvalidExperiment, parse

__all__ = ["ExperimentLog", "MissingTopic", "publish"]

log = logging.getLogger(__name__)


class MissingTopic(UsageError):
    """The experiments topic does not exist (yet)."""


class ExperimentLog:
    """Every experiment of the topic by id, kept current by :meth:`poll`."""

    def __init__(self, bootstrap: str, topic: str, client_id: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        self.experiments: dict[str, Experiment] = {}
        self.assigned = False
        self.warned = False

    async def start(self, required: bool = False) -> None:
        """Assign every partition and read them to their end; without the topic, raise when
        ``required``, else warn and keep looking for it."""
        await self.consumer.start()
        if not await self._assign() and required:
            await self.consumer.stop()
            raise MissingTopic(f"no topic {self.topic}: `streamapp topics apply` creates it")

    async def _assign(self) -> bool:
        if self.assigned:
            return True
        await self.consumer.topics()  # refreshes the cluster's metadata
        partitions = self.consumer.partitions_for_topic(self.topic)
        if not partitions:
            if not self.warned:
                log.warning(
                    "no topic %s: no experiment runs until it exists "
                    "(`streamapp topics apply` creates it)",
                    self.topic,
                )
                self.warned = True
            return False
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(assigned)
        await self.consumer.seek_to_beginning(*assigned)
        self.assigned = True
        ends = await self.consumer.end_offsets(assigned)
        for tp, end in ends.items():
            while await self.consumer.position(tp) < end:
                await self.poll(1000)
        return True

    async def stop(self) -> None:
        await self.consumer.stop()

    async def __aenter__(self) -> ExperimentLog:
        await self.start(required=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def poll(self, timeout_ms: int = 0) -> None:
        """Apply what the topic gained since the last call."""
        if not await self._assign():
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
