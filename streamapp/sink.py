"""Where processors send what they produce; the worker sends through Faust's producer.

Faust flushes its producer before it commits input offsets, so a record sent here is on the
broker before the input that caused it is marked consumed (at-least-once end to end).
"""

from __future__ import annotations

from typing import Protocol

from streamapp.messages import Headers


class Sink(Protocol):
    """Fire-and-forget send of one record; delivery is awaited before offsets are committed."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None: ...
