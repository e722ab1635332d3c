"""The inventory path: validate → upsert product table and out-of-stock set → route refreshes.

A stock-out is recorded in Redis (visible to every worker at once) before the batch is
acknowledged, and every user whose current list shows the item gets a refresh request
(:mod:`.refreshes`).
"""

from __future__ import annotations

import time
from typing import Any

from streamapp.clock import now_ms
from streamapp.contracts.events import InvalidEvent, Record, decode, limits_at, spans
from streamapp.ops import metrics
from streamapp.ops.tracing import TRACEPARENT, traceparent
from streamapp.settings import Settings
from streamapp.state.store import Store
from streamapp.state.types import InventoryOutcome, InventoryRow, Outcome
from streamapp.worker.dead_letters import DeadLetters
from streamapp.worker.refreshes import Refreshes
from streamapp.worker.sink import Sink

PRODUCT_FIELDS = ("price", "margin", "category", "brand", "discounted", "sensitive")
FLAGS = ("discounted", "sensitive")  # stored as 0 or 1


class InventoryProcessor:
    """Processes batches from the inventory topic."""

    def __init__(self, settings: Settings, store: Store, sink: Sink) -> None:
        self.settings = settings
        self.store = store
        self.sink = sink
        self.dead_letters = DeadLetters(settings, sink)
        self.refreshes = Refreshes(settings, store, sink)

    async def process(self, records: list[Record]) -> None:
        started = time.perf_counter()
        now = now_ms()
        limits = limits_at(self.settings, now)
        counts = metrics.BatchCounts()
        accepted: list[tuple[Record, dict[str, Any]]] = []
        for record in records:
            try:
                accepted.append((record, decode(record.value, "inventory", limits)))
            except InvalidEvent as error:
                await self.dead_letters.send(record, error, now, counts)
        rows = [
            InventoryRow(
                event["tenant"],
                event["item_id"],
                event["ts"],
                event["stock"],
                {
                    f: int(event[f]) if f in FLAGS else event[f]
                    for f in PRODUCT_FIELDS
                    if f in event
                },
                record.tp,
                record.offset,
            )
            for record, event in accepted
        ]
        outcomes = await self.store.apply_inventory(rows, now, spans(records))
        for (record, event), outcome in zip(accepted, outcomes, strict=True):
            if outcome.status == Outcome.STALE:
                stale = InvalidEvent(
                    "stale_update",
                    f"item {event['item_id']!r} already has a newer inventory record than ts "
                    f"{event['ts']}",
                    "/ts",
                    event["event_id"],
                )
                await self.dead_letters.send(record, stale, now, counts)
                continue
            counts.events[(record.topic, outcome.status.label)] += 1
            if outcome.transition == "out":
                metrics.INVALIDATIONS.inc()
            await self._refresh(record, event, outcome, now)
        # Counted once the broker has confirmed every output: a retried batch counts once.
        await self.sink.flush()
        counts.flush()
        metrics.BATCH_SIZE.labels("inventory").observe(len(records))
        metrics.BATCH_SECONDS.labels("inventory").observe(time.perf_counter() - started)

    async def _refresh(
        self, record: Record, event: dict[str, Any], outcome: InventoryOutcome, now: int
    ) -> None:
        """Ask for a new list for every user shown an item that went out of stock."""
        # The stock-out's trace context rides on to the corrected lists.
        parent = traceparent(record.headers)
        headers = None if parent is None else [(TRACEPARENT, parent)]
        await self.refreshes.route(
            event["tenant"],
            event["item_id"],
            event["event_id"],
            now,
            outcome.affected_users,
            outcome.page,
            headers=headers,
        )
