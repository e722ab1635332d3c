"""Where processors send what they produce; the worker sends through Faust's producer.

A send only hands the record to the producer. :meth:`Sink.flush` waits until the broker has
acknowledged every record sent since the last flush and raises the first refusal, so a batch
whose outputs did not all arrive fails (and is retried or narrowed down) instead of being
acknowledged: aiokafka's own flush never raises, and Faust drops the delivery results.
"""

from __future__ import annotations

from typing import Protocol

from streamapp.contracts.events import Headers


class Sink(Protocol):
    """Sends records; delivery is confirmed, or refused, by :meth:`flush`."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None: ...

    async def flush(self) -> None:
        """Wait for every record sent since the last flush; raise the first refusal."""

    def abandon(self) -> None:
        """Forget the deliveries in flight: the batch that sent them failed and will be sent
        again (their results are still collected, so none is reported as unretrieved)."""


class NoOutputs:
    """The sink of a processor that sends nothing (the learner): nothing to confirm."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None
    ) -> None:
        raise TypeError(f"this processor produces no records (asked to send to {topic})")

    async def flush(self) -> None:
        return None

    def abandon(self) -> None:
        return None
