"""The dead-letter topic: every input record that cannot change state, with its bytes and why."""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError

from streamapp.clock import now_ms
from streamapp.contracts.events import InvalidEvent, Record
from streamapp.contracts.messages import dead_letter
from streamapp.failures import reason
from streamapp.ops import metrics
from streamapp.settings import Settings
from streamapp.worker.sink import Sink

log = logging.getLogger(__name__)

# A failure's text is kept short: the original bytes are what a dead letter is for.
MAX_ERROR_CHARS = 1000


class DeadLetters:
    """Sends rejected records to the dead-letter topic and counts them by reason."""

    def __init__(self, settings: Settings, sink: Sink) -> None:
        self.topic = settings.topic("dead-letter")
        self.sink = sink

    async def send(
        self, record: Record, error: InvalidEvent, now: int, counts: metrics.BatchCounts
    ) -> None:
        log.debug("dead-letter reason=%s tp=%s offset=%s", error.reason, record.tp, record.offset)
        counts.dead_letters[error.reason] += 1
        counts.events[(record.topic, "dead_letter")] += 1
        await self.sink.send(self.topic, record.topic.encode(), dead_letter(record, error, now))

    async def reject(self, record: Record, exc: BaseException) -> None:
        """A record whose processing fails for good, narrowed down to it alone by the batch
        runner: ``output_rejected`` when the broker refused what it produced (too large, not
        authorised), ``processing_failed`` for anything else (a script error, a bug)."""
        kind = "output_rejected" if isinstance(exc, KafkaError) else "processing_failed"
        counts = metrics.BatchCounts()
        detail = f"{reason(exc)}: {exc}"[:MAX_ERROR_CHARS]
        await self.send(record, InvalidEvent(kind, detail), now_ms(), counts)
        await self.sink.flush()
        counts.flush()
