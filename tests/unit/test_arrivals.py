"""A batch is what has arrived, and each event is held before the stream is asked for the
next one (the moment Faust acknowledges the one before)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from streamapp.worker.arrivals import arrived


class Stream:
    """Events queued as a Faust stream queues them, acknowledging each (in the log) when the
    next is asked for."""

    def __init__(self, *bursts: list[int]) -> None:
        self.bursts = [list(b) for b in bursts]
        self.queue: list[int] = []
        self.log: list[str] = []

    def queued(self) -> bool:
        return bool(self.queue)

    async def events(self) -> AsyncIterator[int]:
        while self.queue or self.bursts:
            if not self.queue:
                await asyncio.sleep(0.01)  # the next fetch
                self.queue = self.bursts.pop(0)
            event = self.queue.pop(0)
            yield event
            self.log.append(f"acked {event}")


def batches(stream: Stream, max_events: int = 100) -> list[list[int]]:
    def hold(event: int) -> None:
        stream.log.append(f"held {event}")

    async def collect() -> list[list[int]]:
        return [b async for b in arrived(stream.events(), stream.queued, max_events, hold)]

    return asyncio.run(collect())


def test_a_batch_is_what_arrived_together():
    assert batches(Stream([1, 2, 3], [4], [5, 6])) == [[1, 2, 3], [4], [5, 6]]


def test_a_batch_stops_at_its_bound_and_the_rest_follows_at_once():
    assert batches(Stream([1, 2, 3, 4, 5]), max_events=2) == [[1, 2], [3, 4], [5]]


def test_every_event_is_held_before_the_stream_acknowledges_it():
    stream = Stream([1, 2, 3], [4])
    batches(stream)
    assert [e for e in stream.log if e.startswith("held")] == [f"held {n}" for n in (1, 2, 3, 4)]
    for n in (1, 2, 3, 4):
        assert stream.log.index(f"held {n}") < stream.log.index(f"acked {n}")
