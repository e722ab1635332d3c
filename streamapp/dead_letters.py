"""The dead-letter topic: every input record that cannot change state, with its bytes and why."""

from __future__ import annotations

import logging

from streamapp import metrics
from streamapp.events import InvalidEvent
from streamapp.messages import Record, dead_letter
from streamapp.settings import Settings
from streamapp.sink import Sink

log = logging.getLogger(__name__)


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
