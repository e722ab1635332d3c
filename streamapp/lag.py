"""Consumer lag read from the broker: committed offset of a group vs end offset, per partition.

This is what Kafka's own ``ConsumerGroupCommand --describe`` prints, and unlike Faust's gauges
it is true for a stopped or stuck consumer too, because nothing here depends on the consumer
having fetched anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True, order=True)
class PartitionLag:
    """One row of lag: a partition of a topic the group has committed offsets for."""

    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lag": self.lag}


class LagReader:
    """Reads committed and end offsets; ``async with LagReader(bootstrap) as reader:``."""

    def __init__(self, bootstrap: str, client_id: str = "streamapp-lag") -> None:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, client_id=client_id, enable_auto_commit=False
        )

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def __aenter__(self) -> LagReader:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

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
        return sorted(
            PartitionLag(tp.topic, tp.partition, offset, ends[tp]) for tp, offset in wanted.items()
        )
