"""Attribution as the records arrive: lists published, clicks and cart events (and the product
table's prices) tailed from the topics, applied in time order to one :class:`Attribution`.

A consumer of its own, outside any group (nothing committed; every partition read), starts at
a given time (the earliest running experiment's start) and keeps up from there. Records of
different topics arrive out of step — a click can be read before the list it followed — so
each waits ``grace_ms`` of wall-clock time in a buffer and is applied in (time, list first)
order once older than that. An outcome later than the grace is applied late and, as in the
report, only counts if its user's window still holds it.

Given an :class:`ExposureSink` (:class:`streamapp.recommend.exposure.ExposureWindows`), the
same records feed the live exposure figures too: every list (not only an experiment's), every
interaction and the product table's categories and brands — one consumer for both.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol, cast

import orjson
from aiokafka import AIOKafkaConsumer

from streamapp.brokers import kafka_options
from streamapp.clock import now_ms
from streamapp.contracts.events import InvalidEvent, Limits, decode
from streamapp.experiments.attribution import Attribution
from streamapp.settings import Settings

__all__ = ["StreamingAttribution"]

log = logging.getLogger(__name__)

# Records fetched per partition and call: a busy stream is drained in bounded steps.
FETCH_RECORDS = 5000
# How long the partitions of existing topics take to be assigned, at most.
ASSIGNED_WITHIN_S = 10.0


class ExposureSink(Protocol):
    """What the live exposure figures take from the stream, in time order."""

    def product(
        self, tenant: str, item_id: str, category: str | None, brand: str | None
    ) -> None: ...

    def interacted(self, tenant: str, user_id: str, item_id: str) -> None: ...

    def published(self, ts: int, tenant: str, user_id: str, items: Sequence[str]) -> None: ...

    def advance(self, ts: int) -> bool: ...


class StreamingAttribution:
    """One :class:`Attribution` kept current from the topics by :meth:`poll`."""

    def __init__(
        self,
        settings: Settings,
        window_ms: int,
        grace_ms: int = 5000,
        exposure: ExposureSink | None = None,
    ) -> None:
        self.settings = settings
        self.attribution = Attribution(window_ms)
        self.exposure = exposure
        self.grace_ms = grace_ms
        self.limits = Limits(settings.tenants, settings.max_event_bytes, 0, 2**62)
        self.contracts = {
            settings.topic("clicks"): "click",
            settings.topic("carts"): "cart",
            settings.topic("inventory"): "inventory",
        }
        self.recommendations = settings.topic("recommendations")
        self.prices: dict[tuple[str, str], float] = {}
        self.pending: list[tuple[int, int, int, dict[str, Any]]] = []
        self.sequence = itertools.count()  # ties in the heap never compare records
        self.consumer: AIOKafkaConsumer | None = None
        self.watermark = 0  # every record older than this has been applied
        self.since = 0  # records older than this are left out

    async def start(self, since_ms: int) -> None:
        """Read from ``since_ms`` on (the product table from its start: prices are state)."""
        self.consumer = consumer = AIOKafkaConsumer(
            **kafka_options(self.settings),
            client_id=f"{self.settings.app_id}-attribution",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        existing = await consumer.topics()
        wanted = [self.recommendations, *self.contracts]
        missing = [t for t in wanted if t not in existing]
        if missing:
            log.warning(
                "attribution without topics %s: create them with `streamapp topics apply`",
                missing,
            )
        # Subscribed without a group, every partition is this consumer's as soon as the
        # metadata is in (a cache that consumer.topics() does not refresh).
        consumer.subscribe([t for t in wanted if t in existing])
        deadline = time.monotonic() + ASSIGNED_WITHIN_S
        while not consumer.assignment() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        inventory = self.settings.topic("inventory")
        timed = [tp for tp in consumer.assignment() if tp.topic != inventory]
        found = await consumer.offsets_for_times(dict.fromkeys(timed, since_ms))
        ends = await consumer.end_offsets(timed)
        for tp in timed:
            at = found.get(tp)
            consumer.seek(tp, at.offset if at is not None else ends[tp])
        self.watermark = self.since = since_ms

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None

    async def poll(self, timeout_ms: int = 0) -> int:
        """Take in what the topics gained and apply what is older than the grace; returns the
        records applied."""
        if self.consumer is None:
            return 0
        while True:
            fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=FETCH_RECORDS)
            for records in fetched.values():
                for record in records:
                    self._take(record.topic, record.value)
            if sum(len(r) for r in fetched.values()) < FETCH_RECORDS:
                break
            timeout_ms = 0
        return self.advance(now_ms() - self.grace_ms)

    def advance(self, to_ms: int) -> int:
        """Apply the buffered records up to ``to_ms``, in time order."""
        applied = 0
        while self.pending and self.pending[0][0] <= to_ms:
            ts, kind, _, record = heapq.heappop(self.pending)
            if kind == 1 and "price" not in record:
                price = self.prices.get((record["tenant"], record["item_id"]))
                if price is not None:
                    record["price"] = price
            if kind == 1 or record.get("experiment"):
                self.attribution.apply((ts, kind, record))
            if self.exposure is not None:
                self._expose(ts, kind, record)
            applied += 1
        self.watermark = max(self.watermark, to_ms)
        if self.exposure is not None:
            self.exposure.advance(self.watermark)
        return applied

    def _expose(self, ts: int, kind: int, record: dict[str, Any]) -> None:
        exposure = cast(ExposureSink, self.exposure)
        tenant, user = record["tenant"], record["user_id"]
        if kind == 0:
            exposure.published(ts, tenant, user, [i["item_id"] for i in record["items"]])
        elif record["interaction"] != "cart_remove":
            exposure.interacted(tenant, user, record["item_id"])

    def _take(self, topic: str, value: bytes | None) -> None:
        if topic == self.recommendations:
            message = orjson.loads(value) if value else None
            if message and (message.get("experiment") or self.exposure is not None):
                self._buffer(message["generated_at"], 0, message)
            return
        try:
            event = decode(value, self.contracts[topic], self.limits)
        except InvalidEvent:
            return  # the worker dead-letters it; attribution leaves it out
        if self.contracts[topic] == "inventory":
            if "price" in event:
                self.prices[(event["tenant"], event["item_id"])] = float(event["price"])
            if self.exposure is not None:
                self.exposure.product(
                    event["tenant"], event["item_id"], event.get("category"), event.get("brand")
                )
            return
        self._buffer(event["ts"], 1, event)

    def _buffer(self, ts: int, kind: int, record: dict[str, Any]) -> None:
        if ts < self.since:
            return
        heapq.heappush(self.pending, (ts, kind, next(self.sequence), record))
