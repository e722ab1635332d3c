"""Replay a real event log through Kafka, with inventory derived from it.

The logs carry no stock, so inventory is derived (documented in docs/operations.md):

* an item is stocked with ``initial_stock`` units when it first appears in the log, with the
  category, price and brand the log gives it;
* every purchase takes one unit; the purchase that takes the last unit is followed by a
  stock-out record (``stock: 0``);
* ``restock_after_s`` of log time after a stock-out the item is restocked to ``initial_stock``.

Timestamps are rebased onto the wall clock: at ``speed`` N the log plays N times faster than it
happened and every event is stamped with the moment it is sent; at speed 0 (as fast as possible)
the log is shifted so its last event is "now", keeping the gaps between events.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from streamapp.brokers import kafka_options
from streamapp.contracts.events import CART_INTERACTIONS
from streamapp.datasets.catalog import Interaction
from streamapp.settings import Settings

# Interaction kind → the cart topic's `action` (the inverse of what the worker decodes).
CART_ACTIONS = {kind: action for action, kind in CART_INTERACTIONS.items()}


@dataclass(frozen=True, slots=True)
class StockUpdate:
    """A derived inventory record."""

    item_id: str
    stock: int
    ts_ms: int
    category: str | None = None
    price: float | None = None
    brand: str | None = None


def derive_inventory(
    log: Iterable[Interaction], initial_stock: int, restock_after_ms: int
) -> Iterator[Interaction | StockUpdate]:
    """Interleave the log with the stock updates it implies, in time order.

    >>> log = [Interaction("u", "i", "click", 0), Interaction("u", "i", "purchase", 5),
    ...        Interaction("v", "i", "click", 20)]
    >>> [(type(e).__name__, getattr(e, "stock", None), e.ts_ms)
    ...  for e in derive_inventory(log, 1, 10)]  # doctest: +NORMALIZE_WHITESPACE
    [('StockUpdate', 1, 0), ('Interaction', None, 0), ('Interaction', None, 5),
     ('StockUpdate', 0, 5), ('StockUpdate', 1, 15), ('Interaction', None, 20)]
    """
    stock: dict[str, int] = {}
    meta: dict[str, Interaction] = {}
    restocks: list[tuple[int, str]] = []

    def update(item: str, units: int, ts: int) -> StockUpdate:
        m = meta[item]
        return StockUpdate(item, units, ts, m.category, m.price, m.brand)

    for event in log:
        while restocks and restocks[0][0] <= event.ts_ms:
            ts, item = heapq.heappop(restocks)
            stock[item] = initial_stock
            yield update(item, initial_stock, ts)
        item = event.item_id
        if item not in stock:
            meta[item] = event
            stock[item] = initial_stock
            yield update(item, initial_stock, event.ts_ms)
        yield event
        if event.kind == "purchase" and stock[item] > 0:
            stock[item] -= 1
            if stock[item] == 0:
                yield update(item, 0, event.ts_ms)
                heapq.heappush(restocks, (event.ts_ms + restock_after_ms, item))
    while restocks:
        ts, item = heapq.heappop(restocks)
        yield update(item, initial_stock, ts)


def rebase(ts_ms: int, first_ms: int, last_ms: int, start_ms: int, speed: float) -> int:
    """Log time → wall-clock time (see the module docstring).

    >>> rebase(1_000, 0, 10_000, 50_000, 0), rebase(1_000, 0, 10_000, 50_000, 10)
    (41000, 50100)
    """
    if speed > 0:
        return start_ms + int((ts_ms - first_ms) / speed)
    return start_ms - (last_ms - ts_ms)


def to_message(
    event: Interaction | StockUpdate, event_id: str, ts_ms: int
) -> tuple[str, str, dict[str, Any]]:
    """(topic base name, key, value) of one replayed record, following ``schemas/``."""
    if isinstance(event, StockUpdate):
        value: dict[str, Any] = {
            "event_id": event_id,
            "item_id": event.item_id,
            "stock": event.stock,
            "ts": ts_ms,
        }
        for name in ("category", "price", "brand"):
            if getattr(event, name) is not None:
                value[name] = getattr(event, name)
        return "inventory", event.item_id, value
    value = {"event_id": event_id, "user_id": event.user_id, "item_id": event.item_id, "ts": ts_ms}
    if event.category is not None:
        value["category"] = event.category
    if event.kind in ("click", "fav"):
        if event.kind == "fav":
            value["kind"] = "fav"
        return "clicks", event.user_id, value
    value["action"] = CART_ACTIONS[event.kind]
    if event.price is not None:
        value["price"] = event.price
    return "carts", event.user_id, value


async def replay(
    settings: Settings,
    log: list[Interaction],
    speed: float = 0.0,
    initial_stock: int = 3,
    restock_after_s: float = 6 * 3600.0,
    run_id: str | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Publish ``log`` and its derived inventory; returns records sent per topic."""
    if not log:
        return {}
    run = run_id or uuid.uuid4().hex[:8]
    first, last = log[0].ts_ms, log[-1].ts_ms
    start = int(time.time() * 1000)
    timeline = list(derive_inventory(log, initial_stock, int(restock_after_s * 1000)))
    counts: dict[str, int] = {}
    producer = AIOKafkaProducer(
        **kafka_options(settings),
        linger_ms=5,
        acks="all",
        enable_idempotence=True,
        client_id=f"{settings.app_id}-replay",
    )
    await producer.start()
    pending: deque[asyncio.Future[Any]] = deque()
    try:
        for n, event in enumerate(
            tqdm(timeline, unit="ev", disable=not progress, desc=f"replay {run}")
        ):
            ts = rebase(event.ts_ms, first, last, start, speed)
            if speed > 0:
                delay = (ts - time.time() * 1000) / 1000
                if delay > 0:
                    await asyncio.sleep(delay)
            topic, key, value = to_message(event, f"{run}-{n}", ts)
            pending.append(
                await producer.send(settings.topic(topic), orjson.dumps(value), key=key.encode())
            )
            counts[topic] = counts.get(topic, 0) + 1
            if len(pending) >= 10_000:
                await pending.popleft()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return counts
