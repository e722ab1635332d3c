"""Builders of the messages streamapp publishes, as bytes that follow ``schemas/``.

A recommendation is built in two parts: the head (everything but the items) here, and the
item list appended by the commit script once the in-stock check has passed, so the published
bytes are exactly the list that became current.

>>> head = recommendation_head("default", "u1", 5, "v1", "control",
...     {"event_id": "e", "topic": "clicks", "partition": 0, "offset": 3, "event_ts": 4})
>>> import orjson
>>> body = head + item_fragment(item_entry("i9", 0.5, "popular")) + '],"source":"popular"}'
>>> orjson.loads(body)["items"]
[{'item_id': 'i9', 'score': 0.5, 'source': 'popular'}]
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import orjson

from streamapp.contracts.events import InvalidEvent, Record


@dataclass(frozen=True, slots=True)
class Ranked:
    """One recommended item, with the score and the source that explain it.

    ``signals`` are the item's normalised signal values (what the audit topic records);
    ``propensity`` is the probability that the ranking policy put the item where it is
    (1 unless exploration could have changed that slot); ``rules`` are the merchandising
    rules that moved it (:mod:`streamapp.recommend.rules`).
    """

    item_id: str
    score: float
    source: str
    signals: dict[str, float] = field(default_factory=dict)
    propensity: float = 1.0
    rules: tuple[str, ...] = ()


def recommendation_head(
    tenant: str,
    user_id: str,
    generated_at: int,
    model_version: str,
    variant: str,
    trigger: dict[str, Any],
    experiment: str = "",
) -> str:
    """The JSON of a recommendation up to the opening bracket of ``items``; ``experiment`` and
    ``variant`` name the user's experiments and variants (``experiments.assignment.labels``)."""
    head = orjson.dumps(
        {
            "user_id": user_id,
            "tenant": tenant,
            "generated_at": generated_at,
            "model_version": model_version,
            "experiment": experiment,
            "variant": variant,
            "trigger": trigger,
        }
    )
    return head[:-1].decode() + ',"items":['


# The sources an item of a list can come from (the schema's enum of ``items[].source``), in
# a fixed order: a stored ranking (``streamapp.state.lists``) keeps an item's source as its
# index here.
SOURCES: tuple[str, ...] = (
    "recent",
    "history",
    "covisit",
    "mf",
    "category",
    "new",
    "popular",
    "catalog",
    "sequence",
    "cosine",
)


def item_entry(
    item_id: str, score: float, source: str, rules: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    """One element of ``items``, its score rounded as published; ``rules`` name the
    merchandising rules that touched it (left out when none did)."""
    entry: dict[str, Any] = {"item_id": item_id, "score": round(score, 6), "source": source}
    if rules:
        entry["rules"] = list(rules)
    return entry


def item_fragment(entry: dict[str, Any]) -> str:
    """One element of ``items`` (:func:`item_entry`), as the JSON the commit appends."""
    return orjson.dumps(entry).decode()


def trigger(record: Record, event_id: str, event_ts: int, reason: str) -> dict[str, Any]:
    """Which input caused a list: the event, where it sits in Kafka and when it was produced.

    ``input_ts`` (the input record's Kafka timestamp) lets any consumer measure freshness.
    """
    return {
        "event_id": event_id,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "event_ts": event_ts,
        "input_ts": record.timestamp_ms,
        "reason": reason,
    }


def dead_letter(record: Record, error: InvalidEvent, at_ms: int) -> bytes:
    """A dead-letter record: the original bytes (base64), where they came from, and why."""
    return orjson.dumps(
        {
            "original": base64.b64encode(record.value or b"").decode(),
            "key": base64.b64encode(record.key).decode() if record.key is not None else None,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "reason": error.reason,
            "error": type(error).__name__,
            "message": str(error),
            "field": error.field,
            "event_id": error.event_id,
            "at": at_ms,
        }
    )


def refresh(
    tenant: str, user_id: str, item_id: str, event_id: str, ts: int, reason: str = "stock_out"
) -> bytes:
    """Ask the partition that owns ``user_id`` to recompute its list: ``item_id`` went out of
    stock (or a block took it out), or a rule that moves it started or ended (``rule``)."""
    return orjson.dumps(
        {
            "user_id": user_id,
            "tenant": tenant,
            "item_id": item_id,
            "event_id": event_id,
            "ts": ts,
            "reason": reason,
        }
    )
