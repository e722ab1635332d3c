"""Catch-up mode merges batches only while behind, and never past its bounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from streamapp.worker.catch_up import merge_while_behind


async def feed(*batches: list[int], pause: float = 0.0) -> AsyncIterator[list[int]]:
    for batch in batches:
        if pause:
            await asyncio.sleep(pause)
        yield batch


def merged(
    source: AsyncIterator[list[int]],
    behind: Callable[[int], bool],
    max_events: int = 100,
    within_s: float = 10.0,
) -> list[list[int]]:
    async def collect() -> list[list[int]]:
        return [b async for b in merge_while_behind(source, behind, max_events, within_s)]

    return asyncio.run(collect())


def test_batches_pass_through_while_the_worker_keeps_up():
    assert merged(feed([1, 2], [3], [4]), behind=lambda e: False) == [[1, 2], [3], [4]]


def test_batches_merge_while_behind_and_flush_when_caught_up():
    out = merged(feed([1], [2, 3], [4], [5], [], [6]), behind=lambda e: e in (1, 3, 5))
    assert out == [[1, 2, 3, 4], [5, 6]]


def test_a_merged_batch_stops_at_the_event_bound_and_an_unfinished_one_is_never_yielded():
    """Events still merging when the stream stops (shutdown, rebalance) are never handed on:
    held since they arrived (:mod:`streamapp.worker.arrivals`), they are consumed again."""
    out = merged(feed([1, 2], [3, 4], [5, 6], [7]), behind=lambda e: True, max_events=4)
    assert out == [[1, 2, 3, 4]]


def test_a_merged_batch_stops_at_the_time_bound():
    out = merged(feed([1], [2], [3], [4], pause=0.02), behind=lambda e: e != 4, within_s=0.03)
    assert [e for batch in out for e in batch] == [1, 2, 3, 4]
    assert len(out) >= 2 and all(len(batch) <= 3 for batch in out)


def test_merged_events_are_handed_on_at_the_deadline_when_nothing_more_arrives():
    """A rebalance can stop the records ``behind`` promised: the merged batch must not wait
    for them."""
    stalled = asyncio.Event()

    async def stalls() -> AsyncIterator[list[int]]:
        yield [1]
        yield [2]
        await stalled.wait()
        yield [3]
        await asyncio.Event().wait()  # nothing more, ever

    async def first_two() -> list[list[int]]:
        out = []
        async for batch in merge_while_behind(stalls(), lambda e: True, 100, 0.05):
            out.append(batch)
            stalled.set()
            if sum(len(b) for b in out) == 3:
                break
        return out

    assert asyncio.run(asyncio.wait_for(first_two(), 5)) == [[1, 2], [3]]
