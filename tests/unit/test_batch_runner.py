"""The batch runner's decisions, with processors that fail on cue (no services: the promise itself
is held by tests/faults/ against the real Kafka and Redis)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError

from streamapp.contracts.events import Record
from streamapp.http.health import Health
from streamapp.state.continuity import ContinuityFailed
from streamapp.state.types import StateGap, StateLost
from streamapp.worker.batch_runner import BatchRunner


def record(offset: int) -> Record:
    return Record("clicks", 0, offset, b"u", b"{}", 1_700_000_000_000 + offset)


class Outputs:
    """A sink that records what was confirmed; the broker refuses the outputs of ``too_large``."""

    def __init__(self, too_large: frozenset[int] = frozenset()) -> None:
        self.sent: list[int] = []
        self.in_flight: list[int] = []
        self.too_large = too_large

    async def send(self, topic, key, value, headers=None) -> None:
        self.in_flight.append(int(value))

    async def flush(self) -> None:
        if self.too_large.intersection(self.in_flight):
            self.in_flight.clear()
            raise MessageSizeTooLargeError()
        self.sent += self.in_flight
        self.in_flight.clear()

    def abandon(self) -> None:
        self.in_flight.clear()


class Processor:
    """Applies records by sending their offsets; fails as told."""

    def __init__(self, sink: Outputs, failures: list[BaseException], poison: set[int]) -> None:
        self.sink = sink
        self.failures = failures
        self.poison = poison
        self.attempts = 0

    async def process(self, records: list[Record]) -> None:
        self.attempts += 1
        for r in records:
            await self.sink.send("out", None, str(r.offset).encode())
        if self.failures:
            raise self.failures.pop(0)
        bad = [r.offset for r in records if r.offset in self.poison]
        if bad:
            raise ResponseError(f"ERR user_script:1: cannot apply offset {bad[0]}")
        await self.sink.flush()


def runner(processor: Processor, sink: Outputs, rejected: list[tuple[int, str]]) -> BatchRunner:
    async def reject(r: Record, exc: BaseException) -> None:
        rejected.append((r.offset, type(exc).__name__))
        await sink.flush()

    async def no_wait(_: float) -> None:
        return None

    return BatchRunner("interactions", processor.process, sink, reject, Health(), sleep=no_wait)


@pytest.mark.parametrize(
    "transient",
    [
        RedisConnectionError("Connection refused"),
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
        ResponseError("BUSY Redis is busy running a script."),
        KafkaConnectionError("broker down"),
        TimeoutError(),
        StateLost("the state in Redis is not the one this worker works in"),
        StateGap({"clicks:0": 41}),
        ContinuityFailed("the state could not be checked or completed: a bug"),
    ],
    ids=[
        "redis-down",
        "redis-oom",
        "redis-busy",
        "kafka-down",
        "timeout",
        "state-lost",
        "state-gap",
        "continuity-failed",
    ],
)
async def test_transient_failure_is_retried_until_the_whole_batch_applies(transient):
    sink = Outputs()
    processor = Processor(sink, [transient] * 30, set())
    rejected: list[tuple[int, str]] = []
    await runner(processor, sink, rejected).run([record(n) for n in range(4)])
    assert processor.attempts == 31
    assert sink.sent == [0, 1, 2, 3]
    assert rejected == []


async def test_deterministic_failure_rejects_only_the_events_that_cause_it():
    sink = Outputs()
    processor = Processor(sink, [], {5, 6})
    rejected: list[tuple[int, str]] = []
    await runner(processor, sink, rejected).run([record(n) for n in range(10)])
    assert rejected == [(5, "ResponseError"), (6, "ResponseError")]
    assert sorted(sink.sent) == [0, 1, 2, 3, 4, 7, 8, 9]
    assert sink.sent == sorted(sink.sent), "halves are applied in order"


async def test_output_refused_for_good_rejects_its_input_and_keeps_the_rest():
    sink = Outputs(too_large=frozenset({1}))
    processor = Processor(sink, [], set())
    rejected: list[tuple[int, str]] = []
    await runner(processor, sink, rejected).run([record(n) for n in range(3)])
    assert rejected == [(1, "MessageSizeTooLargeError")]
    assert sink.sent == [0, 2]


async def test_stalled_agent_is_reported_until_its_batch_succeeds():
    health = Health()
    gate = asyncio.Event()
    calls = 0

    async def process(records: list[Record]) -> None:
        nonlocal calls
        calls += 1
        if not gate.is_set():
            raise RedisConnectionError("down")

    async def reject(r: Record, exc: BaseException) -> None:
        raise AssertionError("nothing is rejected for a transient failure")

    async def short(_: float) -> None:
        await asyncio.sleep(0.001)

    batches = BatchRunner("interactions", process, Outputs(), reject, health, sleep=short)
    task = asyncio.create_task(batches.run([record(0)]))
    while calls < 3:
        await asyncio.sleep(0.001)
    assert health.problem() is not None and "interactions stalled" in health.problem()
    gate.set()
    await task
    assert health.problem() is None


async def test_cancellation_passes_through_a_stalled_batch():
    async def process(records: list[Record]) -> None:
        raise RedisConnectionError("down")

    async def reject(r: Record, exc: BaseException) -> None:
        raise AssertionError("a cancelled batch is not rejected")

    batches = BatchRunner("interactions", process, Outputs(), reject, Health())
    task = asyncio.create_task(batches.run([record(0)]))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_runner_gives_up_at_once_on_what_it_is_told_to():
    """A replay stops when the state it rebuilds is lost; the batch that runs it starts over."""
    sink = Outputs()
    processor = Processor(sink, [StateLost("gone")], set())
    replay = BatchRunner(
        "interactions-replay",
        processor.process,
        sink,
        lambda r, exc: pytest.fail("nothing is rejected"),
        Health(),
        gives_up_on=(StateLost,),
    )
    with pytest.raises(StateLost):
        await replay.run([record(n) for n in range(4)])
    assert processor.attempts == 1
    assert sink.sent == []
