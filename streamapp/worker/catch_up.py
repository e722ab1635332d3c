"""Catch-up mode: while a partition is behind, batches are merged before they are processed.

A batch (:mod:`.arrivals`) is what the stream holds when the agent is free, and nothing more
arrives into it while it is processed. A batch costs two Redis round trips, one
list per user in it and Faust's per-batch bookkeeping whatever its size, so small batches are
what keeps latency low when the worker keeps up, and what keeps it from catching up when it
does not: every user's list is recomputed once per batch, not once per event, and a burst of
one shopper's clicks folds into one list only when it lands in one batch.

So batches stay as they arrive while the worker keeps up, and when the log holds at least
``STREAMAPP_CATCH_UP_LAG`` more records of a partition than a batch brought, the next batches
are taken at once and merged, up to ``STREAMAPP_BATCH_MAX`` events or
``STREAMAPP_CATCH_UP_WITHIN_S`` (docs/performance.md has what it gained).

Every event is held from its arrival (:mod:`.arrivals`): the caller acknowledges a merged
batch once it is processed, so a merged batch is at-least-once like any other.

>>> import asyncio
>>> async def taken():
...     for batch in ([1, 2], [3], [4, 5], [6]):
...         yield batch
>>> async def merged():
...     behind = lambda event: event < 4
...     return [b async for b in merge_while_behind(taken(), behind, 10, 1.0)]
>>> asyncio.run(merged())
[[1, 2, 3, 4, 5], [6]]
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import TypeVar

E = TypeVar("E")

__all__ = ["merge_while_behind"]


async def merge_while_behind(
    taken: AsyncIterable[Sequence[E]],
    behind: Callable[[E], bool],
    max_events: int,
    within_s: float,
) -> AsyncIterator[list[E]]:
    """Batches from ``taken``, merged while the last event of each says its partition is
    ``behind``, up to ``max_events`` or ``within_s`` after the first of them arrived.

    The time bound holds even when nothing more arrives (a rebalance can stop the flow that
    ``behind`` promised): the merged events are handed on at the deadline while the next
    batch is still awaited.
    """
    source = aiter(taken)
    pending: list[E] = []
    started = 0.0
    waiting: asyncio.Future[Sequence[E]] | None = None
    try:
        while True:
            if pending:
                if waiting is None:
                    waiting = asyncio.ensure_future(anext(source))
                left = within_s - (time.monotonic() - started)
                done, _ = await asyncio.wait({waiting}, timeout=max(0.0, left))
                if not done:
                    out, pending = pending, []
                    yield out
                    continue
            try:
                batch = await (waiting if waiting is not None else anext(source))
            except StopAsyncIteration:
                return
            waiting = None
            if not batch:
                continue
            if not pending:
                started = time.monotonic()
            pending.extend(batch)
            if (
                len(pending) < max_events
                and time.monotonic() - started < within_s
                and behind(batch[-1])
            ):
                continue
            out, pending = pending, []
            yield out
    finally:
        if waiting is not None:
            waiting.cancel()
