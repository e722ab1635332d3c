"""The worker's and the learner's fetch batching reach the fetcher aiokafka builds at start,
and their consumers deliver each fetch in one task.

The setting is applied through a seam of Faust and aiokafka (see
``streamapp.worker.fetch_batching``); this fails if an upgrade of either moves it.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.consumer import Fetcher
from faust.types import TP, Message

from streamapp.settings import get_settings
from streamapp.worker.app import create_app, create_learner_app

pytestmark = pytest.mark.integration


async def test_worker_and_learner_fetch_with_their_own_batching(stack):
    settings = get_settings().model_copy(
        update={
            "learner_fetch_min_bytes": 123_456,
            "learner_fetch_max_wait_ms": 321,
            "fetch_min_bytes": 4_321,
            "fetch_max_wait_ms": 3,
        }
    )
    loop = asyncio.get_running_loop()
    learner = create_learner_app(settings).consumer._thread._create_consumer(loop=loop)
    worker = create_app(settings).consumer._thread._create_consumer(loop=loop)
    for consumer in (learner, worker):
        await consumer.start()
    try:
        assert learner._fetcher._fetch_min_bytes == 123_456
        assert learner._fetcher._fetch_max_wait_ms == 321
        assert worker._fetcher._fetch_min_bytes == 4_321
        assert worker._fetcher._fetch_max_wait_ms == 3
    finally:
        for consumer in (learner, worker):
            await consumer.stop()


def test_faust_drains_through_the_transport_that_delivers_a_fetch_at_once():
    """The override takes effect only while Faust's fetcher calls ``_drain_messages``."""
    assert "consumer._drain_messages(self)" in inspect.getsource(Fetcher._fetcher.fun)
    consumer = create_app(get_settings()).consumer
    assert type(consumer)._drain_messages is not FaustConsumer._drain_messages
    assert hasattr(consumer, "_deliver")


async def test_a_fetch_is_delivered_in_order_past_what_was_read():
    """Records at or past each partition's read offset are delivered in order and move it;
    one before it (fetched ahead of a seek back) is skipped, as Faust's own loop skips it."""
    consumer = create_app(get_settings()).consumer
    delivered: list[tuple[str, int, int]] = []

    async def callback(message: Message) -> None:
        delivered.append((message.topic, message.partition, message.offset))

    consumer.callback = callback
    first, second = TP("clicks", 0), TP("clicks", 1)
    consumer._read_offset[second] = 7
    fetched = [
        (tp, Message(tp.topic, tp.partition, offset, 0.0, 0, None, None, b"{}", None, tp=tp))
        for tp, offset in ((first, 0), (second, 5), (first, 1), (second, 7), (second, 8))
    ]
    await consumer._deliver(fetched)
    assert delivered == [("clicks", 0, 0), ("clicks", 0, 1), ("clicks", 1, 7), ("clicks", 1, 8)]
    assert consumer._read_offset[first] == 1
    assert consumer._read_offset[second] == 8
