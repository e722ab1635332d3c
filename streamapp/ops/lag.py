"""Consumer lag read from the broker: committed offset of a group vs end offset, per partition.

This is what Kafka's own ``ConsumerGroupCommand --describe`` prints, and unlike Faust's gauges
it is true for a stopped or stuck consumer too, because nothing here depends on the consumer
having fetched anything. Lag in seconds is the age of the oldest unconsumed record: the
timestamp of the record at the committed offset of every lagging partition, read by the
reader's own group-less consumer (a record lost to retention resets to the earliest one left,
which is then the oldest).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamapp.lifecycle import Lifecycle
from streamapp.ops import metrics


@dataclass(frozen=True, order=True)
class PartitionLag:
    """One row of lag: a partition of a topic the group has committed offsets for."""

    topic: str
    partition: int
    committed: int
    end: int
    oldest_ts: int | None = None

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)

    def seconds(self, now_ms: int) -> float:
        """Age of the oldest unconsumed record; 0 when nothing waits."""
        if not self.lag or self.oldest_ts is None:
            return 0.0
        return max(0.0, (now_ms - self.oldest_ts) / 1000)

    def as_dict(self, now_ms: int) -> dict[str, Any]:
        return {**asdict(self), "lag": self.lag, "lag_seconds": round(self.seconds(now_ms), 3)}


def export(group: str, rows: list[PartitionLag], now_ms: int) -> None:
    """Set the lag gauges of ``group`` (messages and seconds) from one reading."""
    for row in rows:
        labels = (group, row.topic, str(row.partition))
        metrics.CONSUMER_LAG.labels(*labels).set(row.lag)
        metrics.CONSUMER_LAG_SECONDS.labels(*labels).set(row.seconds(now_ms))


def table(rows: list[PartitionLag], now_ms: int) -> str:
    """The lag of every partition as a fixed-width table (what ``streamapp lag`` prints).

    >>> print(table([PartitionLag("clicks", 0, 5, 9, 1000)], 3000))
    TOPIC                    PARTITION    COMMITTED          END       LAG     LAG_S
    clicks                           0            5            9         4       2.0
    """
    head = f"{'TOPIC':<24} {'PARTITION':>9} {'COMMITTED':>12} {'END':>12} {'LAG':>9} {'LAG_S':>9}"
    lines = [head]
    lines += [
        f"{r.topic:<24} {r.partition:>9} {r.committed:>12} {r.end:>12} {r.lag:>9} "
        f"{r.seconds(now_ms):>9.1f}"
        for r in rows
    ]
    return "\n".join(lines)


class LagReader(Lifecycle):
    """Reads committed and end offsets; ``async with LagReader(kafka_options(settings)) as
    reader:``."""

    def __init__(
        self,
        kafka: Mapping[str, Any],
        client_id: str = "streamapp-lag",
        fetch_bytes: int = 64 * 1024,
        fetch_max_wait_ms: int = 500,
    ) -> None:
        self.admin = AIOKafkaAdminClient(**kafka, client_id=client_id)
        # No group: partitions are assigned by hand for each read.
        self.consumer = AIOKafkaConsumer(
            **kafka,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=fetch_bytes,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """The offset the next record of each partition will get."""
        ends: dict[TopicPartition, int] = await self.consumer.end_offsets(partitions)
        return ends

    async def group_lag(self, group: str, topics: set[str] | None = None) -> list[PartitionLag]:
        """Lag of every partition ``group`` has committed (optionally only ``topics``)."""
        committed = await self.admin.list_consumer_group_offsets(group)
        wanted = {
            tp: meta.offset
            for tp, meta in committed.items()
            if meta.offset >= 0 and (topics is None or tp.topic in topics)
        }
        if not wanted:
            return []
        ends = await self.consumer.end_offsets(list(wanted))
        stamps = await self._timestamps_at(
            {tp: offset for tp, offset in wanted.items() if ends[tp] > offset}
        )
        return sorted(
            PartitionLag(tp.topic, tp.partition, offset, ends[tp], stamps.get(tp))
            for tp, offset in wanted.items()
        )

    async def _timestamps_at(
        self, offsets: dict[TopicPartition, int], timeout_s: float = 5.0
    ) -> dict[TopicPartition, int]:
        """The timestamp of the record at each offset (one fetch per partition, bounded)."""
        if not offsets:
            return {}
        self.consumer.assign(list(offsets))
        for tp, offset in offsets.items():
            self.consumer.seek(tp, offset)
        stamps: dict[TopicPartition, int] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            while len(stamps) < len(offsets) and loop.time() < deadline:
                waiting = [tp for tp in offsets if tp not in stamps]
                batch = await self.consumer.getmany(*waiting, timeout_ms=200, max_records=1)
                for tp, records in batch.items():
                    if records:
                        stamps[tp] = records[0].timestamp
        finally:
            self.consumer.unsubscribe()
        return stamps
