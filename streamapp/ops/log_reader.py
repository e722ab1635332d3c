"""Reads Kafka logs outside the consumer group: topic ids, offsets by time and ranges of records.

What the worker needs to rebuild its state (:mod:`streamapp.state.continuity`) without moving its
group's positions: a range is read with a consumer of its own (no group, manual assignment).

A topic's id is the one thing that tells a deleted and recreated topic from the one before it
whatever their lengths (KIP-516). aiokafka speaks Metadata only up to v5, which has no ids, so
:class:`_TopicIds` is Metadata v12 (Kafka 3.1 and later) written with aiokafka's own protocol
types: the request asks for the named topics only, and the response is read for names and ids.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from io import BytesIO
from typing import Any, cast

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.abstract import AbstractType
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from streamapp.contracts.events import Headers, InvalidEvent, Limits, Record, decode
from streamapp.ops.lag import LagReader

__all__ = ["LogReader"]


class _Uuid(AbstractType[bytes]):
    @classmethod
    def encode(cls, value: bytes) -> bytes:
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        return data.read(16)


class _MetadataResponse_v12(Response):
    API_KEY = 3
    API_VERSION = 12
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("rack", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", CompactString("utf-8")),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _MetadataRequest_v12(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 12
    RESPONSE_TYPE = _MetadataResponse_v12
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
            ),
        ),
        ("allow_auto_topic_creation", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _TopicIds(Request[_MetadataRequest_v12]):
    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self.topics = topics

    def build(self, request_struct_class: type[_MetadataRequest_v12]) -> _MetadataRequest_v12:
        return request_struct_class(
            [(bytes(16), name, {}) for name in self.topics], False, False, {}
        )


class LogReader(LagReader):
    """The lag reader's clients, reading more per fetch and waiting less (a read ends at an
    offset known to exist, and a reassigned consumer first waits out its fetch in flight), and
    a plain client for the requests aiokafka does not offer. Create it inside the running loop.
    """

    def __init__(self, kafka: Mapping[str, Any], client_id: str) -> None:
        super().__init__(kafka, client_id, fetch_bytes=1024 * 1024, fetch_max_wait_ms=20)
        self.client = AIOKafkaClient(**kafka, client_id=client_id)

    async def start(self) -> None:
        await self.client.bootstrap()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self.client.close()

    async def topic_ids(self, topics: list[str]) -> dict[str, str]:
        """Each existing topic's id (hex); a topic that does not exist is left out."""
        node = self.client.get_random_node()
        response = cast(Any, await self.client.send(node, _TopicIds(topics)))
        ids = {}
        for error_code, name, topic_id, *_ in response.topics:
            if error_code == 0:
                ids[name] = uuid.UUID(bytes=topic_id).hex
            elif error_code != 3:  # 3: unknown topic, which is an answer too
                raise for_code(error_code)(f"metadata of {name}")
        return ids

    async def committed(
        self, group: str, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The offsets ``group`` committed for ``partitions`` (those without one left out)."""
        if not partitions:
            return {}
        found = await self.admin.list_consumer_group_offsets(group, partitions=partitions)
        return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}

    async def partitions(self, topic: str) -> list[TopicPartition]:
        numbers = await self.client._wait_on_metadata(topic)
        return [TopicPartition(topic, p) for p in sorted(numbers)]

    async def bounds(
        self, partitions: list[TopicPartition]
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        """The first and the next offset of each partition."""
        starts = await self.consumer.beginning_offsets(partitions)
        return starts, await self.end_offsets(partitions)

    async def everything(self, topic: str, chunk: int) -> AsyncIterator[Record]:
        """Every record ``topic`` holds now, partition by partition (a report's read: no
        group, nothing committed, so it can run any number of times)."""
        partitions = await self.partitions(topic)
        starts, ends = await self.bounds(partitions)
        for tp in partitions:
            async for records in self.read(tp, starts[tp], ends[tp], chunk):
                for record in records:
                    yield record

    async def events(
        self, topic: str, contract: str, limits: Limits, chunk: int
    ) -> AsyncIterator[dict[str, Any]]:
        """Every valid event of ``contract`` that ``topic`` holds now (:meth:`everything`,
        decoded; what the worker dead-letters is left out)."""
        async for record in self.everything(topic, chunk):
            try:
                yield decode(record.value, contract, limits)
            except InvalidEvent:
                continue

    async def offset_at(self, tp: TopicPartition, timestamp_ms: int) -> int | None:
        """The first offset whose record is at or after ``timestamp_ms`` (None: none is)."""
        found = await self.consumer.offsets_for_times({tp: max(0, timestamp_ms)})
        at = found.get(tp)
        return None if at is None else at.offset

    async def read(
        self, tp: TopicPartition, start: int, end: int, chunk: int
    ) -> AsyncIterator[list[Record]]:
        """The records of ``tp`` from ``start`` up to (not including) ``end``, ``chunk`` at a
        time, in order. Offsets the log no longer holds (compacted, deleted) are skipped."""
        if start >= end:
            return
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        try:
            while await self.consumer.position(tp) < end:
                fetched = await self.consumer.getmany(tp, timeout_ms=1000, max_records=chunk)
                records = [
                    Record(
                        m.topic,
                        m.partition,
                        m.offset,
                        m.key,
                        m.value,
                        m.timestamp,
                        cast(Headers, tuple(m.headers or ())),
                    )
                    for m in fetched.get(tp, [])
                    if m.offset < end
                ]
                if records:
                    yield records
        finally:
            self.consumer.unsubscribe()
