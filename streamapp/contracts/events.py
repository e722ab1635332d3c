"""Decoding and validating input events: bytes in, a plain dict out, or :class:`InvalidEvent`.

Every rejection carries a machine-readable ``reason`` (the dead-letter label), the offending
field as a JSON pointer, and the event id when one could be read, so that an operator can act
on a dead-letter record without the worker's logs.

>>> raw = b'{"event_id":"e1","user_id":"u","item_id":"i","ts":1000,"action":"purchase"}'
>>> decode(raw, "cart", Limits(tenants=("default",), max_bytes=1024,
...        min_ts=0, max_ts=2000))["interaction"]
'purchase'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from streamapp.contracts.schemas import contract
from streamapp.settings import Settings

# Which input topic's messages follow which contract; interaction kinds map to the weight
# names of the decayed state.
CART_INTERACTIONS = {
    "add": "cart_add",
    "remove": "cart_remove",
    "purchase": "purchase",
    "return": "return",
}
TYPE_FIELDS = {"click": "kind", "cart": "action"}


# Kafka record headers as the clients give them: (name, value) pairs.
Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record, independent of the client library that read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: Headers = ()

    @property
    def tp(self) -> str:
        return f"{self.topic}:{self.partition}"


def spans(records: Iterable[Record]) -> dict[str, tuple[int, int]]:
    """Per ``topic:partition``, the first and last offset of a batch (in order per partition),
    which the state scripts check against their watermarks.

    >>> spans([Record("c", 0, 7, None, None, 0), Record("c", 1, 3, None, None, 0),
    ...        Record("c", 0, 9, None, None, 0)])
    {'c:0': (7, 9), 'c:1': (3, 3)}
    """
    out: dict[str, tuple[int, int]] = {}
    for record in records:
        first, _ = out.get(record.tp, (record.offset, record.offset))
        out[record.tp] = (first, record.offset)
    return out


class InvalidEvent(Exception):
    """An input event that cannot change state; it goes to the dead-letter topic."""

    def __init__(
        self, reason: str, message: str, field: str | None = None, event_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.event_id = event_id


@dataclass(frozen=True)
class Limits:
    """What a worker accepts, besides the schema: tenants, payload size, time window (ms)."""

    tenants: tuple[str, ...]
    max_bytes: int
    min_ts: int
    max_ts: int


def _pointer(path: list[str | int]) -> str:
    return "".join(f"/{p}" for p in path)


def _schema_error(message: str, value: dict[str, Any], event_id: str | None) -> InvalidEvent:
    error = next(iter(contract(message).iter_errors(value)))
    path = list(error.instance_path)
    field = _pointer(path)
    type_field = TYPE_FIELDS.get(message)
    if type_field is not None and path == [type_field] and type(error.kind).__name__ == "Enum":
        return InvalidEvent("unknown_event_type", error.message, field, event_id)
    return InvalidEvent("schema_violation", error.message, field, event_id)


def decode(raw: bytes | None, message: str, limits: Limits) -> dict[str, Any]:
    """Parse and check one input event of contract ``message``.

    On success the dict has ``tenant`` filled in and, for interactions, ``interaction`` set to
    the weight name (``click``, ``fav``, ``cart_add``, ``cart_remove``, ``purchase``).
    """
    if raw is None:
        raise InvalidEvent("malformed_json", "empty message (null value)")
    if len(raw) > limits.max_bytes:
        raise InvalidEvent(
            "oversized", f"{len(raw)} bytes is over the limit of {limits.max_bytes} bytes"
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            raise InvalidEvent("invalid_utf8", str(exc)) from None
        raise InvalidEvent("malformed_json", str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidEvent(
            "schema_violation", f"expected a JSON object, got {type(value).__name__}"
        )
    event_id = value.get("event_id")
    event_id = event_id if isinstance(event_id, str) else None
    if not contract(message).is_valid(value):
        raise _schema_error(message, value, event_id)
    tenant = value.setdefault("tenant", "default")
    if tenant not in limits.tenants:
        raise InvalidEvent(
            "unknown_tenant", f"tenant {tenant!r} is not served", "/tenant", event_id
        )
    ts = value["ts"]
    if not limits.min_ts <= ts <= limits.max_ts:
        raise InvalidEvent(
            "timestamp_out_of_range",
            f"ts {ts} is outside the accepted window [{limits.min_ts}, {limits.max_ts}]",
            "/ts",
            event_id,
        )
    if message == "click":
        value["interaction"] = value.get("kind", "click")
    elif message == "cart":
        value["interaction"] = CART_INTERACTIONS[value["action"]]
    return value


def limits_at(settings: Settings, now: int) -> Limits:
    """What an input event must satisfy, besides its schema, at wall-clock ``now``."""
    return Limits(
        tenants=settings.tenants,
        max_bytes=settings.max_event_bytes,
        min_ts=now - int(settings.max_event_age_s * 1000),
        max_ts=now + int(settings.max_clock_skew_s * 1000),
    )
