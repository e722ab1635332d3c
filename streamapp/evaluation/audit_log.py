"""Logged impressions for off-policy evaluation: audit records joined with what users did next.

Reads the ``audit`` topic and the interaction topics from the beginning up to their end offsets
at the start of the call (a bounded, repeatable read), and labels the last slot of every audited
list as clicked when the user interacted with that item within ``window_s`` after the list was
generated — the attribution the learner's labels use too (``contracts.audit``).
"""

from __future__ import annotations

from collections import defaultdict

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamapp.brokers import kafka_options
from streamapp.contracts.audit import attributed, decode
from streamapp.evaluation.off_policy import Impression, SlotItem
from streamapp.settings import Settings


async def _read_all(settings: Settings, topics: list[str]) -> dict[str, list[dict]]:
    """Every record of ``topics`` up to the end offsets seen at the start, decoded."""
    admin = AIOKafkaAdminClient(**kafka_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in t["partitions"]
    ]
    consumer = AIOKafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: dict[str, list[dict]] = defaultdict(list)
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        try:
                            out[tp.topic].append(orjson.loads(record.value))
                        except orjson.JSONDecodeError:
                            continue
                    if record.offset >= ends[tp] - 1:
                        remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


def join(audits: list[dict], interactions: list[dict], window_ms: int) -> list[Impression]:
    """The last slot of each audited list, labelled by the interactions that followed it.

    >>> audit = {"user_id": "u", "tenant": "default", "generated_at": 100, "exploration": 0.5,
    ...          "items": [{"item_id": "a", "propensity": 1.0},
    ...                    {"item_id": "b", "propensity": 0.25}]}
    >>> (impression,) = join([audit], [{"user_id": "u", "item_id": "b", "ts": 150}], 100)
    >>> impression.propensity, impression.explored, impression.tail, impression.clicked
    (0.25, True, 2, True)
    """
    seen: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for event in interactions:
        key = (
            str(event.get("tenant", "default")),
            str(event.get("user_id")),
            str(event.get("item_id")),
        )
        if isinstance(event.get("ts"), int):
            seen[key].append(event["ts"])
    out = []
    for record in map(decode, audits):
        if not record.items:
            continue
        last = record.items[-1]
        share = record.exploration
        slot = tuple(SlotItem(r.item_id, r.score, r.signals) for r in record.slot)
        if slot:  # the action set says whether the ranking's own pick was replaced
            explored = last.item_id != slot[0].item_id
            tail = max(1, len(slot) - 1)
        else:  # older records: only the propensity tells
            explored = share > 0 and abs(last.propensity - (1.0 - share)) > 1e-9
            tail = max(1, round(share / last.propensity)) if explored else 1
        times = seen.get((record.tenant, record.user_id, last.item_id), [])
        out.append(
            Impression(
                propensity=last.propensity,
                explored=explored,
                tail=tail,
                clicked=any(attributed(record.generated_at, ts, window_ms) for ts in times),
                item_id=last.item_id,
                slot=slot,
                tenant=record.tenant,
            )
        )
    return out


async def impressions(settings: Settings, window_s: float) -> list[Impression]:
    """Impressions from the deployment's audit topic and interaction topics."""
    audit, clicks, carts = (settings.topic(t) for t in ("audit", "clicks", "carts"))
    records = await _read_all(settings, [audit, clicks, carts])
    return join(records[audit], records[clicks] + records[carts], int(window_s * 1000))
