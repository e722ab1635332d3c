"""The state's watermarks must describe the logs the worker reads, not logs that were.

``ingest.lua`` skips any record at or below its partition's watermark as a replay. A topic that
is deleted and recreated starts its offsets at 0 again, so without a check every new record up
to the old watermark would be skipped in silence. A log never shrinks at its end: when a
partition ends at or below the state's watermark, it is not the log the watermark was taken
from (a recreated topic, or a log truncated by an unclean leader election), and its watermark
is dropped before the worker applies anything from it: :class:`WatermarkGuard` checks each input
partition before its first batch after an assignment. (Faust's own assignment signal is too
early to rely on: its recovery can resume the streams before a signal handler has finished.)

A recreated topic that has already received more records than the old one had when the worker
comes back cannot be told apart this way (Kafka's topic ids would tell, aiokafka does not expose
them); ``docs/reliability.md`` lists it.

>>> not_the_same_logs({"clicks:0": 41, "clicks:1": 7}, {"clicks:0": 3, "clicks:1": 12})
['clicks:0']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import TopicPartition

from streamapp import metrics
from streamapp.lag import LagReader
from streamapp.store import Store

__all__ = ["WatermarkGuard", "forget_replaced_logs", "not_the_same_logs"]

log = logging.getLogger(__name__)


def not_the_same_logs(watermarks: dict[str, int], ends: dict[str, int]) -> list[str]:
    """Partitions (``topic:partition``) whose log ends at or below the state's watermark."""
    return sorted(tp for tp, end in ends.items() if tp in watermarks and end <= watermarks[tp])


async def forget_replaced_logs(
    store: Store, reader: LagReader, assigned: Iterable[str]
) -> list[str]:
    """Drop the watermarks of ``topic:partition``s whose log was replaced; returns them."""
    watermarks = await store.watermarks()
    partitions = [
        TopicPartition(topic, int(partition))
        for topic, partition in (tp.rsplit(":", 1) for tp in assigned if tp in watermarks)
    ]
    if not partitions:
        return []
    ends = await reader.end_offsets(partitions)
    replaced = not_the_same_logs(
        watermarks, {f"{tp.topic}:{tp.partition}": end for tp, end in ends.items()}
    )
    if replaced:
        for tp in replaced:
            log.warning(
                "log replaced partition=%s state watermark=%d: its watermark is dropped and the "
                "partition is applied from where the consumer starts",
                tp,
                watermarks[tp],
            )
        await store.forget_watermarks(replaced)
        metrics.LOGS_REPLACED.inc(len(replaced))
    return replaced


class WatermarkGuard:
    """Checks every input partition once per assignment, before its first batch is applied."""

    reader: LagReader

    def __init__(self, store: Store, bootstrap: str, client_id: str) -> None:
        self.store = store
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.checked: set[str] = set()

    async def start(self) -> None:
        # aiokafka clients bind to the running loop: created here, not in __init__.
        self.reader = LagReader(self.bootstrap, self.client_id)
        await self.reader.start()

    async def stop(self) -> None:
        await self.reader.stop()

    def reassigned(self) -> None:
        """Partitions moved: check each again (its topic may have been recreated meanwhile)."""
        self.checked.clear()

    async def check(self, partitions: Iterable[str]) -> None:
        """Before a batch from ``partitions`` (``topic:partition``) is applied."""
        unchecked = set(partitions) - self.checked
        if unchecked:
            await forget_replaced_logs(self.store, self.reader, unchecked)
            self.checked |= unchecked
