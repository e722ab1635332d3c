"""The row an interaction becomes in the state: shared by the worker and the evaluator, so
both write state the same way."""

from __future__ import annotations

from typing import Any

from streamapp.settings import Settings
from streamapp.state.decay import stored_weight
from streamapp.state.types import EventRow

__all__ = ["event_row"]


def event_row(
    event: dict[str, Any], tp: str, offset: int, landmark: float, settings: Settings
) -> EventRow:
    """One decoded interaction as a row of ``Store.ingest``, its weight forward-decayed.

    >>> from streamapp.settings import Settings
    >>> event = {"tenant": "default", "event_id": "e1", "user_id": "u", "item_id": "i",
    ...          "ts": 1000, "interaction": "purchase"}
    >>> row = event_row(event, "carts:0", 7, 1000.0, Settings())
    >>> row.purchased, row.category, row.weight == 1_000_000 * Settings().weights["purchase"]
    (1, False, True)
    """
    weight = settings.weights.get(event["interaction"], 0.0)
    return EventRow(
        event["tenant"],
        tp,
        offset,
        event["event_id"],
        event["user_id"],
        event["item_id"],
        event.get("category") or False,
        stored_weight(weight, event["ts"], landmark, settings.decay_rate),
        event["ts"],
        1 if event["interaction"] == "purchase" else 0,
        event.get("price") or False,
    )
