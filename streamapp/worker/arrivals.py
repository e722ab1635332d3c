"""Batches of what has arrived: an agent takes every event already delivered to its stream,
without a timer.

Faust's ``take_events`` wakes every ``within`` seconds to hand on what its buffer holds, also
when nothing came: two agents kept an idle worker's event loop busy with hundreds of wake-ups
a second, and an event that arrived just after a wake-up waited for the next one. The
consumer delivers a whole fetch to the stream in one go (:mod:`.fetch_batching`), so a batch
needs no window to gather a fetch's records: once the first event is there, the batch takes
every event the stream has queued behind it, up to ``max_events``, and is handed on at once.
Larger batches while a partition is behind are :mod:`.catch_up`'s.

Faust acknowledges an event when the next one is asked for. Every event therefore gets one
more reference (``hold``) before the next is taken; the caller acknowledges the batch once it
is processed, so an event is never acknowledged before its batch is done.

>>> import asyncio
>>> queued = [1, 2, 3, 4, 5]
>>> async def events():
...     while queued:
...         yield queued.pop(0)
>>> async def batches():
...     held = []
...     out = [b async for b in arrived(events(), lambda: len(queued) > 2, 10, held.append)]
...     return out, held
>>> asyncio.run(batches())
([[1, 2, 3], [4], [5]], [1, 2, 3, 4, 5])
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TypeVar

E = TypeVar("E")

__all__ = ["arrived"]


async def arrived(
    events: AsyncIterable[E],
    queued: Callable[[], bool],
    max_events: int,
    hold: Callable[[E], None],
) -> AsyncIterator[list[E]]:
    """Batches of ``events``: each waits for its first event, then takes the next while
    ``queued()`` says one is already there, up to ``max_events``; each event is held as it is
    taken."""
    source = aiter(events)
    while True:
        try:
            first = await anext(source)
        except StopAsyncIteration:
            return
        hold(first)
        batch = [first]
        while len(batch) < max_events and queued():
            try:
                event = await anext(source)
            except StopAsyncIteration:
                break
            hold(event)
            batch.append(event)
        yield batch
