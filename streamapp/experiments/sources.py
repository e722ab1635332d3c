"""What a report reads: the lists published (exposures), the users' clicks and cart events
(outcomes) and the product table's prices, from the topics, whole.

A report reads every partition from its start (no consumer group, nothing committed), so it
can be run any number of times; it costs a read of the three topics' retention, which the
streaming attribution process will avoid by keeping the same sums as it goes.
"""

from __future__ import annotations

import orjson

from streamapp.brokers import kafka_options
from streamapp.contracts.events import Limits
from streamapp.experiments.attribution import Timeline
from streamapp.ops.log_reader import LogReader
from streamapp.settings import Settings

__all__ = ["read_timeline"]


async def _prices(
    reader: LogReader, settings: Settings, tenant: str, limits: Limits
) -> dict[str, float]:
    """Each item's latest price in the product table (the compacted inventory topic)."""
    prices: dict[str, tuple[int, float]] = {}
    inventory = settings.topic("inventory")
    async for item in reader.events(inventory, "inventory", limits, settings.batch_max):
        held = prices.get(item["item_id"])
        if item["tenant"] == tenant and "price" in item and (held is None or held[0] <= item["ts"]):
            prices[item["item_id"]] = (item["ts"], float(item["price"]))
    return {item: price for item, (_, price) in prices.items()}


async def _outcomes(
    reader: LogReader, settings: Settings, tenant: str, since_ms: int, limits: Limits
) -> Timeline:
    found: Timeline = []
    for contract, topic in (("click", "clicks"), ("cart", "carts")):
        async for event in reader.events(
            settings.topic(topic), contract, limits, settings.batch_max
        ):
            if event["tenant"] == tenant and event["ts"] >= since_ms:
                found.append((event["ts"], 1, event))
    return found


async def read_timeline(
    settings: Settings, tenant: str, since_ms: int, outcomes_since_ms: int | None = None
) -> Timeline:
    """Exposures of ``tenant`` from ``since_ms`` on and outcomes from ``outcomes_since_ms``
    (the pre-experiment period; ``since_ms`` when left out), by time. An outcome's price is
    the event's own, else the product table's latest."""
    limits = Limits(settings.tenants, settings.max_event_bytes, 0, 2**62)
    timeline: Timeline = []
    reader = LogReader(kafka_options(settings), f"{settings.app_id}-report")
    await reader.start()
    try:
        prices = await _prices(reader, settings, tenant, limits)
        async for record in reader.everything(settings.topic("recommendations"), 5000):
            message = orjson.loads(record.value) if record.value else None
            if message and message["tenant"] == tenant and message["generated_at"] >= since_ms:
                timeline.append((message["generated_at"], 0, message))
        outcomes_since = since_ms if outcomes_since_ms is None else outcomes_since_ms
        timeline += await _outcomes(reader, settings, tenant, outcomes_since, limits)
    finally:
        await reader.stop()
    for _, kind, event in timeline:
        if kind == 1 and "price" not in event and event["item_id"] in prices:
            event["price"] = prices[event["item_id"]]
    timeline.sort(key=lambda r: (r[0], r[1]))
    return timeline
