"""The next batch is applied to the state while this one's lists are ranked and committed.

A batch has two halves (:meth:`~.interactions.InteractionProcessor.prepare` and
:meth:`~.interactions.InteractionProcessor.complete`): the first is mostly Redis' work (the
ingest script), the second mostly the worker's (candidates, ranking) and then Redis' again (the
commit script). Taken strictly in turn, one process idles while the other works, and at 1,000
events/s on two cores the sum of the two is what bounds the rate (docs/performance.md). So once
a batch has been applied as a whole, the next one, if it has arrived, is prepared at once: its
ingest runs in Redis while this batch is ranked.

What makes that safe:

- The next batch is prepared only after the whole of this one was applied (not a half the
  batch runner split off): the partition watermarks then stand where the next batch starts.
- Preparing sends nothing; the prepared batch's lists are made and sent in its own turn, after
  this batch's, so outputs and acknowledgements keep their order.
- A batch that asks for stored rankings (refresh requests, after a stock-out) is not prepared
  ahead: it reads lists this batch may still commit.
- Applying is idempotent (the watermark and the dedupe window): if anything goes wrong — the
  preparation fails, this batch is retried, the next batch arrives other than it was prepared
  (a replay took some of it) — the preparation is dropped once it has ended and the batch is
  prepared again in its turn, finding its events already applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
P = TypeVar("P")

__all__ = ["Ahead", "Turn", "looking_ahead"]


class Ahead(Generic[T, P]):
    """At most one batch prepared ahead: its records and the task preparing them.

    >>> async def demo():
    ...     async def prepare(records):
    ...         return sum(records)
    ...     ahead = Ahead(prepare)
    ...     ahead.start([1, 2])
    ...     return await ahead.take([1, 2]), await ahead.take([1, 2])
    >>> asyncio.run(demo())
    (3, None)
    """

    def __init__(self, prepare: Callable[[list[T]], Awaitable[P]]) -> None:
        self.prepare = prepare
        self.records: list[T] | None = None
        self.task: asyncio.Future[P] | None = None

    def start(self, records: list[T]) -> None:
        """Prepare ``records`` in the background, unless a preparation is under way."""
        if self.task is not None:
            return
        self.records = records
        self.task = asyncio.ensure_future(self.prepare(records))
        self.task.add_done_callback(_retrieve)

    async def take(self, records: list[T]) -> P | None:
        """The preparation of exactly ``records`` if one succeeded; otherwise None, once any
        preparation under way has ended (the caller prepares them itself)."""
        task, prepared_for = self.task, self.records
        self.task = self.records = None
        if task is None:
            return None
        try:
            prepared = await task
        except Exception:
            return None
        return prepared if prepared_for == records else None

    def drop(self) -> None:
        """Cancel a preparation nobody will take (the agent stops)."""
        if self.task is not None:
            self.task.cancel()
        self.task = self.records = None


@dataclass
class Turn(Generic[T]):
    """The size of the batch an agent runs now, and the future of the one after it."""

    size: int = 0
    upcoming: asyncio.Future[T] | None = None

    def arrived(self) -> T | None:
        """The next batch if it has arrived (without waiting for it)."""
        upcoming = self.upcoming
        if upcoming is None or not upcoming.done() or upcoming.cancelled():
            return None
        if upcoming.exception() is not None:
            return None
        return upcoming.result()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """A failed preparation is the batch's to meet again in its turn: not an unretrieved error."""
    if not task.cancelled():
        task.exception()


async def looking_ahead(source: AsyncIterable[T]) -> AsyncIterator[tuple[T, asyncio.Future[T]]]:
    """Each item of ``source`` with the next one asked for already: whoever handles an item
    sees from the future whether the next has arrived (done) without waiting for it."""
    items = aiter(source)
    upcoming: asyncio.Future[T] = asyncio.ensure_future(anext(items))
    try:
        while True:
            try:
                item = await upcoming
            except StopAsyncIteration:
                return
            upcoming = asyncio.ensure_future(anext(items))
            yield item, upcoming
    finally:
        upcoming.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await upcoming
