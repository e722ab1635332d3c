"""A batch prepared ahead is used only by the batch it was prepared for, and nothing prepared
ahead is lost track of: a preparation for other records, a failed one and a dropped one end
before the batch prepares itself, without an unretrieved error."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streamapp.worker.ahead import Ahead, Turn, looking_ahead


class Preparations:
    """A prepare function that records its calls and ends when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[list[int]] = []
        self.ended: list[list[int]] = []
        self.release = asyncio.Event()

    async def __call__(self, records: list[int]) -> int:
        self.calls.append(records)
        await self.release.wait()
        self.ended.append(records)
        if self.fail:
            raise RuntimeError("the ingest script failed")
        return sum(records)


def run(body: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``body()`` on a fresh loop; also what the loop's exception handler was given."""
    errors: list[dict[str, Any]] = []

    async def main() -> Any:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        result = await body()
        gc.collect()
        await asyncio.sleep(0)
        return result

    return asyncio.run(main()), errors


def test_a_preparation_is_taken_by_its_own_records_once():
    async def body() -> tuple[int | None, int | None, list[list[int]]]:
        prepare = Preparations()
        ahead = Ahead(prepare)
        ahead.start([1, 2])
        prepare.release.set()
        return await ahead.take([1, 2]), await ahead.take([1, 2]), prepare.calls

    (first, second, calls), errors = run(body)
    assert (first, second, calls, errors) == (3, None, [[1, 2]], [])


def test_a_preparation_of_other_records_ends_before_it_is_dropped():
    """Records that differ (a replay took some of them) prepare afresh, and only after the
    stale preparation's script has ended: two ingests of one partition never overlap."""

    async def body() -> tuple[int | None, list[list[int]]]:
        prepare = Preparations()
        ahead = Ahead(prepare)
        ahead.start([1, 2])
        taking = asyncio.ensure_future(ahead.take([2]))
        await asyncio.sleep(0.01)
        assert not taking.done()
        prepare.release.set()
        return await taking, prepare.ended

    (taken, ended), errors = run(body)
    assert (taken, ended, errors) == (None, [[1, 2]], [])


def test_a_failed_preparation_is_not_taken_and_its_error_is_not_left_unretrieved():
    async def body() -> int | None:
        prepare = Preparations(fail=True)
        ahead = Ahead(prepare)
        ahead.start([1])
        prepare.release.set()
        await asyncio.sleep(0.01)
        return await ahead.take([1])

    taken, errors = run(body)
    assert (taken, errors) == (None, [])


def test_a_preparation_nobody_takes_fails_quietly_and_a_dropped_one_is_cancelled():
    async def body() -> tuple[bool, list[list[int]]]:
        failing = Preparations(fail=True)
        Ahead(failing).start([1])
        failing.release.set()
        prepare = Preparations()
        ahead = Ahead(prepare)
        ahead.start([2])
        await asyncio.sleep(0)
        task = ahead.task
        ahead.drop()
        await asyncio.sleep(0.01)
        return task is not None and task.cancelled(), prepare.ended

    (cancelled, ended), errors = run(body)
    assert (cancelled, ended, errors) == (True, [], [])


def test_a_second_start_while_one_is_under_way_changes_nothing():
    async def body() -> tuple[int | None, list[list[int]]]:
        prepare = Preparations()
        ahead = Ahead(prepare)
        ahead.start([1])
        ahead.start([5])
        prepare.release.set()
        return await ahead.take([1]), prepare.calls

    (taken, calls), errors = run(body)
    assert (taken, calls, errors) == (1, [[1]], [])


async def batches(*items: list[int], pause: float = 0.0) -> AsyncIterator[list[int]]:
    for item in items:
        await asyncio.sleep(pause)
        yield item


def test_each_batch_comes_with_the_next_asked_for_and_the_turn_sees_it_arrive():
    async def body() -> tuple[list[list[int]], list[list[int] | None]]:
        seen, arrived = [], []
        turn: Turn[list[int]] = Turn()
        async for batch, upcoming in looking_ahead(batches([1], [2, 3], [4], pause=0.01)):
            turn.size, turn.upcoming = len(batch), upcoming
            seen.append(batch)
            arrived.append(turn.arrived())
            await asyncio.sleep(0.05)
            arrived.append(turn.arrived())
        return seen, arrived

    (seen, arrived), errors = run(body)
    assert seen == [[1], [2, 3], [4]]
    # Not yet when the batch starts; there once it has arrived; nothing after the last.
    assert arrived == [None, [2, 3], None, [4], None, None]
    assert errors == []


@pytest.mark.parametrize("pause", [0.0, 0.05])
def test_leaving_a_loop_early_cancels_the_batch_asked_for(pause: float):
    async def body() -> bool:
        closed = asyncio.Event()

        async def source() -> AsyncIterator[list[int]]:
            try:
                yield [1]
                await asyncio.sleep(pause)
                yield [2]
                await asyncio.sleep(10)
                yield [3]
            finally:
                closed.set()

        stream = looking_ahead(source())
        async for batch, _ in stream:
            if batch == [2]:
                break
        await stream.aclose()
        return closed.is_set()

    closed, errors = run(body)
    assert (closed, errors) == (True, [])
