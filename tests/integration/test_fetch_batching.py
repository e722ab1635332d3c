"""The worker's and the learner's fetch batching reach the fetcher aiokafka builds at start.

The setting is applied through a seam of Faust and aiokafka (see
``streamapp.worker.fetch_batching``); this fails if an upgrade of either moves it.
"""

from __future__ import annotations

import asyncio

import pytest

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
