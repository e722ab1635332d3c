"""``streamapp simulate``: the world's shoppers on the live stack.

The catalogue goes to the inventory topic first. Then, ``rate`` times a second, a random
shopper acts: if a list reached them since they last looked (read from the recommendations
topic), they read it — the expected clicks it brings them under their hidden taste are
recorded against the list's experiment and variant, beside the clicks it actually got — and
react to it; otherwise, or if nothing on it appeals, they browse (half the time). Every action
is an event on the clicks or carts topic, as a shop would publish it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamapp.brokers import kafka_options
from streamapp.clock import now_ms
from streamapp.settings import Settings
from streamapp.simulation.world import Action, World

__all__ = ["VariantTally", "simulate"]


@dataclass
class VariantTally:
    """What the shoppers read of one (experiment, variant) and what it was worth."""

    users: set[str]
    lists_read: int = 0
    true_clicks: float = 0.0  # expected under the hidden tastes
    clicks: int = 0  # clicks the lists actually got

    def summary(self) -> dict[str, Any]:
        read = max(1, self.lists_read)
        return {
            "users": len(self.users),
            "lists_read": self.lists_read,
            "true_clicks_per_list": round(self.true_clicks / read, 4),
            "measured_clicks_per_list": round(self.clicks / read, 4),
        }


async def simulate(
    settings: Settings,
    shoppers: int,
    seconds: float,
    seed: int,
    rate: float = 100.0,
    items: int = 500,
    tenant: str = "default",
) -> dict[str, Any]:
    """Run the shoppers for ``seconds``; the summary the command prints."""
    world = World(seed, shoppers, items)
    producer = AIOKafkaProducer(**kafka_options(settings), linger_ms=5)
    consumer = AIOKafkaConsumer(
        settings.topic("recommendations"),
        **kafka_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    ids = (f"sim{seed}-{n}" for n in itertools.count())
    events: dict[str, int] = {}
    tallies: dict[str, VariantTally] = {}
    latest: dict[str, dict[str, Any]] = {}
    await producer.start()
    await consumer.start()
    follow = asyncio.create_task(_follow(consumer, latest, tenant))
    try:
        await _stock(producer, settings, world, tenant, ids)
        started = time.monotonic()
        for step in itertools.count():
            due = started + step / rate
            if due - started >= seconds:
                break
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            shopper = world.rng.choice(world.shoppers)
            actions: list[Action] = []
            listed = latest.pop(shopper.user_id, None)
            if listed is not None:
                shown = [i["item_id"] for i in listed["items"]]
                label = f"{listed.get('experiment', '')}:{listed['variant']}"
                tally = tallies.setdefault(label, VariantTally(set()))
                tally.users.add(shopper.user_id)
                tally.lists_read += 1
                tally.true_clicks += world.expected_clicks(shopper, shown)
                actions = world.react(shopper, shown)
                tally.clicks += 1 if actions else 0
            if not actions and world.rng.random() < 0.5:
                item = world.browse(shopper)
                actions = world.after_click(item, world.appeal(shopper, item))
            for action in actions:
                await _publish(producer, settings, tenant, shopper.user_id, action, next(ids))
                events[action[0]] = events.get(action[0], 0) + 1
        await producer.flush()
    finally:
        follow.cancel()
        await consumer.stop()
        await producer.stop()
    return {
        "shoppers": shoppers,
        "seconds": seconds,
        "seed": seed,
        "events": events,
        "lists_read": sum(t.lists_read for t in tallies.values()),
        "variants": {label: t.summary() for label, t in sorted(tallies.items())},
    }


async def _stock(
    producer: AIOKafkaProducer,
    settings: Settings,
    world: World,
    tenant: str,
    ids: Iterator[str],
) -> None:
    """Every item in stock, with its category and price, before any shopper acts."""
    now = now_ms()
    c = world.catalogue
    for item, category, price in zip(c.ids, c.categories, c.prices, strict=True):
        value = {
            "event_id": next(ids),
            "item_id": item,
            "stock": 1_000,
            "ts": now,
            "tenant": tenant,
            "category": category,
            "price": price,
        }
        await producer.send(settings.topic("inventory"), orjson.dumps(value), key=item.encode())
    await producer.flush()


async def _publish(
    producer: AIOKafkaProducer,
    settings: Settings,
    tenant: str,
    user_id: str,
    action: Action,
    event_id: str,
) -> None:
    kind, item, quantity, price, dwell = action
    event: dict[str, Any] = {
        "event_id": event_id,
        "user_id": user_id,
        "item_id": item,
        "ts": now_ms(),
        "tenant": tenant,
    }
    if kind == "click":
        topic, value = "clicks", {**event, "dwell_ms": dwell}
    else:
        action_name = {"cart_add": "add", "purchase": "purchase", "return": "return"}[kind]
        value = {**event, "action": action_name, "quantity": quantity, "price": price}
        topic = "carts"
    await producer.send(settings.topic(topic), orjson.dumps(value), key=user_id.encode())


async def _follow(
    consumer: AIOKafkaConsumer, latest: dict[str, dict[str, Any]], tenant: str
) -> None:
    """Each shopper's newest list, as it arrives."""
    while True:
        fetched = await consumer.getmany(timeout_ms=200)
        for records in fetched.values():
            for record in records:
                message = orjson.loads(record.value)
                if message.get("tenant") == tenant:
                    latest[message["user_id"]] = message
